"""The groups' refreshes in the daemon: one bounded fetch and one round per job run.

Every write goes through ``ecrd.refresh_round.apply_round`` (fetch -> outputs -> state), under
``lock``, which also guards the configuration and the groups' runs; no write starts once the
daemon is stopping. The concerns around it have their own classes, all under ``lock``: the
write of a round and each written group's next attempt (``writer``), the groups fetched
together (``gathering``), the first round READY=1 waits for (``first_round``), each group's
run and next attempt (``runs``), and what is told to systemd, the metrics and the person at
hand (``reports``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ecrd.config.model import Config
from ecrd.daemon.fetch import Fetcher
from ecrd.daemon.first_round import FirstRound
from ecrd.daemon.gathering import Gathering
from ecrd.daemon.jobs import MAX_POOL, Jobs
from ecrd.daemon.reports import Reports
from ecrd.daemon.runs import Runs
from ecrd.daemon.writer import RoundWriter, still_configured
from ecrd.errors import ControlError
from ecrd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from datetime import datetime
    from pathlib import Path

    from ecrd.config.model import Group, GroupKey
    from ecrd.daemon.groups import GroupRun
    from ecrd.daemon.reload import ReloadPlan
    from ecrd.daemon.seams import MetricsSink, Notice, Supervisor
    from ecrd.ecr.source import TokenSource
    from ecrd.metrics_textfile import TextfileWriter
    from ecrd.refresh_round import RoundResult
    from ecrd.state import State, StateStore

log = get_logger("ecrd")

# A stop waits this long for an output write in progress, so no temporary file is left.
STOP_GRACE_SECONDS = 1.2
_STOPPING = "the daemon is stopping; run `ecrd refresh` again once it has stopped"


class Rounds:
    """The configuration in force and its groups' rounds; ``attempt(key)`` is one group's job."""

    def __init__(
        self,
        *,
        config_path: Path,
        source: TokenSource,
        store: StateStore,
        notifier: Supervisor,
        notice: Notice,
        metrics: MetricsSink,
        textfile: TextfileWriter,
        clock: Callable[[], datetime],
        rand: Callable[[], float],
    ) -> None:
        self.lock = threading.Lock()
        self.config = Config(path=config_path)
        self._clock = clock
        self._stopped = False  # set under lock: no write starts after it
        self._fetcher = Fetcher(source)
        self.jobs = Jobs(run_group=self.attempt, fallback=self.config.refresh.attempt_timeout * 2)
        self._gathering = Gathering(self.lock)
        self._first = FirstRound()
        self.first_written = self._first.written  # the first round at start was written
        self._reports = Reports(
            notifier=notifier, notice=notice, metrics=metrics, textfile=textfile
        )
        self._runs = Runs(
            jobs=self.jobs, store=store, reports=self._reports, clock=clock, rand=rand
        )
        self._writer = RoundWriter(
            store=store,
            runs=self._runs,
            reports=self._reports,
            gathering=self._gathering,
            clock=clock,
        )

    def begin(self, config: Config, state: State | None, *, run_first: bool = True) -> str | None:
        """Schedule every group: restored ones ahead of expiry, the others at once.

        ``run_first`` runs the groups due now on the group pool at once, without waiting
        for the scheduler (``jobs.start``); else they wait in it like the others.
        ``first_written`` is set once their round is written (at once when there is none).
        Returns the status for READY=1 when there is no first round to wait for.
        """
        with self.lock:
            self._use(config)
            now = self._clock()
            self._runs.restore(config=config, state=state)
            due = [g for g in config.groups() if self._runs.get(g.key) is None]
            for group in config.groups():
                run = self._runs.get(group.key)
                at = run.next_at if run is not None and run.next_at is not None else now
                # A group due now with run_first goes to run_first below, not to the jobs.
                self._runs.schedule(
                    group, at, restored=run is not None, dispatch=run is not None or not run_first
                )
            if run_first:
                self.jobs.run_first([g.key for g in due])
            # With groups due, their round records the schedule: a state write now would
            # only delay it.
            if not due:
                self._runs.record(config)
            return self.summary() if self._first.begin(g.key for g in due) else None

    def stop(self) -> None:
        """Stop scheduling; wait briefly for a write in progress; abandon fetches."""
        self.jobs.shutdown()
        locked = self.lock.acquire(timeout=STOP_GRACE_SECONDS)
        self._stopped = True
        if locked:
            self._gathering.wake()
            self.lock.release()
        self._fetcher.stop()

    def attempt(self, key: GroupKey) -> None:
        """One group's job: fetch (bounded), write the round, schedule the next attempt."""
        with self.lock:
            if self._stopped:
                return
            group = self._group(key)
            if group is None:  # removed from the configuration since it was scheduled
                ready = self._ready([key])
            else:
                self._gathering.start(key)
                timeout = self.config.refresh.attempt_timeout
        if group is None:
            self._reports.ready(ready)
            return
        fetched = self._fetcher.fetch(group, timeout=timeout)
        with self.lock:
            self._gathering.wake()
            if fetched is None or self._stopped:
                self._gathering.drop(key)
                return
            # Still in flight for a reload until written: a change to it is fetched again.
            self._gathering.add(key, group, fetched)
            if not self._gathering.wait(key, stopped=lambda: self._stopped) or self._stopped:
                return  # written with another group's round (or stopping)
            ready, summary = self._write_gathered()
        self._reports.status(summary, ready=ready)

    def _write_gathered(self) -> tuple[str | None, str]:
        """One round for every group gathered; the READY=1 status if due, and the summary."""
        gathered = self._gathering.take()
        live = still_configured(config=self.config, fetched=gathered)
        if live:
            self._writer.write_fetched(config=self.config, live=live, fetched=gathered)
        else:  # every one removed by a reload while fetched: no round to write
            self._gathering.wake()
        self.first_written.set()
        return self._ready(list(gathered)), self.summary()

    def refresh_now(self) -> RoundResult:
        """Fetch every group now and write them in one round (`ecrd refresh` beside the daemon).

        Each group is then scheduled as after any attempt of its own.

        Raises:
            ControlError: the daemon is stopping, or the round could not be written.
        """
        with self.lock:
            if self._stopped:
                raise ControlError(_STOPPING)
            groups = self.config.groups()
            timeout = self.config.refresh.attempt_timeout
        with ThreadPoolExecutor(max_workers=min(max(len(groups), 1), MAX_POOL)) as pool:
            results = list(pool.map(lambda g: self._fetcher.fetch(g, timeout=timeout), groups))
        with self.lock:
            if self._stopped or any(r is None for r in results):
                raise ControlError(_STOPPING)
            fetched = {g.key: (g, r) for g, r in zip(groups, results, strict=True) if r is not None}
            live = still_configured(config=self.config, fetched=fetched)
            result = self._writer.write_fetched(config=self.config, live=live, fetched=fetched)
            ready, summary = self._ready(list(live)), self.summary()
        self._reports.status(summary, ready=ready)
        if result is None:
            msg = "the round could not be written; the daemon's log says why (round_failed)"
            raise ControlError(msg)
        return result

    def apply_plan(
        self, new: Config, plan: ReloadPlan, *, notes: Mapping[str, str] | None = None
    ) -> str:
        """Swap in ``new`` and carry out ``plan``; returns the status line.

        ``notes`` go into the ``config_reloaded`` event (what else the reload did).
        """
        with self.lock:
            self._use(new)
            for key in plan.removed:
                self._runs.remove(key)
            if plan.removed:
                # Their sessions and clients go with them: nothing grows with reloads.
                self._fetcher.forget(keep=new.groups())
            for group in plan.reschedule:
                busy = self._gathering.in_flight(group.key)
                self._runs.reschedule(group, policy=new.refresh, busy=busy)
            if plan.rewrite:
                # At once and without a call: the credentials in memory go into new outputs,
                # and what left the configuration leaves the outputs.
                held = {g: self._runs.credentials(g.key) for g in new.groups()}
                kept = {g.key: c for g, c in held.items() if c is not None}
                groups = [g for g in held if g.key in kept]
                self._writer.write(config=new, groups=groups, fetched=kept, fresh=[])
            log.info("config_reloaded", config=str(new.path), **plan.summary, **(notes or {}))
            now = self._clock()
            for group in plan.fetch:
                if self._gathering.in_flight(group.key):
                    self._gathering.again(group.key)  # fetched again when the fetch ends
                else:
                    self._runs.schedule(group, now)
            if not plan.fetch:
                # Else the fetch's round records it, shortly after: a state write
                # here would only delay the outputs of the save that asked for it.
                self._runs.record(new)
            ready = self._ready(plan.removed)
            summary = self.summary()
        self._reports.ready(ready)
        return summary

    def retry_logins(self) -> None:
        """The SSO token cache changed: retry at once the groups waiting for a login."""
        with self.lock:
            now = self._clock()
            for group in self.config.groups():
                run = self._runs.get(group.key)
                if run is not None and run.needs_login and not self._gathering.in_flight(group.key):
                    self._runs.schedule(group, now)

    def runs(self) -> dict[GroupKey, GroupRun]:
        """What the daemon keeps of each group, now."""
        with self.lock:
            return self._runs.snapshot()

    @property
    def first_round_done(self) -> bool:
        """True once READY=1 has been sent (the first round ended)."""
        with self.lock:
            return self._first.ended

    def summary(self) -> str:
        """One line for `systemctl status` (under ``lock``)."""
        return self._runs.summary(self.config)

    # -- under lock ----------------------------------------------------------------------

    def _use(self, config: Config) -> None:
        self.config = config
        groups = len(config.groups())
        self.jobs.resize(groups)
        self.jobs.fallback = config.refresh.attempt_timeout * 2
        self._fetcher.resize(groups)

    def _group(self, key: GroupKey) -> Group | None:
        return next((g for g in self.config.groups() if g.key == key), None)

    def _ready(self, keys: Iterable[GroupKey]) -> str | None:
        """Note ``keys`` as done; the status for READY=1 once the first round has ended."""
        return self.summary() if self._first.done(keys) else None
