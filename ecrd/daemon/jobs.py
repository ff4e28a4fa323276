"""APScheduler as the daemon's scheduler: one job per group, plus housekeeping jobs.

Each group has one job for its whole life (id: the group's name), in the ``groups``
executor, a pool sized to the groups. A job's next run is set by the daemon after every
attempt (ahead of expiry, or after a backoff); while a group's job runs, a new time for it
waits until the run has ended, so a successor due at once is never skipped as a second
instance. Housekeeping (the watchdog pings) has an executor of its own: a hung
group cannot starve it, and the watchdog stops only when the scheduler does.

The scheduler is built by ``start()``, which the daemon calls once its first round is
written: the groups due at start run at once on the group pool (``run_first``), and the
times set before then wait here for it (APScheduler would keep jobs added before its
``start`` itself, but only once built, which is its import: see ``scheduler``). Missed runs (a laptop asleep) run once, as soon as
they are seen: ``coalesce`` and no misfire grace limit.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ecrd.daemon.pool import DaemonPool

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import timedelta

    from apscheduler.schedulers.background import BackgroundScheduler

    from ecrd.config.model import GroupKey
    from ecrd.daemon.scheduler import Executor

# Groups are fetched at most this many at once (each fetch is I/O, mostly waiting).
MAX_POOL = 32


class Jobs:
    """The scheduler and the groups' jobs; ``run_group(key)`` is one attempt."""

    def __init__(self, *, run_group: Callable[[GroupKey], None], fallback: timedelta) -> None:
        self._run_group = run_group
        self.fallback = fallback
        self._lock = threading.Lock()
        self._keys: dict[str, GroupKey] = {}
        self._running: set[GroupKey] = set()
        self._pending: dict[GroupKey, datetime] = {}
        self._pool = DaemonPool(size=1, name="ecrd-group")
        self._scheduler: BackgroundScheduler | None = None
        self._groups: Executor | None = None
        # Until the scheduler is built: the groups' times, and the housekeeping jobs.
        self._times: dict[GroupKey, datetime] = {}
        self._housekeeping: dict[str, tuple[Callable[[], None], timedelta]] = {}

    def start(self, *, paused: bool = False) -> None:
        """Build the scheduler and start its thread; ``paused`` keeps every job waiting."""
        from ecrd.daemon import scheduler  # noqa: PLC0415 -- see the module's docstring

        with self._lock:
            if self._scheduler is not None:
                return
            self._groups = scheduler.Executor(self._pool)
            built = scheduler.build(
                groups=self._groups,
                housekeeping=scheduler.Executor(DaemonPool(size=1, name="ecrd-housekeeping")),
                ended=self._ended,
            )
            built.start(paused=paused)
            self._scheduler = built
            for key, at in self._times.items():
                self._set(key, at)
            self._times.clear()
            for name, (function, interval) in self._housekeeping.items():
                self._add_every(name, function, interval)
            self._housekeeping.clear()

    def shutdown(self) -> None:
        """Stop scheduling; a run in progress is not waited for."""
        with self._lock:
            scheduler = self._scheduler
        if scheduler is None:
            self._pool.shutdown(wait=False)
        elif scheduler.running:
            scheduler.shutdown(wait=False)

    def resize(self, groups: int) -> None:
        """Size the pool to the number of groups."""
        self._pool.resize(min(max(groups, 1), MAX_POOL))

    def every(self, name: str, function: Callable[[], None], interval: timedelta) -> None:
        """Run ``function`` every ``interval`` in the housekeeping executor."""
        with self._lock:
            if self._scheduler is None:
                self._housekeeping[name] = (function, interval)
            else:
                self._add_every(name, function, interval)

    def run_first(self, keys: Iterable[GroupKey]) -> None:
        """Run the attempts of ``keys`` now on the group pool, before the scheduler is built."""
        with self._lock:
            for key in keys:
                self._keys[key.name] = key
                self._running.add(key)
                try:
                    self._pool.submit(self._first, key)
                except RuntimeError:  # no thread for it: the scheduler runs it when built
                    self._running.discard(key)
                    self._set(key, datetime.now(timezone.utc))

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
            self._times.pop(key, None)
            self._keys.pop(key.name, None)
            if self._scheduler is not None:
                from apscheduler.jobstores.base import JobLookupError  # noqa: PLC0415

                with contextlib.suppress(JobLookupError):
                    self._scheduler.remove_job(key.name)

    def next_at(self, key: GroupKey) -> datetime | None:
        """When ``key``'s job runs next, None when it has none."""
        with self._lock:
            if self._scheduler is None:
                return self._times.get(key)
            job = self._scheduler.get_job(key.name)
        return None if job is None else job.next_run_time

    def run_now(self, key: GroupKey) -> None:
        """Run ``key``'s attempt in this thread, as its job would (tests of a paused scheduler)."""
        with self._lock:
            self._running.add(key)
        self._run_group(key)
        self._finished(key)

    def wakeup(self) -> None:
        """Look at the jobs' times again (after the wall clock jumped)."""
        with self._lock:
            scheduler = self._scheduler
        if scheduler is not None:
            scheduler.wakeup()

    def _set(self, key: GroupKey, at: datetime) -> None:
        # Called with _lock held.
        self._keys[key.name] = key
        if self._scheduler is None:
            self._times[key] = at
        elif self._scheduler.get_job(key.name) is None:
            from ecrd.daemon.scheduler import Fallback  # noqa: PLC0415 -- built already

            self._scheduler.add_job(
                self._job,
                trigger=Fallback(lambda: self.fallback),
                args=[key],
                id=key.name,
                name=key.name,
                executor="groups",
                next_run_time=at,
            )
        else:
            from apscheduler.jobstores.base import JobLookupError  # noqa: PLC0415 -- built

            with contextlib.suppress(JobLookupError):  # removed meanwhile
                self._scheduler.modify_job(key.name, next_run_time=at)

    def _add_every(self, name: str, function: Callable[[], None], interval: timedelta) -> None:
        # Called with _lock held, the scheduler built.
        assert self._scheduler is not None  # noqa: S101 - the callers' promise
        self._scheduler.add_job(
            function,
            "interval",
            seconds=interval.total_seconds(),
            id=name,
            executor="housekeeping",
            replace_existing=True,
        )

    def _first(self, key: GroupKey) -> None:
        try:
            self._run_group(key)
        finally:
            self._finished(key)

    def _job(self, key: GroupKey) -> None:
        with self._lock:
            self._running.add(key)
        self._run_group(key)

    def _ended(self, event: Any) -> None:  # noqa: ANN401 - APScheduler's event classes
        # Called by the executor after it has counted the run as ended.
        with self._lock:
            key = self._keys.get(event.job_id)
        if key is not None:
            self._finished(key)

    def _finished(self, key: GroupKey) -> None:
        with self._lock:
            self._running.discard(key)
            at = self._pending.pop(key, None)
            if at is not None and key.name in self._keys:
                self._set(key, at)
