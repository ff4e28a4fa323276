"""`ecrd run` schedules refreshes ahead of expiry, backs off on failure, and never loops.

Each test runs the real daemon against the emulator with tokens living seconds and reads
the schedule from what the emulator recorded and what the daemon logged.
"""

from __future__ import annotations

import base64
import math
import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ecrd.emulator.server import Emulator, Fault
from tests.daemon.conftest import (
    EU_HOST,
    FAST,
    LONG_LIFETIME,
    SHORT_LIFETIME,
    SLOW,
    WEST,
    WEST_HOST,
    holding,
    parse_time,
    wait_for_fault,
)

BEFORE_EXPIRY = timedelta(seconds=1.5)
RETRY_INITIAL = 0.5
FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def docker_auth(password: str) -> str:
    return base64.b64encode(f"AWS:{password}".encode()).decode()


class TestRefreshAheadOfExpiry:
    def test_each_refresh_comes_before_expiry_less_before_expiry(
        self, write_config, start_daemon, config_path, outputs
    ):
        """A 3 s token is fetched again 1.5 s before it expires, and written."""
        with Emulator(token_lifetime=timedelta(seconds=3)) as emulator:
            write_config(emulator, WEST_HOST, refresh={**FAST, "before_expiry": "1.5"})
            daemon = start_daemon(config_path)
            refreshed = [
                daemon.wait_for("token_refreshed", hosts=[WEST_HOST], count=n) for n in (1, 2)
            ]
            scheduled = [
                daemon.wait_for("refresh_scheduled", since=daemon.index(e) + 1) for e in refreshed
            ]
            written = daemon.wait_for("output_written", path=str(outputs.docker), count=2)
            first_call, second_call = emulator.calls(api="ecr")[:2]
        first_expiry, second_expiry = (parse_time(e["expires_at"]) for e in refreshed)

        assert [first_expiry - BEFORE_EXPIRY, second_expiry - BEFORE_EXPIRY] == [
            parse_time(s["at"]) for s in scheduled
        ]
        # The second call came at the time scheduled, before the first token expired.
        assert first_expiry - BEFORE_EXPIRY <= second_call.at < first_expiry
        assert first_call.at < second_call.at
        assert [(WEST,), (WEST,)] == [first_call.registry_ids, second_call.registry_ids]
        assert [WEST_HOST] == written["hosts"]
        assert [False, False] == [s["restored"] for s in scheduled]

    def test_a_token_already_expired_is_a_failed_attempt_retried_with_backoff(
        self, write_config, start_daemon, fast_emulator, config_path, outputs
    ):
        """A token already expired when issued: refresh_failed, nothing written, retried later."""
        fast_emulator.inject(Fault(kind="past_expiry", count=None))
        write_config(fast_emulator, WEST_HOST, refresh=FAST)
        daemon = start_daemon(config_path)

        failed = [daemon.wait_for("refresh_failed", count=n) for n in (1, 2)]
        calls = fast_emulator.calls(api="ecr")[:2]

        assert ["TokenAlreadyExpired"] * 2 == [f["code"] for f in failed]
        assert "expired already" in failed[0]["error"]
        assert [] == daemon.find("token_refreshed")
        assert not outputs.docker.exists()
        # The retry comes on the backoff schedule, not in a tight loop.
        assert calls[1].at - calls[0].at >= timedelta(seconds=0.8 * RETRY_INITIAL)


