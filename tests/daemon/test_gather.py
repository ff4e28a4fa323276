"""Groups due together are written in one round; a hung group does not hold the others back.

The scheduler runs for real (each group's job in its own thread); the token source is the
fake one, whose calls block until released, so which fetches are in flight is known.
"""

from __future__ import annotations

import threading

from ecrd.daemon.lifecycle import Daemon
from ecrd.daemon.rounds import GATHER_SECONDS
from tests.daemon.harness import (
    EAST,
    EAST_HOST,
    EU,
    EU_HOST,
    WEST,
    WEST_HOST,
    Harness,
    config_text,
)

WAIT = 10.0


def wait_until(condition, timeout: float = WAIT) -> bool:
    """Poll ``condition`` every 10 ms (the fake source and metrics have no events)."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return True
        pause.wait(0.01)
    return False


def started(h: Harness, *hang: str) -> Daemon:
    """The daemon with its scheduler running, the groups in ``hang`` blocked in their fetch."""
    h.path.write_text(
        config_text(h.path.parent, WEST_HOST, EU_HOST, EAST_HOST).replace(
            "attempt_timeout: 1s", "attempt_timeout: 1h"
        )
    )
    h.source.hang.update(hang)
    daemon = Daemon(
        config_path=h.path,
        source=h.source,
        store=h.store,
        notifier=h.notifier,
        metrics=h.metrics,  # type: ignore[arg-type]
    )
    h.daemon = daemon
    daemon.start()
    return daemon


def written_hosts(h: Harness) -> list[set[str]]:
    """The hosts of each round the daemon reported, in order."""
    return [{r.host for r in result.hosts} for result in h.metrics.named("round")]  # type: ignore[attr-defined]


def test_groups_answering_together_are_written_in_one_round(tmp_path):
    """Three groups due at start, released at once: one round, one write per output."""
    h = Harness(tmp_path)
    started(h, WEST, EU, EAST)
    try:
        assert wait_until(lambda: all(h.source.count(g) == 1 for g in (WEST, EU, EAST)))
        h.source.release()
        assert wait_until(lambda: h.notifier.count("READY=1") == 1)
    finally:
        h.stop()

    assert [{WEST_HOST, EU_HOST, EAST_HOST}] == written_hosts(h)


def test_a_hung_group_delays_the_others_write_by_the_gather_window_only(tmp_path):
    """WEST hangs (attempt_timeout 1 h): EU and EAST are written together without it."""
    h = Harness(tmp_path)
    started(h, WEST)
    try:
        assert wait_until(lambda: written_hosts(h), timeout=WAIT + GATHER_SECONDS)
        hung = h.source.count(WEST)
    finally:
        h.source.release()
        h.stop()

    assert (1, [{EU_HOST, EAST_HOST}]) == (hung, written_hosts(h)[:1])
