"""One attempt ends within attempt_timeout: a hung credential_process, a silent endpoint."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ecrd.ecr.deadline import Attempt, GaveUp, holding, run_attempt
from ecrd.ecr.source import EcrTokenSource, fetch_all
from ecrd.emulator.server import Emulator
from ecrd.errors import TokenError
from tests.aws import SilentEndpoint, hung_credential_process, write_aws_config
from tests.ecr.groups import attempt_threads, group_of, registry, warm
from tests.waits import wait_until

if TYPE_CHECKING:
    import botocore.session

    from ecrd.config.model import GroupKey

TIMEOUT = timedelta(seconds=2)
# A hung attempt is over well within this; a socket left to botocore's default waits 60 s.
HANG_BOUND = 20


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def hung_profile(isolated_env: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Profile 'hung': a credential_process that records its pid, starts a child, never exits.

    Returns the files where the process and its child write their pids.
    """
    pid_file, child_file = tmp_path / "hung.pid", tmp_path / "child.pid"
    script = tmp_path / "hang.sh"
    script.write_text(
        f"#!/bin/sh\nsleep 3600 &\necho $! > {child_file}\necho $$ > {pid_file}\nwait\n"
    )
    script.chmod(0o755)
    write_aws_config(isolated_env, hung_credential_process(command=str(script)))
    return pid_file, child_file


class TestHungCredentialProcess:
    def test_hung_process_is_killed_and_the_attempt_gives_up(
        self, emulator: Emulator, hung_profile: tuple[Path, Path]
    ):
        """A credential_process that never exits: TokenError at the deadline, its group killed."""
        pid_file, child_file = hung_profile
        source = EcrTokenSource(attempt_timeout=TIMEOUT)
        group = group_of(registry(endpoint_url=emulator.url, profile="hung"))

        with pytest.raises(TokenError) as info:
            source.fetch(group)
        pids = [int(pid_file.read_text()), int(child_file.read_text())]

        assert "Timeout" == info.value.code
        assert (
            f"group {group.name}: gave up after 2 s: getting AWS credentials from "
            "profile 'hung' took too long"
        ) == str(info.value)
        assert wait_until(lambda: not any(alive(p) for p in pids))
        assert [] == emulator.calls()

    def test_a_healthy_group_does_not_wait_for_a_hung_one(
        self, emulator: Emulator, hung_profile: tuple[Path, Path]
    ):
        """While one group's credential_process hangs, another group of the same source is served."""
        pid_file, _child = hung_profile
        source = EcrTokenSource(attempt_timeout=TIMEOUT)
        hung = group_of(registry(endpoint_url=emulator.url, profile="hung"))
        healthy = group_of(registry("222222222222", endpoint_url=emulator.url))
        # The healthy group's client is built before the hang starts: what is timed against
        # the hung attempt's deadline is the healthy call, not botocore's model loading.
        warm(source, healthy)
        outcome: list[object] = []
        thread = threading.Thread(target=lambda: outcome.append(fetch_all(source, [hung])))
        thread.start()
        assert wait_until(pid_file.exists)
        hung_pid = int(pid_file.read_text())

        (creds,) = source.fetch(healthy)
        still_hung = alive(hung_pid)
        thread.join(HANG_BOUND)

        assert "222222222222" == creds.registry_id
        assert still_hung
        (result,) = outcome[0].values()  # type: ignore[attr-defined]
        assert isinstance(result, TokenError)
        assert "Timeout" == result.code


class TestSilentEndpoint:
    def test_an_endpoint_that_never_answers_fails_within_the_timeout(self):
        """Accepted and never answered: gave up after N s, no promise to retry, one connection."""
        source = EcrTokenSource(attempt_timeout=timedelta(seconds=1))
        with SilentEndpoint() as endpoint:
            group = group_of(registry(endpoint_url=endpoint.url))
            warm(source, group)
            started = time.monotonic()

            with pytest.raises(TokenError) as info:
                source.fetch(group)
            elapsed = time.monotonic() - started
            for thread in attempt_threads():
                thread.join(HANG_BOUND)

            connections = endpoint.connections

        message = str(info.value)
        assert "Timeout" == info.value.code
        assert (
            f"group {group.name}: gave up after 1 s: {endpoint.url}/ did not answer in time"
            == message
        )
        assert "retry" not in message
        assert elapsed < HANG_BOUND
        # botocore would retry a read timeout; no retry starts after the deadline.
        assert 1 == connections

    def test_a_hung_sts_call_fails_within_the_timeout(
        self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
    ):
        """A role whose STS endpoint never answers: gave up, naming STS's URL; ECR never called."""
        source = EcrTokenSource(attempt_timeout=timedelta(seconds=1))
        # The source has assumed another role before (through an endpoint that answers, under
        # a roomy attempt of its own), and the group's client is built: the timed attempt
        # builds only its STS client, from botocore's models loaded already, then waits for STS.
        with Emulator() as earlier:
            monkeypatch.setenv("AWS_ENDPOINT_URL_STS", earlier.url)
            other = group_of(
                registry(endpoint_url=earlier.url, role_arn="arn:aws:iam::210987654321:role/a")
            )
            Attempt(timeout=60, waiting_for="the earlier role").run(lambda: source.fetch(other))
        with SilentEndpoint() as sts:
            monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
            group = group_of(
                registry(endpoint_url=emulator.url, role_arn="arn:aws:iam::210987654321:role/r")
            )
            warm(source, group)

            with pytest.raises(TokenError) as info:
                source.fetch(group)
            for thread in attempt_threads():
                thread.join(HANG_BOUND)

        assert f"group {group.name}: gave up after 1 s: {sts.url}/ did not answer in time" == str(
            info.value
        )
        assert [] == emulator.calls()


