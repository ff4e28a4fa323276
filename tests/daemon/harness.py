"""The daemon in-process for tests: its seams filled with fakes, its jobs run by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecrd.daemon.lifecycle import Daemon
from ecrd.state import StateStore
from tests.fakes import (
    FakeClock,
    FakeTokenSource,
    RecordingMetrics,
    RecordingNotice,
    RecordingNotifier,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from pathlib import Path

    from ecrd.config.model import GroupKey

WEST_HOST = "111111111111.dkr.ecr.us-west-2.amazonaws.com"
EU_HOST = "222222222222.dkr.ecr.eu-west-1.amazonaws.com"
EAST_HOST = "333333333333.dkr.ecr.us-east-2.amazonaws.com"
WEST, EU, EAST = "ecr:us-west-2", "ecr:eu-west-1", "ecr:us-east-2"
# before_expiry 6h and a 12 h token: the next refresh is due 6 h after a fetch, less jitter.
POLICY = (
    "refresh: {before_expiry: 6h, jitter: 5m, retry_initial: 10s, retry_max: 5m,"
    " min_interval: 30s, attempt_timeout: 1s}\n"
)
DRAW = 0.5  # every random draw, unless a test says otherwise


def config_text(tmp_path: Path, *hosts: str, policy: str = POLICY) -> str:
    """A configuration with ``hosts``, one docker output."""
    registries = "".join(f"  - {h}\n" for h in hosts)
    docker = tmp_path / "docker" / "config.json"
    return f"{policy}outputs: [{{type: docker, path: {docker}}}]\nregistries:\n{registries}"


class Harness:
    """A daemon in-process, its seams, and ways to drive it."""

    def __init__(self, tmp_path: Path, *, rand: Callable[[], float] = lambda: DRAW) -> None:
        self.path = tmp_path / "config.yaml"
        self.clock = FakeClock()
        self.source = FakeTokenSource(clock=self.clock, new_each_call=True)
        self.store = StateStore(tmp_path / "state")
        self.notifier = RecordingNotifier()
        self.notice = RecordingNotice()
        self.metrics = RecordingMetrics()
        self.rand = rand
        self.daemon: Daemon | None = None

    def start(self) -> Daemon:
        """Build and start the daemon, its scheduler paused."""
        self.daemon = Daemon(
            config_path=self.path,
            source=self.source,
            store=self.store,
            notifier=self.notifier,
            notice=self.notice,
            metrics=self.metrics,
            clock=self.clock,
            rand=self.rand,
        )
        self.daemon.start(run_jobs=False)
        return self.daemon

    def key(self, name: str) -> GroupKey:
        """The key of the group named ``name`` in the daemon's configuration."""
        assert self.daemon is not None
        return next(g.key for g in self.daemon.rounds.config.groups() if g.name == name)

    def run(self, name: str) -> None:
        """Run the group's job now, in this thread."""
        assert self.daemon is not None
        self.daemon.rounds.jobs.run_now(self.key(name))

    def next_at(self, name: str) -> datetime:
        """When the group's job runs next."""
        assert self.daemon is not None
        at = self.daemon.rounds.jobs.next_at(self.key(name))
        assert at is not None
        return at

    def stop(self) -> None:
        """Stop the daemon if started."""
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
