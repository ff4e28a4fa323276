"""The daemon built in-process: a fake clock, a fake token source, its jobs run by hand.

The scheduler is started paused, so nothing runs on its own: a test runs a group's job with
``jobs.run_now(key)`` and reads when the daemon scheduled the next one. No sleeps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from ecrd.config import load_config
from ecrd.daemon.groups import RETRY_SPREAD
from ecrd.daemon.lifecycle import Daemon
from ecrd.errors import NEEDS_LOGIN, TokenError
from tests.daemon.harness import (
    DRAW,
    EAST,
    EAST_HOST,
    EU,
    EU_HOST,
    POLICY,
    WEST,
    WEST_HOST,
    Harness,
    config_text,
)
from tests.fakes import sequence


class TestFirstRound:
    def test_each_group_is_due_at_once_then_scheduled_ahead_of_expiry(self, tmp_path, harness):
        """No state: both groups due now; after one call each, next refresh 6 h less jitter.

        READY=1 comes once both have ended; the next refresh is in the state for status.
        """
        harness.path.write_text(config_text(tmp_path, WEST_HOST, EU_HOST))
        harness.start()
        due = {name: harness.next_at(name) for name in (WEST, EU)}
        harness.run(WEST)
        ready_after_one = harness.notifier.lines("READY=1")
        harness.run(EU)

        expected = harness.clock.now + timedelta(hours=6) - timedelta(minutes=5) * DRAW
        state = harness.store.read()
        assert {WEST: harness.clock.now, EU: harness.clock.now} == due
        assert [WEST, EU] == harness.source.calls
        assert expected == harness.next_at(WEST) == harness.next_at(EU)
        assert [] == ready_after_one
        assert 1 == len(harness.notifier.lines("READY=1"))
        assert state is not None
        assert expected == state.hosts[WEST_HOST].next_refresh_at
        assert [True] == harness.metrics.named("config")
        assert 2 == len(harness.metrics.named("round"))

    def test_a_restart_with_fresh_state_makes_no_call_and_keeps_the_schedule(
        self, tmp_path, harness
    ):
        """A second daemon on the same state: no call; the same next time; READY at once."""
        harness.path.write_text(config_text(tmp_path, WEST_HOST))
        harness.start()
        harness.run(WEST)
        scheduled = harness.next_at(WEST)
        harness.stop()
        harness.clock.advance(timedelta(hours=1))
        harness.notifier.messages.clear()

        harness.start()

        assert [WEST] == harness.source.calls
        assert scheduled == harness.next_at(WEST)
        assert 1 == len(harness.notifier.lines("READY=1"))

    def test_a_restart_onto_a_tokens_file_that_lacks_a_host_refreshes_its_group_at_once(
        self, tmp_path, harness
    ):
        """A fresh group whose host is missing from tokens.json is due at start, not in 6 h.

        An older ecrd wrote tokens.json only for some hosts: one call at start for that
        group (the other stays restored), and docker-credential-ecrd answers the host after.
        """
        harness.path.write_text(config_text(tmp_path, WEST_HOST, EU_HOST))
        harness.start()
        harness.run(WEST)
        harness.run(EU)
        scheduled = harness.next_at(EU)
        harness.stop()
        tokens = harness.store.tokens.path
        document = json.loads(tokens.read_text())
        del document["hosts"][WEST_HOST]
        tokens.write_text(json.dumps(document))
        harness.clock.advance(timedelta(hours=1))

        harness.start()
        due = {name: harness.next_at(name) for name in (WEST, EU)}
        harness.run(WEST)
        answer = subprocess.run(
            [str(Path(sys.executable).parent / "docker-credential-ecrd"), "get"],
            input=WEST_HOST,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "STATE_DIRECTORY": str(harness.store.directory)},
        )

        assert {WEST: harness.clock.now, EU: scheduled} == due
        assert [WEST, EU, WEST] == harness.source.calls
        assert (0, WEST_HOST) == (answer.returncode, json.loads(answer.stdout)["ServerURL"])


class TestBackoff:
    def test_failures_double_up_to_retry_max_shortened_at_random_then_recover(
        self, tmp_path, harness
    ):
        """10 s, 20 s, ... 5 min, each shortened by DRAW x 20 %; a success resets it."""
        harness.path.write_text(config_text(tmp_path, WEST_HOST))
        harness.start()
        failure = TokenError("group ecr:us-west-2: endpoint down", code="EndpointUnreachable")
        harness.source.queue(WEST, *[failure] * 7)
        delays = []
        for _ in range(7):
            harness.run(WEST)
            delays.append(harness.next_at(WEST) - harness.clock.now)
        harness.run(WEST)

        factor = 1 - RETRY_SPREAD * DRAW
        expected = [timedelta(seconds=s) * factor for s in (10, 20, 40, 80, 160, 300, 300)]
        assert expected == delays
        assert harness.clock.now + timedelta(hours=6) - timedelta(minutes=2.5) == harness.next_at(
            WEST
        )
        assert 0 == harness.daemon.rounds.runs()[harness.key(WEST)].failures

    def test_throttling_draws_the_delay_from_one_second_to_the_capped_delay(self, tmp_path):
        """Throttled: uniform in [1 s, min(doubled delay, 60 s)], not within 20 % of it."""
        draws = [0.0, 0.999, 0.25, 0.75, 0.5]
        values = sequence(draws)
        h = Harness(tmp_path, rand=lambda: next(values))
        policy = POLICY.replace("retry_max: 5m", "retry_max: 10m")
        h.path.write_text(config_text(tmp_path, WEST_HOST, policy=policy))
        h.start()
        throttled = TokenError("group ecr:us-west-2: throttled", code="ThrottlingException")
        h.source.queue(WEST, *[throttled] * 5)
        try:
            delays = []
            for _ in range(5):
                h.run(WEST)
                delays.append((h.next_at(WEST) - h.clock.now).total_seconds())
        finally:
            h.stop()

        caps = [10, 20, 40, 60, 60]  # retry_initial doubling, capped at 60 s
        assert [pytest.approx(1 + (c - 1) * d) for c, d in zip(caps, draws, strict=True)] == delays
        assert delays[0] == pytest.approx(1)  # far below the 8 s the 20 % rule allows


class TestLogin:
    def test_a_login_that_needs_a_person_waits_retry_max_says_so_once_and_retries_on_login(
        self, tmp_path, harness
    ):
        """NeedsLogin: one notice, retry after retry_max; an SSO cache change retries now."""
        harness.path.write_text(config_text(tmp_path, WEST_HOST))
        daemon = harness.start()
        login = TokenError("group ecr:us-west-2: run `aws sso login`", code=NEEDS_LOGIN)
        harness.source.queue(WEST, login, login)
        harness.run(WEST)
        first_wait = harness.next_at(WEST) - harness.clock.now
        harness.run(WEST)
        daemon.rounds.retry_logins()

        assert timedelta(minutes=5) * (1 - RETRY_SPREAD * DRAW) == first_wait
        assert 1 == len(harness.notice.shown)
        assert harness.clock.now == harness.next_at(WEST)


class TestReload:
    def test_a_new_group_is_fetched_a_removed_one_dropped_an_unchanged_one_kept(
        self, tmp_path, harness
    ):
        """Reload: EAST due now, EU unscheduled, WEST's time unchanged and no call for it."""
        harness.path.write_text(config_text(tmp_path, WEST_HOST, EU_HOST))
        daemon = harness.start()
        harness.run(WEST)
        harness.run(EU)
        west_at = harness.next_at(WEST)
        eu_key = harness.key(EU)
        harness.path.write_text(config_text(tmp_path, WEST_HOST, EAST_HOST))

        daemon.reload()

        assert [WEST, EU] == harness.source.calls
        assert west_at == harness.next_at(WEST)
        assert harness.clock.now == harness.next_at(EAST)
        assert None is daemon.rounds.jobs.next_at(eu_key)
        assert [True, True] == harness.metrics.named("config")

    def test_an_invalid_file_is_rejected_and_the_schedule_stays(self, tmp_path, harness):
        """A rejected reload changes nothing but the config gauge."""
        harness.path.write_text(config_text(tmp_path, WEST_HOST))
        daemon = harness.start()
        harness.run(WEST)
        west_at = harness.next_at(WEST)
        harness.path.write_text("registries: [not a host\n")

        daemon.reload()

        assert west_at == harness.next_at(WEST)
        assert [True, False] == harness.metrics.named("config")
        assert "configuration rejected" in harness.notifier.messages[-1]

    def test_a_group_changed_while_it_is_fetched_is_fetched_again_after(self, tmp_path, harness):
        """A reload adding a registry to a group in flight refetches it when the fetch ends."""
        west2 = "444444444444.dkr.ecr.us-west-2.amazonaws.com"
        harness.path.write_text(config_text(tmp_path, WEST_HOST))
        daemon = harness.start()
        harness.source.hang.add(WEST)
        key = harness.key(WEST)
        job = threading.Thread(target=daemon.rounds.jobs.run_now, args=(key,))
        job.start()
        while not harness.source.calls:
            threading.Event().wait(0.001)
        harness.path.write_text(config_text(tmp_path, WEST_HOST, west2))
        daemon.reload()
        harness.source.release()
        job.join(10)

        assert harness.clock.now == daemon.rounds.jobs.next_at(key)

    def test_a_group_changed_while_refresh_has_the_daemon_fetch_it_is_fetched_again(
        self, tmp_path, harness
    ):
        """`ecrd refresh` beside the daemon follows the rule of the jobs' own rounds.

        A reload adds a registry to the group while the refresh fetches it: what is written
        came from the group as it was, so the group is due again at once.
        """
        west2 = "444444444444.dkr.ecr.us-west-2.amazonaws.com"
        harness.path.write_text(config_text(tmp_path, WEST_HOST))
        daemon = harness.start()
        harness.run(WEST)
        harness.source.hang.add(WEST)
        key = harness.key(WEST)
        refresh = threading.Thread(target=daemon.rounds.refresh_now)
        refresh.start()
        while len(harness.source.calls) < 2:
            threading.Event().wait(0.001)
        harness.path.write_text(config_text(tmp_path, WEST_HOST, west2))
        daemon.reload()
        harness.source.release()
        refresh.join(10)

        assert [WEST, WEST] == harness.source.calls
        assert harness.clock.now == daemon.rounds.jobs.next_at(key)