class TestHolding:
    def test_a_thread_behind_a_hung_lock_ends_with_its_attempt(self):
        """An attempt waiting for a lock another attempt holds gives up, and its thread ends."""
        lock = threading.Lock()
        lock.acquire()

        def work() -> str:
            with holding(lock):
                return "never"

        try:
            with pytest.raises(GaveUp, match=r"gave up after 0.5 s: waiting for the lock"):
                run_attempt(work, timeout=0.5, name="t", waiting_for="waiting for the lock")
            threads = list(attempt_threads())
            for thread in threads:
                thread.join(HANG_BOUND)
        finally:
            lock.release()

        assert [] == [t for t in threads if t.is_alive()]


class TestBuilding:
    """Building a client is CPU work: it moves the deadline instead of using it up."""

    SHORT = timedelta(seconds=0.3)
    # Longer than SHORT: the build of a client on a loaded host, or the builds queued before it.
    SLOW_BUILD = 0.6

    @staticmethod
    def slow_builds(source: EcrTokenSource, monkeypatch: pytest.MonkeyPatch) -> None:
        sessions = source._sessions
        create = sessions._create

        def slow(key: GroupKey, session: botocore.session.Session) -> object:
            time.sleep(TestBuilding.SLOW_BUILD)  # stands for CPU time: nothing to wait on
            return create(key, session)

        monkeypatch.setattr(sessions, "_create", slow)

    def test_a_slow_build_does_not_fail_the_attempt(
        self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
    ):
        """A first attempt whose client takes longer to build than attempt_timeout succeeds."""
        source = EcrTokenSource(attempt_timeout=self.SHORT)
        self.slow_builds(source, monkeypatch)
        group = group_of(registry(endpoint_url=emulator.url))

        (credentials,) = source.fetch(group)

        assert group.hosts[0] == credentials.host
        assert 1 == len(emulator.calls())

    def test_the_call_after_a_slow_build_is_still_bounded(self, monkeypatch: pytest.MonkeyPatch):
        """After the build, a silent endpoint still fails the attempt, naming the endpoint."""
        source = EcrTokenSource(attempt_timeout=self.SHORT)
        self.slow_builds(source, monkeypatch)
        with SilentEndpoint() as endpoint:
            group = group_of(registry(endpoint_url=endpoint.url))
            with pytest.raises(TokenError) as info:
                source.fetch(group)

        assert "Timeout" == info.value.code
        assert "did not answer in time" in str(info.value)
        assert 1 == endpoint.connections

    def test_waiting_for_another_groups_build_does_not_fail_the_daemons_attempt(
        self, emulator: Emulator
    ):
        """In the daemon, a group queued behind other groups' builds is fetched, not timed out."""
        from ecrd.daemon.fetch import Fetcher  # noqa: PLC0415

        source = EcrTokenSource()
        fetcher = Fetcher(source)
        fetcher.resize(2)
        group = group_of(registry(endpoint_url=emulator.url))
        build_lock = source._sessions._build_lock
        build_lock.acquire()  # another group's build, longer than the attempt's timeout
        releaser = threading.Timer(self.SLOW_BUILD, build_lock.release)
        releaser.start()
        try:
            fetched = fetcher.fetch(group, timeout=self.SHORT)
        finally:
            releaser.join()
            fetcher.stop()

        assert not isinstance(fetched, TokenError), fetched
        assert [group.hosts[0]] == [c.host for c in fetched or ()]
        assert 1 == len(emulator.calls())


def test_a_pause_moves_the_deadline():
    """The time spent paused is added to the deadline; remaining() is frozen meanwhile."""
    attempt = Attempt(timeout=0.2, waiting_for="x")
    with attempt.paused():
        frozen = attempt.remaining()
        time.sleep(0.3)
        assert frozen == attempt.remaining()

    assert 0 < attempt.remaining() <= 0.2
