"""The groups' refreshes in the daemon: one bounded fetch and one round per job run.

Every write goes through ``ecrd.round.apply_round`` (fetch -> outputs -> state), under
``lock``, which also guards the configuration and the groups' runs; no write starts once the
daemon is stopping. After each round the next attempt is scheduled (``groups``), recorded
in the state for ``ecrd status``, and reported to systemd and the metrics.
"""

from __future__ import annotations

import dataclasses
import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ecrd.config.model import Config
from ecrd.daemon.fetch import Fetcher
from ecrd.daemon.groups import (
    GroupRun,
    after_failure,
    after_success,
    rescheduled,
    restored,
    schedule,
    summary,
)
from ecrd.daemon.jobs import MAX_POOL, Jobs
from ecrd.errors import ControlError, EcrdError, TokenError
from ecrd.logs import get_logger
from ecrd.round import RoundResult, apply_round

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from datetime import datetime
    from pathlib import Path

    from ecrd.config.model import Group, GroupKey
    from ecrd.daemon.login import DesktopNotice
    from ecrd.daemon.notify import Notifier
    from ecrd.daemon.reload import ReloadPlan
    from ecrd.metrics import Metrics
    from ecrd.metrics_textfile import TextfileWriter
    from ecrd.secret import Credentials
    from ecrd.state import State, StateStore
    from ecrd.tokens.source import TokenSource

log = get_logger("ecrd")

# A stop waits this long for an output write in progress, so no temporary file is left.
STOP_GRACE_SECONDS = 1.2
# A group whose fetch ended waits at most this long for the groups still being fetched,
# so that groups due together (every group at start, a burst after a wake-up) are written
# in one round: one write per output instead of one per group. A hung group delays the
# others' write by no more than this.
GATHER_SECONDS = 0.5
_STOPPING = "the daemon is stopping; run `ecrd refresh` again once it has stopped"