class TestHungFetch:
    def test_the_wait_ends_at_attempt_timeout_and_the_retry_is_not_held_back(
        self, tmp_path, harness
    ):
        """A fetch that never returns: gave up after 1 s; the next try calls again at once.

        The abandoned fetch holds no retry back; the other group is fetched meanwhile.
        """
        harness.path.write_text(config_text(tmp_path, WEST_HOST, EU_HOST))
        daemon = harness.start()
        harness.source.hang.add(WEST)
        harness.run(WEST)
        first = harness.store.read()
        harness.run(EU)
        harness.run(WEST)
        state = harness.store.read()
        harness.source.release()

        assert first is not None
        assert state is not None
        assert "gave up after 1 s" in (first.hosts[WEST_HOST].last_error or "")
        assert "gave up after 1 s" in (state.hosts[WEST_HOST].last_error or "")
        assert state.hosts[EU_HOST].last_error is None
        assert [WEST, EU, WEST] == harness.source.calls
        assert 2 == daemon.rounds.runs()[harness.key(WEST)].failures

    def test_a_stop_with_a_fetch_hung_ends_the_job_without_a_write(self, tmp_path, harness):
        """stop() wakes the job waiting for a hung fetch; nothing is written after it."""
        policy = POLICY.replace("attempt_timeout: 1s", "attempt_timeout: 1h")
        harness.path.write_text(config_text(tmp_path, WEST_HOST, policy=policy))
        daemon = harness.start()
        harness.source.hang.add(WEST)
        job = threading.Thread(target=harness.run, args=(WEST,))
        job.start()
        while not harness.source.calls:
            threading.Event().wait(0.001)

        harness.stop()
        job.join(5)

        assert not job.is_alive()
        assert [] == harness.metrics.named("round")
        assert daemon.rounds.jobs.next_at  # the daemon object is still usable