class TestBackoffAndRecovery:
    def test_failures_back_off_keep_the_written_files_and_recover(
        self, start_written, fast_emulator, outputs
    ):
        """Retries come after 0.5 s, then 1 s (capped); files stay as they were; then recovery."""
        daemon = start_written(fast_emulator, WEST_HOST, refresh=FAST, written=outputs.docker)
        fast_emulator.inject(Fault(kind="access_denied", count=None))

        first = daemon.wait_for("refresh_failed")
        docker_before, netrc_before = outputs.docker.read_bytes(), outputs.netrc.read_bytes()
        inode_before = outputs.docker.stat().st_ino
        failures = [first] + [daemon.wait_for("refresh_failed", count=n) for n in (2, 3)]
        retries = [
            daemon.wait_for("refresh_scheduled", since=daemon.index(f) + 1) for f in failures
        ]
        delays = [
            (parse_time(r["at"]) - parse_time(r["timestamp"])).total_seconds() for r in retries
        ]
        docker_failing, netrc_failing = outputs.docker.read_bytes(), outputs.netrc.read_bytes()
        inode_failing = outputs.docker.stat().st_ino
        mark = daemon.mark()
        fast_emulator.clear_faults()
        recovered = daemon.wait_for("token_refreshed", since=mark)
        written = daemon.wait_for("output_written", since=mark, path=str(outputs.docker))

        # retry_initial 0.5 s, doubled to retry_max 1 s, then capped; each shortened <= 20 %.
        assert [1, 2, 2] == [math.ceil(d / RETRY_INITIAL) for d in delays]
        assert [True] * 3 == [d >= 0.8 * RETRY_INITIAL - 0.1 for d in delays]
        assert ["AccessDeniedException"] * 3 == [f["code"] for f in failures]
        assert [[WEST_HOST]] * 3 == [f["hosts"] for f in failures]
        assert docker_before == docker_failing
        assert netrc_before == netrc_failing
        assert inode_before == inode_failing
        assert [WEST_HOST] == recovered["hosts"]
        assert [WEST_HOST] == written["hosts"]
        assert docker_before != outputs.docker.read_bytes()

    def test_a_retry_due_at_once_is_not_lost(
        self, write_config, start_daemon, slow_emulator, config_path
    ):
        """retry_initial 0: each retry is due as its failed job ends, and still runs."""
        slow_emulator.inject(Fault(kind="access_denied", count=2))
        write_config(
            slow_emulator, WEST_HOST, refresh={**SLOW, "retry_initial": "0", "retry_max": "0"}
        )
        daemon = start_daemon(config_path)

        daemon.wait_for("token_refreshed")

        assert 2 == len(daemon.find("refresh_failed"))
        assert ["access_denied", "access_denied", None] == [
            c.fault for c in slow_emulator.calls(api="ecr")
        ]
        assert [] == daemon.stray

    def test_an_endpoint_stopped_then_started_again_is_used_again(self, start_written, outputs):
        """While the endpoint is down refreshes fail and files stay; once it is back, refreshed."""
        first = Emulator(token_lifetime=SHORT_LIFETIME)
        first.start()
        second = Emulator(port=first.port, token_lifetime=SHORT_LIFETIME)
        try:
            daemon = start_written(first, WEST_HOST, refresh=FAST, written=outputs.docker)
            first.stop()
            mark = daemon.mark()
            failed = daemon.wait_for("refresh_failed", since=mark)
            docker_down = outputs.docker.read_bytes()
            daemon.wait_for("refresh_scheduled", since=daemon.index(failed) + 1)
            docker_still_down = outputs.docker.read_bytes()
            second.start()
            back = daemon.mark()
            daemon.wait_for("token_refreshed", since=back)
            daemon.wait_for("output_written", since=back, path=str(outputs.docker))
            calls_after_restart = len(second.calls(api="ecr"))
        finally:
            first.stop()
            second.stop()

        assert [WEST_HOST] == failed["hosts"]
        assert docker_down == docker_still_down
        assert 1 <= calls_after_restart
        assert docker_down != outputs.docker.read_bytes()