class Rounds:
    """The groups, their runs and jobs; ``attempt(key)`` is one group's job."""

    def __init__(
        self,
        *,
        config_path: Path,
        source: TokenSource,
        store: StateStore,
        notifier: Notifier,
        notice: DesktopNotice,
        metrics: Metrics,
        textfile: TextfileWriter,
        clock: Callable[[], datetime],
        rand: Callable[[], float],
    ) -> None:
        self.lock = threading.Lock()
        self._written = threading.Condition(self.lock)  # a gathered round was written
        self.first_written = threading.Event()  # the first round at start was written
        self.config = Config(path=config_path)
        self._store = store
        self._notifier = notifier
        self._notice = notice
        self._metrics = metrics
        self._textfile = textfile
        self._clock = clock
        self._rand = rand
        self._runs: dict[GroupKey, GroupRun] = {}
        self._stopped = False  # set under lock: no write starts after it
        self._in_flight: set[GroupKey] = set()
        self._refetch: set[GroupKey] = set()  # changed by a reload while in flight
        # Fetched, waiting for the groups in flight to be written with them: what was
        # fetched, and the group as it was when its fetch began.
        self._gathered: dict[GroupKey, tuple[Group, Sequence[Credentials] | TokenError]] = {}
        self._first_round: set[GroupKey] | None = None  # groups READY=1 still waits for
        self._fetcher = Fetcher(source)
        self.jobs = Jobs(run_group=self.attempt, fallback=self.config.refresh.attempt_timeout * 2)

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
            self._runs = restored(config=config, state=state, now=now, rand=self._rand)
            due = [g for g in config.groups() if g.key not in self._runs]
            self._first_round = {g.key for g in due}
            for group in config.groups():
                run = self._runs.get(group.key)
                at = run.next_at if run is not None and run.next_at is not None else now
                # A group due now with run_first goes to run_first below, not to the jobs.
                self._schedule(
                    group, at, restored=run is not None, dispatch=run is not None or not run_first
                )
            if run_first:
                self.jobs.run_first([g.key for g in due])
            # With groups due, their round records the schedule: a state write now would
            # only delay it.
            if not due:
                self.first_written.set()
                self._record_schedule()
            return self._first_round_done(())

    def stop(self) -> None:
        """Stop scheduling; wait briefly for a write in progress; abandon fetches."""
        self.jobs.shutdown()
        locked = self.lock.acquire(timeout=STOP_GRACE_SECONDS)
        self._stopped = True
        if locked:
            self._written.notify_all()
            self.lock.release()
        self._fetcher.stop()

    def attempt(self, key: GroupKey) -> None:
        """One group's job: fetch (bounded), write the round, schedule the next attempt."""
        with self.lock:
            if self._stopped:
                return
            group = self._group(key)
            if group is None:  # removed from the configuration since it was scheduled
                ready = self._first_round_done([key])
            else:
                self._in_flight.add(key)
                timeout = self.config.refresh.attempt_timeout
        if group is None:
            if ready is not None:
                self._notifier.ready(ready)
            return
        fetched = self._fetcher.fetch(group, timeout=timeout)
        with self.lock:
            self._written.notify_all()
            if fetched is None or self._stopped:
                self._in_flight.discard(key)
                return
            # Still in flight for a reload until written: a change to it is fetched again.
            self._gathered[key] = (group, fetched)
            self._gather(key)
            if key not in self._gathered or self._stopped:
                return  # written with another group's round (or stopping)
            ready, summary = self._write_gathered()
        self._notifier.status(summary)
        if ready is not None:
            self._notifier.ready(ready)

    def _gather(self, key: GroupKey) -> None:
        """Wait (under ``lock``) for the groups in flight, up to ``GATHER_SECONDS``."""
        deadline = time.monotonic() + GATHER_SECONDS
        while (
            key in self._gathered
            and not self._stopped
            and any(k not in self._gathered for k in self._in_flight)
        ):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._written.wait(left)

    def _write_gathered(self) -> tuple[str | None, str]:
        """One round for every group gathered; the READY=1 status if due, and the summary."""
        gathered, self._gathered = self._gathered, {}
        self._in_flight.difference_update(gathered)
        # A reload may have changed or removed a group while it was fetched.
        current = {key: self._group(key) for key in gathered}
        live = {key: group for key, group in current.items() if group is not None}
        if live:
            result = self._round(
                list(live.values()), {key: gathered[key][1] for key in live}, fresh=list(live)
            )
            for key, group in live.items():
                self._after(group, gathered[key][1], result)
                if group != gathered[key][0] or key in self._refetch:
                    self._refetch.discard(key)
                    self._schedule(group, self._clock())
            self._record_schedule()
        self._written.notify_all()
        self.first_written.set()
        return self._first_round_done(list(gathered)), self.summary()

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
            fetched = {g.key: r for g, r in zip(groups, results, strict=True) if r is not None}
            # A reload may have changed or removed a group while it was fetched.
            live = {g.key: c for g in groups if (c := self._group(g.key)) is not None}
            result = self._round(
                list(live.values()), {k: fetched[k] for k in live}, fresh=list(live)
            )
            for key, group in live.items():
                self._after(group, fetched[key], result)
            self._record_schedule()
            self._written.notify_all()
            ready, summary = self._first_round_done(list(live)), self.summary()
        self._notifier.status(summary)
        if ready is not None:
            self._notifier.ready(ready)
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
                self._runs.pop(key, None)
                self.jobs.remove(key)
            if plan.removed:
                # Their sessions and clients go with them: nothing grows with reloads.
                self._fetcher.forget(keep=new.groups())
            for group in plan.reschedule:
                run = self._runs.get(group.key)
                again = (
                    None if run is None else rescheduled(run, policy=new.refresh, rand=self._rand)
                )
                if again is not None and group.key not in self._in_flight:
                    self._runs[group.key] = again
                    self._schedule(group, again.next_at or self._clock())
            if plan.rewrite:
                # At once and without a call: the credentials in memory go into new outputs,
                # and what left the configuration leaves the outputs.
                kept = [g for g in new.groups() if self._credentials(g.key) is not None]
                self._round(kept, {g.key: self._credentials(g.key) for g in kept}, fresh=[])  # type: ignore[misc]
            log.info("config_reloaded", config=str(new.path), **plan.summary, **(notes or {}))
            now = self._clock()
            for group in plan.fetch:
                if group.key in self._in_flight:
                    self._refetch.add(group.key)  # fetched again when the fetch in flight ends
                else:
                    self._schedule(group, now)
            if not plan.fetch:
                # Else the fetch's round records it, shortly after: a state write
                # here would only delay the outputs of the save that asked for it.
                self._record_schedule()
            ready = self._first_round_done(plan.removed)
            summary = self.summary()
        if ready is not None:
            self._notifier.ready(ready)
        return summary

    def retry_logins(self) -> None:
        """The SSO token cache changed: retry at once the groups waiting for a login."""
        with self.lock:
            now = self._clock()
            for group in self.config.groups():
                run = self._runs.get(group.key)
                if run is not None and run.needs_login and group.key not in self._in_flight:
                    self._schedule(group, now)

    def runs(self) -> dict[GroupKey, GroupRun]:
        """What the daemon keeps of each group, now."""
        with self.lock:
            return dict(self._runs)

    @property
    def first_round_done(self) -> bool:
        """True once READY=1 has been sent (the first round ended)."""
        with self.lock:
            return self._first_round is None

    def summary(self) -> str:
        """One line for `systemctl status` (under ``lock``)."""
        return summary(self.config, self._runs)

    # -- under lock ----------------------------------------------------------------------

    def _use(self, config: Config) -> None:
        self.config = config
        groups = len(config.groups())
        self.jobs.resize(groups)
        self.jobs.fallback = config.refresh.attempt_timeout * 2
        self._fetcher.resize(groups)

    def _group(self, key: GroupKey) -> Group | None:
        return next((g for g in self.config.groups() if g.key == key), None)

    def _credentials(self, key: GroupKey) -> tuple[Credentials, ...] | None:
        run = self._runs.get(key)
        return None if run is None else run.credentials

    def _round(
        self,
        groups: Sequence[Group],
        fetched: Mapping[GroupKey, Sequence[Credentials] | TokenError],
        *,
        fresh: Iterable[GroupKey],
    ) -> RoundResult | None:
        config = self.config
        try:
            result = apply_round(
                config=config,
                store=self._store,
                groups=groups,
                fetched=fetched,
                fresh=list(fresh),
                now=self._clock(),
            )
        except EcrdError as exc:
            log.error("round_failed", error=str(exc))
            return None
        except Exception:  # a bug, with its traceback: the group is retried, not dropped
            log.exception("round_failed")
            return None
        # After the outputs: a metrics write that fails never stops a login from being written.
        self._metrics.observe_round(result)
        self._textfile.write(config.metrics.textfile)
        return result

    def _after(
        self, group: Group, fetched: Sequence[Credentials] | TokenError, result: RoundResult | None
    ) -> None:
        run = self._runs.get(group.key, GroupRun())
        now, policy = self._clock(), self.config.refresh
        if isinstance(fetched, TokenError) or result is None:
            error = fetched if isinstance(fetched, TokenError) else None
            new = after_failure(run, error=error, now=now, policy=policy, rand=self._rand)
            if new.needs_login and not run.needs_login:
                # Retrying cannot help until a person logs in: the SSO cache watch (or
                # retry_max, for other kinds of login) brings the next try.
                log.error(
                    "login_needed", group=group.name, hosts=list(group.hosts), error=str(error)
                )
                self._notice.show("ecrd: AWS login needed", str(error))
        else:
            if run.needs_login:
                log.info("login_restored", group=group.name, hosts=list(group.hosts))
            new = after_success(credentials=fetched, now=now, policy=policy, rand=self._rand)
        self._runs[group.key] = new
        self._schedule(group, new.next_at or now)

    def _schedule(
        self, group: Group, at: datetime, *, restored: bool = False, dispatch: bool = True
    ) -> None:
        run = self._runs.get(group.key, GroupRun())
        self._runs[group.key] = dataclasses.replace(run, next_at=at)
        if dispatch:
            self.jobs.schedule(group.key, at)
        log.info(
            "refresh_scheduled",
            group=group.name,
            hosts=list(group.hosts),
            at=at.isoformat(),
            restored=restored,
        )

    def _record_schedule(self) -> None:
        try:
            self._store.record_schedule(next_refresh=schedule(self.config, self._runs))
        except EcrdError as exc:
            log.error("state_failed", error=str(exc))

    def _first_round_done(self, keys: Iterable[GroupKey]) -> str | None:
        """Note ``keys`` as done; the status for READY=1 once the first round has ended."""
        if self._first_round is None:
            return None
        self._first_round.difference_update(keys)
        if self._first_round:
            return None
        self._first_round = None
        # What the start built (modules, botocore's models and clients) lives as long as the
        # daemon: out of the collector's sight, a full collection no longer walks it, which
        # was a visible pause in the middle of a reload.
        gc.freeze()
        return self.summary()