class TestScheduler:
    def test_a_job_that_cannot_get_a_thread_is_retried(self, tmp_path, monkeypatch):
        """The first submission fails (no thread): the group runs later all the same."""
        real_start = threading.Thread.start
        failed: list[str] = []

        def start(thread: threading.Thread) -> None:
            if thread.name.startswith("ecrd-group") and not failed:
                failed.append(thread.name)
                msg = "can't start new thread"
                raise RuntimeError(msg)
            real_start(thread)

        monkeypatch.setattr(threading.Thread, "start", start)
        h = Harness(tmp_path)
        h.path.write_text(config_text(tmp_path, WEST_HOST))
        h.daemon = Daemon(config_path=h.path, source=h.source, store=h.store, notifier=h.notifier)
        h.daemon.start()
        try:
            deadline = threading.Event()
            for _ in range(1000):
                if h.source.calls:
                    break
                deadline.wait(0.01)
        finally:
            h.stop()

        assert ["ecrd-group-0"] == failed
        assert [WEST] == h.source.calls


def test_load_config_reads_attempt_timeout(tmp_path):
    """refresh.attempt_timeout is read from the file (the daemon's bound on one attempt)."""
    path = tmp_path / "c.yaml"
    path.write_text(config_text(tmp_path, WEST_HOST))

    assert timedelta(seconds=1) == load_config(path).refresh.attempt_timeout


