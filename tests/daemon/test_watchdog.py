"""The systemd watchdog is pinged by a scheduler job: a stuck scheduler stops it, a hung group not."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone

from ecrd.daemon.lifecycle import Daemon
from tests.daemon.harness import EU, EU_HOST, WEST, WEST_HOST, Harness, config_text
from tests.fakes import RecordingNotifier
from tests.waits import WAIT, wait_until


def test_pings_go_on_while_a_group_hangs_and_stop_when_the_scheduler_is_stuck(tmp_path):
    """WATCHDOG=1 every 50 ms through a hung fetch; none once the scheduler's thread blocks."""
    h = Harness(tmp_path)
    h.notifier = RecordingNotifier({"WATCHDOG_USEC": "100000", "WATCHDOG_PID": str(os.getpid())})
    h.path.write_text(
        config_text(tmp_path, WEST_HOST, EU_HOST).replace(
            "attempt_timeout: 1s", "attempt_timeout: 1h"
        )
    )
    h.source.hang.add(WEST)
    daemon = Daemon(config_path=h.path, source=h.source, store=h.store, notifier=h.notifier)
    h.daemon = daemon
    daemon.start()
    stuck = threading.Event()
    try:
        assert wait_until(lambda: h.source.count(WEST) == 1 and h.source.count(EU) == 1)
        pings_at_hang = h.notifier.count("WATCHDOG=1")
        assert wait_until(lambda: h.notifier.count("WATCHDOG=1") >= pings_at_hang + 5)
        jobs = daemon.rounds.jobs
        # EU's run has ended (written after waiting GATHER_SECONDS for WEST).
        assert wait_until(lambda: jobs._running == {h.key(WEST)})

        # The scheduler's own thread blocks handing EU's next run to its executor.
        executor = jobs._groups
        entered = threading.Event()

        def wedge(*_args: object) -> None:
            entered.set()
            stuck.wait()

        assert executor is not None  # built once the first round was written
        executor.submit_job = wedge
        jobs.schedule(h.key(EU), datetime.now(timezone.utc) - timedelta(seconds=1))
        assert entered.wait(WAIT), (jobs.next_at(h.key(EU)), jobs._running, jobs._pending)
        before = h.notifier.count("WATCHDOG=1")
        threading.Event().wait(0.5)  # ten intervals: the absence of pings cannot be awaited
        after = h.notifier.count("WATCHDOG=1")
    finally:
        stuck.set()
        h.source.release()
        h.stop()

    assert after - before <= 1
