"""The APScheduler pieces of ``ecrd.daemon.jobs``, imported when the scheduler is built.

That is after the first round is written: APScheduler brings importlib.metadata and asyncio
along (``python -X importtime -c 'import apscheduler.schedulers.background'`` shows what it
costs here), and the outputs come first. Until then ``Jobs`` keeps the times it is given.

The scheduler is used as its documentation shows (``BackgroundScheduler``, ``add_job``,
``modify_job`` for each next run, ``coalesce``, listeners), with two pieces of its own where
the stock ones do not fit:

- ``Executor`` runs the jobs on a ``DaemonPool`` rather than APScheduler's
  ``ThreadPoolExecutor``, whose ``concurrent.futures`` workers are joined when the
  interpreter exits and never end while idle: one job stuck in a system call (a write to a
  hung network file system) would keep ``ecrd run`` alive after SIGTERM, and a burst of
  groups would leave its threads for the daemon's life.
- ``Fallback`` is the groups' trigger rather than a ``DateTrigger`` per next run: a job
  whose submission fails (no thread could be started) is only logged by APScheduler's
  ``_process_jobs``, no event is sent, and a ``DateTrigger`` job is then removed, so the
  group would never run again. ``Fallback`` brings it back instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

if TYPE_CHECKING:
    from collections.abc import Callable

    from ecrd.daemon.pool import DaemonPool


class Executor(BasePoolExecutor):  # type: ignore[misc]
    """APScheduler's pool executor over a ``DaemonPool`` (see ecrd.daemon.pool)."""

    def __init__(self, pool: DaemonPool) -> None:
        super().__init__(pool)
        self.pool = pool


class Fallback(BaseTrigger):  # type: ignore[misc]
    """A group's trigger: the daemon sets each next run; this is only the safety net.

    When a run could not even start (no thread for it), nothing sets the next one: the job
    then comes back after ``delay`` instead of being removed.
    """

    def __init__(self, delay: Callable[[], timedelta]) -> None:
        self.delay = delay

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """``delay`` from now, whatever came before."""
        del previous_fire_time  # the next run does not follow from the last one
        return now + self.delay()


def build(
    *, groups: Executor, housekeeping: Executor, ended: Callable[[Any], None]
) -> BackgroundScheduler:
    """The scheduler (not started), its executors, and ``ended`` told of each run's end."""
    scheduler = BackgroundScheduler(
        timezone=timezone.utc,
        executors={"groups": groups, "housekeeping": housekeeping},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    scheduler.add_listener(ended, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    return scheduler