class TestThrottledByTheEndpoint:
    def test_throttled_retries_spread_over_the_whole_range_up_to_the_cap(self, tmp_path, emulator):
        """The emulator throttles every call: the delays drawn follow the injected draws.

        With draws spread over [0, 1), the delays spread over [1 s, cap]: some far below
        the 80 % of the doubled delay that the ordinary rule would keep them above.
        """
        from ecrd.ecr.source import EcrTokenSource  # noqa: PLC0415
        from ecrd.emulator.server import Fault  # noqa: PLC0415

        draws = [0.05, 0.9, 0.3, 0.6, 0.0, 0.99, 0.45, 0.15]
        values = sequence(draws)
        h = Harness(tmp_path, rand=lambda: next(values))
        h.source = EcrTokenSource(max_attempts=1)  # type: ignore[assignment]
        policy = POLICY.replace("retry_max: 5m", "retry_max: 1h").replace(
            "refresh: {", f"aws: {{endpoint_url: '{emulator.url}'}}\nrefresh: {{"
        )
        h.path.write_text(config_text(tmp_path, WEST_HOST, policy=policy))
        emulator.inject(Fault(kind="throttle", count=None))
        h.start()
        name = next(g.name for g in h.daemon.rounds.config.groups())  # type: ignore[union-attr]
        try:
            delays = []
            for _ in draws:
                h.run(name)
                delays.append((h.next_at(name) - h.clock.now).total_seconds())
        finally:
            h.stop()

        caps = [10, 20, 40, 60, 60, 60, 60, 60]
        doubled = [10, 20, 40, 80, 160, 320, 640, 1280]
        assert len(draws) == len(emulator.calls(api="ecr"))
        assert [pytest.approx(1 + (c - 1) * d) for c, d in zip(caps, draws, strict=True)] == delays
        assert all(1 <= d <= 60 for d in delays)
        assert any(d < 0.8 * min(b, 60) for d, b in zip(delays, doubled, strict=True))
        assert max(delays) > 50
        assert min(delays) < 5
