"""Groups due together are written in one round; a hung group does not hold the others back.

The scheduler runs for real (each group's job in its own thread); the token source is the
fake one, whose calls block until released, so which fetches are in flight is known.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from ecrd.daemon.gathering import GATHER_SECONDS
from ecrd.daemon.lifecycle import Daemon
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
from tests.waits import WAIT, wait_until


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
        metrics=h.metrics,
    )
    h.daemon = daemon
    daemon.start()
    return daemon


def written_hosts(h: Harness) -> list[set[str]]:
    """The hosts of each round the daemon reported, in order."""
    return [{r.host for r in result.hosts} for result in h.metrics.rounds()]


def test_groups_answering_together_are_written_in_one_round(tmp_path):
    """Three groups due at start, released at once: one round, one write per output."""
    h = Harness(tmp_path)
    started(h, WEST, EU, EAST)
    try:
        assert wait_until(lambda: all(h.source.count(g) == 1 for g in (WEST, EU, EAST)))
        h.source.release()
        assert wait_until(lambda: h.notifier.count("READY=1") == 1)
        frozen = gc.get_freeze_count()
    finally:
        h.stop()

    assert [{WEST_HOST, EU_HOST, EAST_HOST}] == written_hosts(h)
    # What the start built is out of the collector's sight from then on.
    assert frozen > 0


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


def test_the_first_round_is_written_before_the_scheduler_is_imported(tmp_path):
    """At start the due groups run at once; APScheduler loads after their write (a process)."""
    h = Harness(tmp_path)
    h.path.write_text(config_text(tmp_path, WEST_HOST, EU_HOST))
    code = f"""
import sys
from pathlib import Path
from ecrd.daemon.lifecycle import Daemon
from ecrd.daemon.rounds import Rounds
from ecrd.state import StateStore
from tests.fakes import FakeTokenSource

seen = []
write = Rounds._write_gathered

def recording(self):
    seen.append("apscheduler" in sys.modules)
    return write(self)

Rounds._write_gathered = recording
daemon = Daemon(
    config_path=Path({str(h.path)!r}),
    source=FakeTokenSource(new_each_call=True),
    store=StateStore(Path({str(tmp_path / "state")!r})),
)
daemon.start()
print(seen, "apscheduler" in sys.modules, daemon.rounds.jobs.next_at(daemon.rounds.config.groups()[0].key) is not None)
daemon.stop()
"""
    root = Path(__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=tmp_path,
    )

    # One round for both groups, written with the scheduler not yet loaded; then started,
    # with the groups' next runs in it.
    printed = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert ["[False] True True"] == printed