class TestGroupsAreIndependent:
    def test_a_region_hanging_from_the_start_does_not_delay_another(
        self, write_config, start_daemon, fast_emulator, config_path, outputs
    ):
        """eu-west-1 hangs in the first round; us-west-2 is still refreshed, again and again."""
        fast_emulator.inject(Fault(kind="hang", count=None, region="eu-west-1"))
        write_config(fast_emulator, WEST_HOST, EU_HOST, refresh=FAST)
        daemon = start_daemon(config_path)

        daemon.wait_for("token_refreshed", hosts=[WEST_HOST], count=2)
        written_while_hanging = sorted(outputs.auths())
        eu_refreshed_while_hanging = daemon.find("token_refreshed", hosts=[EU_HOST])
        mark = daemon.mark()
        fast_emulator.clear_faults()
        daemon.wait_for(
            "output_written", since=mark, path=str(outputs.docker), where=holding(EU_HOST)
        )

        assert [WEST_HOST] == written_while_hanging
        assert [] == eu_refreshed_while_hanging
        assert [WEST_HOST, EU_HOST] == sorted(outputs.auths())

    def test_a_region_that_starts_hanging_later_does_not_delay_another(
        self, write_config, start_daemon, fast_emulator, config_path
    ):
        """After both groups are written, eu-west-1 hangs; us-west-2 keeps being refreshed."""
        write_config(fast_emulator, WEST_HOST, EU_HOST, refresh=FAST)
        daemon = start_daemon(config_path)
        daemon.wait_for("token_refreshed", hosts=[EU_HOST])
        fast_emulator.inject(Fault(kind="hang", count=None, region="eu-west-1"))
        hanging = wait_for_fault(fast_emulator, "hang")
        mark = daemon.mark()

        daemon.wait_for("token_refreshed", since=mark, hosts=[WEST_HOST], count=2)
        eu_refreshed_while_hanging = daemon.find("token_refreshed", since=mark, hosts=[EU_HOST])

        assert "eu-west-1" == hanging.region
        assert [] == eu_refreshed_while_hanging


class TestOverdueRefresh:
    @pytest.mark.skipif(
        not FAKETIME.exists(),
        reason=f"libfaketime is missing ({FAKETIME}): apt-get install -y faketime",
    )
    def test_a_wall_clock_jump_runs_the_overdue_refresh_at_once_and_once(
        self, tmp_path, write_config, start_daemon, config_path
    ):
        """The clock jumps a day (a laptop waking up): the overdue refresh runs now, once.

        libfaketime moves the daemon's wall clock while its monotonic clock, on which its
        timers sleep, stands still; the emulator's clock jumps with it, as AWS's would.
        """
        offset = [timedelta(0)]

        def clock() -> datetime:
            return datetime.now(timezone.utc) + offset[0]

        faked = tmp_path / "faketime"
        faked.write_text("+0\n")
        env = {
            "LD_PRELOAD": str(FAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(faked),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }
        with Emulator(token_lifetime=LONG_LIFETIME, clock=clock) as emulator:
            write_config(emulator, WEST_HOST, refresh=SLOW)
            daemon = start_daemon(config_path, launcher=["0.2"], env=env)
            first = daemon.wait_for("token_refreshed")
            regular = daemon.wait_for("refresh_scheduled", since=daemon.index(first) + 1)
            mark = daemon.mark()
            offset[0] = timedelta(days=1)
            faked.write_text("+1d\n")
            jumped = daemon.wait_for("clock_jumped", since=mark)
            overdue = daemon.wait_for("token_refreshed", since=mark)
            next_one = daemon.wait_for("refresh_scheduled", since=daemon.index(overdue) + 1)
            # A reload of an unchanged file proves the daemon went on running; no more calls.
            later = daemon.mark()
            daemon.send(signal.SIGHUP)
            daemon.wait_for("config_unchanged", since=later)
            calls = emulator.calls(api="ecr")

        assert [] == daemon.stray
        assert 2 == len(calls)
        assert 1 == len(daemon.find("token_refreshed", since=mark))
        assert 86000 < jumped["seconds"]
        # The regular refresh was due half an hour after the first, in the daemon's time; the
        # overdue one came within the seconds a wait_for allows, a day later in its time.
        assert parse_time(first["expires_at"]) - timedelta(minutes=30) == parse_time(regular["at"])
        assert timedelta(days=1) < calls[1].at - calls[0].at
        assert parse_time(regular["at"]) < calls[1].at
        # And the next one is half an hour before the new token expires, not at once again.
        assert parse_time(overdue["expires_at"]) - timedelta(minutes=30) == parse_time(
            next_one["at"]
        )
