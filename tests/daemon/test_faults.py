"""Faults only a real process shows: a signal storm, a second daemon, a hung identity."""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from pathlib import Path

from ecrd.emulator.server import Emulator
from tests.aws import hung_credential_process, write_aws_config
from tests.daemon.conftest import (
    EU_HOST,
    SLOW,
    WAIT,
    WEST_HOST,
    config_yaml,
    holding,
)
from tests.process import ecrd

# A credential_process that never ends, with an argument no other process has: the test
# process's pid, since a suite running beside this one (another checkout, another xdist
# worker) has hung credential processes of its own.
HUNG_COMMAND = ["sleep", f"3599.{os.getpid()}"]


def _processes(argv: list[str]) -> list[int]:
    """The pids whose command line is ``argv``."""
    wanted = ("\0".join(argv) + "\0").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == wanted:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class TestSignals:
    def test_a_storm_of_sighups_then_sigterm_stops_at_once_with_reloads_coalesced(
        self, start_written, slow_emulator
    ):
        """3,000 SIGHUPs then SIGTERM: exit 0 within 2 s, no traceback, far fewer reloads."""
        daemon = start_written(slow_emulator, WEST_HOST, refresh=SLOW)

        for _ in range(3000):
            os.kill(daemon.proc.pid, signal.SIGHUP)
        code = daemon.stop(signal.SIGTERM)

        assert 0 == code
        assert [] == daemon.stray
        assert len(daemon.find("config_unchanged")) < 100
        assert 1 == len(daemon.find("daemon_stopping"))


class TestOneDaemonPerConfiguration:
    def test_a_second_daemon_on_the_same_configuration_exits_1_at_once(
        self, start_written, slow_emulator, config_path
    ):
        """The second `ecrd run` says `already running (pid N)`, exits 1, calls nothing."""
        first = start_written(slow_emulator, WEST_HOST, refresh=SLOW)

        second = ecrd("run", "-c", str(config_path), "--log-format", "json", timeout=WAIT)

        assert 1 == second.returncode
        assert f"Error: already running (pid {first.proc.pid})" in second.stderr
        assert "daemon_started" not in second.stderr
        assert 1 == len(slow_emulator.calls(api="ecr"))
        assert 0 == first.stop()


class TestHungIdentity:
    def test_a_hung_credential_process_never_delays_another_group_nor_the_stop(
        self, isolated_env, start_daemon, config_path, outputs
    ):
        """`credential_process = sleep` in one group; 5 s tokens in another.

        The healthy group keeps refreshing every second while the hung one gives up after its
        attempt_timeout; the stop is within 2 s and leaves no credential process behind.
        """
        write_aws_config(isolated_env, hung_credential_process(command=" ".join(HUNG_COMMAND)))
        refresh = {
            "before_expiry": "4s",
            "jitter": "0",
            "min_interval": "1s",
            "retry_initial": "1s",
            "retry_max": "1s",
            "attempt_timeout": "1s",
        }
        with Emulator(token_lifetime=timedelta(seconds=5)) as emulator:
            text = config_yaml(
                endpoint=emulator.url, registries=[EU_HOST], outputs=outputs, refresh=refresh
            )
            text += "  - {registry_id: '111111111111', region: us-west-2, profile: hung}\n"
            config_path.write_text(text)
            daemon = start_daemon(config_path)
            # The hung group's failure: on a loaded machine the healthy group's first attempt,
            # which builds its botocore client, may give up after 1 s too.
            gave_up = daemon.wait_for(
                "refresh_failed",
                where=lambda e: e["group"].startswith("ecr:us-west-2 profile=hung"),
            )
            # Three refreshes of the healthy group after the hung one gave up: on time.
            third = daemon.wait_for(
                "token_refreshed",
                since=daemon.index(gave_up),
                count=3,
                where=holding(EU_HOST),
            )
            calls = emulator.calls(api="ecr")
            code = daemon.stop()

        assert 0 == code
        assert (
            "gave up after 1 s: getting AWS credentials from profile 'hung' took too long"
            in gave_up["error"]
        )
        assert third["group"].startswith("ecr:eu-west-1")
        assert all(c.region == "eu-west-1" for c in calls)
        assert [] == _processes(HUNG_COMMAND), "a credential process outlived the daemon"
        assert not any(WEST_HOST in e.get("hosts", []) for e in daemon.find("token_refreshed"))


class TestReloadBurst:
    def test_a_burst_of_saves_gives_one_reload(
        self, start_daemon, slow_emulator, config_path, outputs
    ):
        """Twenty atomic saves of a new configuration in a row: exactly one config_reloaded."""
        old = config_yaml(
            endpoint=slow_emulator.url, registries=[WEST_HOST], outputs=outputs, refresh=SLOW
        )
        new = config_yaml(
            endpoint=slow_emulator.url,
            registries=[WEST_HOST, EU_HOST],
            outputs=outputs,
            refresh=SLOW,
        )
        config_path.write_text(old)
        daemon = start_daemon(config_path)
        daemon.wait_for("output_written", path=str(outputs.netrc))
        mark = daemon.mark()
        for i in range(20):
            staged = config_path.with_name(f".config.yaml.{i}")
            staged.write_text(new)
            staged.replace(config_path)
        daemon.wait_for("config_reloaded", since=mark)
        # A SIGHUP answered "unchanged" shows every event of the burst has been dealt with.
        later = daemon.mark()
        daemon.send(signal.SIGHUP)
        daemon.wait_for("config_unchanged", since=later)

        assert 1 == len(daemon.find("config_reloaded", since=mark))
        assert [] == daemon.find("config_rejected", since=mark)
        assert 0 == daemon.stop()
