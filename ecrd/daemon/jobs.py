"""APScheduler as the daemon's scheduler: one job per group, plus housekeeping jobs.

Each group has one job for its whole life (id: the group's name), in the ``groups``
executor, a pool sized to the groups. A job's next run is set by the daemon after every
attempt (ahead of expiry, or after a backoff); while a group's job runs, a new time for it
waits until the scheduler reports the run ended, so a successor due at once is never skipped
as a second instance. Housekeeping (watchdog pings, the clock check) has an executor of its
own: a hung group cannot starve it, and the watchdog stops only when the scheduler does.

Missed runs (a laptop asleep) run once, as soon as they are seen: ``coalesce`` and no
misfire grace limit.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from ecrd.daemon.pool import DaemonPool

if TYPE_CHECKING:
    from collections.abc import Callable

    from ecrd.config.model import GroupKey

# Groups are fetched at most this many at once (each fetch is I/O, mostly waiting).
MAX_POOL = 32


class _Executor(BasePoolExecutor):  # type: ignore[misc]
    """APScheduler's pool executor over a ``DaemonPool`` (see ecrd.daemon.pool)."""

    def __init__(self, pool: DaemonPool) -> None:
        super().__init__(pool)
        self.pool = pool


class _Fallback(BaseTrigger):  # type: ignore[misc]
    """A group's trigger: the daemon sets each next run; this is only the safety net.

    When a run could not even start (no thread for it), nothing sets the next one: the job
    then comes back after ``delay`` instead of being removed.
    """

    def __init__(self, delay: Callable[[], timedelta]) -> None:
        self.delay = delay

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        del previous_fire_time  # the next run does not follow from the last one
        return now + self.delay()


class Jobs:
    """The scheduler and the groups' jobs; ``run_group(key)`` is one attempt."""

    def __init__(self, *, run_group: Callable[[GroupKey], None], fallback: timedelta) -> None:
        self._run_group = run_group
        self.fallback = fallback
        self._lock = threading.Lock()
        self._keys: dict[str, GroupKey] = {}
        self._running: set[GroupKey] = set()
        self._pending: dict[GroupKey, datetime] = {}
        self._groups = _Executor(DaemonPool(size=1, name="ecrd-group"))
        self._scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            executors={
                "groups": self._groups,
                "housekeeping": _Executor(DaemonPool(size=1, name="ecrd-housekeeping")),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._scheduler.add_listener(self._ended, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def start(self, *, paused: bool = False) -> None:
        """Start the scheduler's thread; ``paused`` keeps every job waiting (tests)."""
        self._scheduler.start(paused=paused)

    def shutdown(self) -> None:
        """Stop scheduling; a run in progress is not waited for."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def resize(self, groups: int) -> None:
        """Size the pool to the number of groups."""
        self._groups.pool.resize(min(max(groups, 1), MAX_POOL))

    def every(self, name: str, function: Callable[[], None], interval: timedelta) -> None:
        """Run ``function`` every ``interval`` in the housekeeping executor."""
        self._scheduler.add_job(
            function,
            "interval",
            seconds=interval.total_seconds(),
            id=name,
            executor="housekeeping",
            replace_existing=True,
        )

    def schedule(self, key: GroupKey, at: datetime) -> None:
        """Run ``key``'s next attempt at ``at`` (once its current run, if any, has ended)."""
        with self._lock:
            if key in self._running:
                self._pending[key] = at
                return
            self._set(key, at)

    def remove(self, key: GroupKey) -> None:
        """Forget ``key``'s job (a run in progress ends on its own)."""
        with self._lock:
            self._pending.pop(key, None)
            self._keys.pop(key.name, None)
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(key.name)

    def next_at(self, key: GroupKey) -> datetime | None:
        """When ``key``'s job runs next, None when it has none."""
        job = self._scheduler.get_job(key.name)
        return None if job is None else job.next_run_time

    def run_now(self, key: GroupKey) -> None:
        """Run ``key``'s attempt in this thread, as its job would (tests of a paused scheduler)."""
        self._job(key)
        self._ended(JobExecutionEvent(EVENT_JOB_EXECUTED, key.name, "default", None))

    def wakeup(self) -> None:
        """Look at the jobs' times again (after the wall clock jumped)."""
        self._scheduler.wakeup()

    def _set(self, key: GroupKey, at: datetime) -> None:
        # Called with _lock held.
        self._keys[key.name] = key
        if self._scheduler.get_job(key.name) is None:
            self._scheduler.add_job(
                self._job,
                trigger=_Fallback(lambda: self.fallback),
                args=[key],
                id=key.name,
                name=key.name,
                executor="groups",
                next_run_time=at,
            )
        else:
            self._scheduler.modify_job(key.name, next_run_time=at)

    def _job(self, key: GroupKey) -> None:
        with self._lock:
            self._running.add(key)
        self._run_group(key)

    def _ended(self, event: Any) -> None:  # noqa: ANN401 - APScheduler's event classes
        # Called by the executor after it has counted the run as ended.
        with self._lock:
            key = self._keys.get(event.job_id)
            if key is None:
                return
            self._running.discard(key)
            at = self._pending.pop(key, None)
            if at is not None:
                with contextlib.suppress(JobLookupError):
                    self._set(key, at)
