"""Bounded for months: one deadline per attempt, retries on ecrd's schedule, reloads release."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecrd.ecr.sessions import Identity
from ecrd.ecr.source import EcrTokenSource
from tests.aws import SilentEndpoint, static_profiles, write_aws_config
from tests.daemon.conftest import WEST_HOST, parse_time
from tests.daemon.harness import Harness

if TYPE_CHECKING:
    from pathlib import Path

    from ecrd.emulator.server import Emulator

ATTEMPT_TIMEOUT = 2.0
RETRY_INITIAL = 1.0
# Room for a loaded machine between the failure and the retry's connection.
TOLERANCE = 1.5


class TestHungEndpoint:
    def test_the_retry_after_a_timed_out_attempt_goes_out_on_the_retry_schedule(
        self, write_config, start_daemon, config_path
    ):
        """attempt_timeout 2s, an endpoint that never answers: the 2nd call comes retry_initial after the 1st failure.

        Counted at the endpoint: the abandoned attempt does not hold the retry back until a
        socket's own timeout, and each attempt makes one call.
        """
        endpoint = SilentEndpoint()
        refresh = {
            "before_expiry": "1",
            "jitter": "0",
            "min_interval": "1s",
            "retry_initial": f"{RETRY_INITIAL:g}s",
            "retry_max": f"{RETRY_INITIAL:g}s",
            "attempt_timeout": f"{ATTEMPT_TIMEOUT:g}s",
        }
        write_config(endpoint, WEST_HOST, refresh=refresh)
        with endpoint:
            daemon = start_daemon(config_path)
            failed = daemon.wait_for("refresh_failed")
            arrivals = endpoint.wait_for(3, timeout=4 * (ATTEMPT_TIMEOUT + RETRY_INITIAL))

        assert "Timeout" == failed["code"]
        assert f"gave up after {ATTEMPT_TIMEOUT:g} s" in failed["error"]
        failed_at = parse_time(failed["timestamp"]).timestamp()
        retry_after = arrivals[1] - failed_at

        assert 3 == len(arrivals)
        assert arrivals[0] < failed_at
        # One call per attempt; the retry after retry_initial (shortened by up to 20 %).
        assert 0.8 * RETRY_INITIAL - 0.1 <= retry_after <= RETRY_INITIAL + TOLERANCE


def _config(tmp_path: Path, endpoint: str, *profiles: str) -> str:
    registries = "".join(
        f"  - {{registry_id: '{n:012d}', region: us-west-2, profile: {p}}}\n"
        for n, p in enumerate(profiles, start=1)
    )
    docker = tmp_path / "docker" / "config.json"
    return (
        "refresh: {attempt_timeout: 5s}\n"
        f"aws: {{endpoint_url: '{endpoint}'}}\n"
        f"outputs: [{{type: docker, path: {docker}}}]\nregistries:\n{registries}"
    )


class TestReloadReleases:
    def test_a_reload_that_removes_an_identity_drops_its_session(
        self, tmp_path, isolated_env, emulator: Emulator
    ):
        """Two profiles fetched, one removed by a reload: the source holds one session after."""
        write_aws_config(isolated_env, static_profiles("one", "two"))
        h = Harness(tmp_path)
        source = EcrTokenSource()
        h.source = source  # type: ignore[assignment]
        h.path.write_text(_config(tmp_path, emulator.url, "one", "two"))
        daemon = h.start()
        try:
            for group in daemon.rounds.config.groups():
                h.run(group.name)
            before = source.identities()
            h.path.write_text(_config(tmp_path, emulator.url, "one"))
            daemon.reload()
            after = source.identities()
        finally:
            h.stop()

        assert 2 == len(emulator.calls(api="ecr"))
        assert {Identity("one", None), Identity("two", None)} == before
        assert {Identity("one", None)} == after
