"""`ecrd run`: refresh each group ahead of expiry, hot-reload, report to systemd.

One APScheduler date job per group, rescheduled after every attempt: ahead of expiry after a
success, with backoff after a failure. Fetches run in the scheduler's thread pool, so a slow
endpoint holds up only its own group; writes are serialised by ``_round_lock`` (and the
state directory's lock, against other ecrd processes).
"""

from __future__ import annotations

import os
import queue
import random
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from ecrd.config import load_config
from ecrd.config.model import Config, Group, GroupKey
from ecrd.errors import ConfigError, EcrdError, TokenError
from ecrd.notify import Notifier
from ecrd.refresh import RoundResult, write_round
from ecrd.reload import ConfigWatch
from ecrd.schedule import next_refresh, retry_delay
from ecrd.tokens import Credentials, TokenSource, fetch_all

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path
    from types import FrameType

    from ecrd.state import StateStore

log = structlog.get_logger("ecrd")

# How often the daemon checks the wall clock against the monotonic one. Timers sleep on the
# monotonic clock, which stands still while a laptop sleeps: without this check an overdue
# refresh would wait for the rest of its original delay after the laptop wakes.
CLOCK_CHECK = timedelta(seconds=60)
CLOCK_JUMP = timedelta(seconds=2)
# A stop waits this long for an output write in progress, so no temporary file is left.
STOP_GRACE_SECONDS = 1.5
_PARALLEL_REFRESHES = 10


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _GroupRun:
    """What the daemon knows of one group between refreshes."""

    credentials: Sequence[Credentials] | None = None
    failures: int = 0
    refreshed_at: datetime | None = None
    next_at: datetime | None = None


class Daemon:
    """The long-running refresher; ``run()`` blocks until SIGTERM or SIGINT."""

    def __init__(
        self,
        *,
        config_path: Path,
        source: TokenSource,
        store: StateStore,
        notifier: Notifier | None = None,
        rand: Callable[[], float] = random.random,
        clock_check: timedelta = CLOCK_CHECK,
    ) -> None:
        self._path = config_path
        self._source = source
        self._store = store
        self._notifier = notifier or Notifier()
        self._rand = rand
        self._clock_check = clock_check
        self._commands: queue.Queue[str] = queue.Queue()
        self._round_lock = threading.Lock()
        self._config = Config(path=config_path)
        self._config_text: bytes | None = None
        self._runs: dict[GroupKey, _GroupRun] = {}
        self._clock_offset = time.time() - time.monotonic()
        self._scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            executors={"default": ThreadPoolExecutor(_PARALLEL_REFRESHES)},
            # A missed run (the laptop slept) runs once, as soon as it is seen.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._watch = ConfigWatch(config_path, lambda: self._commands.put("reload"))

    # -- lifecycle -----------------------------------------------------------------------

    def run(self) -> int:
        """Start, serve until a stop signal, stop. Returns the exit code."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_signal)
        self.start()
        while True:
            command = self._commands.get()
            if command == "stop":
                break
            if command == "reload":
                self.reload()
        self.stop()
        return 0

    def start(self) -> None:
        """Load the configuration, do the first round, and begin scheduling.

        Raises:
            ConfigError: the configuration exists but is invalid.
        """
        config = self._load_at_start()
        self._scheduler.start()
        with self._round_lock:
            self._config = config
            due = self._restore(config)
        log.info(
            "daemon_started",
            config=str(self._path),
            groups=len(config.groups()),
            hosts=sum(len(g.hosts) for g in config.groups()),
            pid=os.getpid(),
        )
        self._refresh_now(due, everything=True)
        self._watch.start()
        self._scheduler.add_job(
            self._check_clock, "interval", seconds=self._clock_check.total_seconds(), id="clock"
        )
        interval = self._notifier.watchdog_interval
        if interval is not None:
            self._notifier.watchdog()
            self._scheduler.add_job(
                self._notifier.watchdog, "interval", seconds=interval.total_seconds(), id="watchdog"
            )
        self._notifier.ready(self._summary())

    def request_stop(self) -> None:
        """Ask ``run()`` to stop (from any thread)."""
        self._commands.put("stop")

    def request_reload(self) -> None:
        """Ask ``run()`` to reload the configuration (from any thread)."""
        self._commands.put("reload")

    def stop(self) -> None:
        """Stop scheduling and watching; wait briefly for a write in progress."""
        log.info("daemon_stopping")
        self._notifier.stopping()
        self._watch.stop()
        self._scheduler.shutdown(wait=False)
        # Fetches in flight are abandoned; a write in flight is let finish, so that no
        # temporary file is left and no output is half-replaced.
        if self._round_lock.acquire(timeout=STOP_GRACE_SECONDS):
            self._round_lock.release()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._commands.put("reload" if signum == signal.SIGHUP else "stop")

    def _load_at_start(self) -> Config:
        try:
            config = load_config(self._path)
        except ConfigError:
            if self._path.exists():
                raise
            # Not there yet (a ConfigMap still mounting, a laptop before setup): wait for it.
            log.warning("config_missing", config=str(self._path))
            self._record_config_error(f"{self._path}: the configuration file does not exist")
            return Config(path=self._path)
        self._config_text = _read(self._path)
        self._record_config_error(None)
        return config

    # -- scheduling ----------------------------------------------------------------------

    def _restore(self, config: Config) -> list[Group]:
        """Schedule groups whose recorded tokens are still fresh; return the others."""
        state = self._store.read()
        now = _utcnow()
        paths = {str(o.path) for o in config.outputs}
        due: list[Group] = []
        for group in config.groups():
            hosts = [state.hosts.get(h) for h in group.hosts] if state else []
            if not hosts or any(
                h is None
                or h.expires_at is None
                or h.refreshed_at is None
                or h.expires_at <= now
                or h.last_error is not None
                or not paths <= set(h.outputs)
                for h in hosts
            ):
                due.append(group)
                continue
            run = self._runs.setdefault(group.key, _GroupRun())
            run.refreshed_at = min(h.refreshed_at for h in hosts if h and h.refreshed_at)
            expires_at = min(h.expires_at for h in hosts if h and h.expires_at)
            self._schedule(group, self._after_success(run, expires_at), restored=True)
        return due

    def _after_success(self, run: _GroupRun, expires_at: datetime) -> datetime:
        assert run.refreshed_at is not None  # noqa: S101 - set by every caller
        return next_refresh(
            expires_at=expires_at,
            policy=self._config.refresh,
            refreshed_at=run.refreshed_at,
            rand=self._rand,
        )

    def _schedule(self, group: Group, at: datetime, *, restored: bool = False) -> None:
        self._runs.setdefault(group.key, _GroupRun()).next_at = at
        self._scheduler.add_job(
            self._refresh_job,
            "date",
            run_date=at,
            args=[group.key],
            id=group.name,
            replace_existing=True,
        )
        log.info(
            "refresh_scheduled",
            group=group.name,
            hosts=list(group.hosts),
            at=at.isoformat(),
            restored=restored,
        )

    def _refresh_job(self, key: GroupKey) -> None:
        group = self._group(key)
        if group is not None:
            self._refresh_now([group])

    def _refresh_now(self, groups: Sequence[Group], *, everything: bool = False) -> None:
        """Fetch ``groups`` concurrently, then write every output once.

        With ``everything``, the groups whose tokens are in memory are written too (into a
        new output, after a reload); what left the configuration is removed in any case.
        """
        fetched = fetch_all(self._source, groups)
        with self._round_lock:
            config = self._config
            current = {g.key: g for g in config.groups()}
            # A group removed or changed while it was being fetched is dealt with by the
            # reload that did it.
            done = [current[g.key] for g in groups if g.key in current]
            results: dict[GroupKey, Sequence[Credentials] | TokenError] = {
                g.key: fetched[g.key] for g in done
            }
            kept: list[Group] = []
            if everything:
                for group in current.values():
                    run = self._runs.get(group.key)
                    if group.key not in results and run and run.credentials is not None:
                        kept.append(group)
                        results[group.key] = run.credentials
            try:
                result = write_round(
                    config=config,
                    store=self._store,
                    groups=[*done, *kept],
                    fetched=results,
                    now=_utcnow(),
                    fresh=[g.key for g in done],
                )
            except EcrdError as exc:
                log.error("round_failed", error=str(exc))
                result = None
            for group in done:
                self._after_round(group, fetched[group.key], result)
        self._notifier.status(self._summary())

    def _after_round(
        self, group: Group, fetched: Sequence[Credentials] | TokenError, result: RoundResult | None
    ) -> None:
        run = self._runs.setdefault(group.key, _GroupRun())
        now = _utcnow()
        if isinstance(fetched, TokenError) or result is None:
            run.failures += 1
            self._schedule(
                group,
                now
                + retry_delay(failures=run.failures, policy=self._config.refresh, rand=self._rand),
            )
            return
        run.failures = 0
        run.credentials = fetched
        run.refreshed_at = now
        self._schedule(group, self._after_success(run, min(c.expires_at for c in fetched)))

    def _group(self, key: GroupKey) -> Group | None:
        with self._round_lock:
            return next((g for g in self._config.groups() if g.key == key), None)

    def _check_clock(self) -> None:
        offset = time.time() - time.monotonic()
        jump = offset - self._clock_offset
        self._clock_offset = offset
        if abs(jump) >= CLOCK_JUMP.total_seconds():
            # The laptop slept or the clock was set: overdue jobs run as the scheduler wakes.
            log.info("clock_jumped", seconds=round(jump, 1))
            self._scheduler.wakeup()

    # -- reload --------------------------------------------------------------------------

    def reload(self) -> None:
        """Apply the configuration file's changes, or keep the last good configuration."""
        text = _read(self._path)
        if text == self._config_text and text is not None:
            return
        self._notifier.reloading()
        try:
            new = load_config(self._path)
        except ConfigError as exc:
            log.error("config_rejected", config=str(self._path), errors=list(exc.errors))
            self._record_config_error(str(exc))
            self._notifier.ready(
                f"configuration rejected, running on the last good one: {exc.errors[0]}"
            )
            return
        self._config_text = text
        self._record_config_error(None)
        with self._round_lock:
            old = self._config
            self._config = new
            changed, removed = _diff(old, new)
            for key in removed:
                self._runs.pop(key, None)
                if self._scheduler.get_job(key.name) is not None:
                    self._scheduler.remove_job(key.name)
            if old.refresh != new.refresh:
                self._reschedule_unchanged(new, changed)
            outputs_added = {o.path for o in new.outputs} - {o.path for o in old.outputs}
            if outputs_added:
                # A new output needs every group's credentials; those not in memory are fetched.
                changed += [
                    g
                    for g in new.groups()
                    if g not in changed and self._runs.get(g.key, _GroupRun()).credentials is None
                ]
        log.info(
            "config_reloaded",
            config=str(self._path),
            refreshed=[g.name for g in changed],
            removed=[k.name for k in removed],
        )
        self._refresh_now(changed, everything=True)
        self._notifier.ready(self._summary())

    def _reschedule_unchanged(self, config: Config, changed: Sequence[Group]) -> None:
        for group in config.groups():
            run = self._runs.get(group.key)
            if group in changed or run is None or run.failures or run.refreshed_at is None:
                continue
            if run.credentials is not None:
                expires_at = min(c.expires_at for c in run.credentials)
                self._schedule(group, self._after_success(run, expires_at))

    def _record_config_error(self, error: str | None) -> None:
        try:
            with self._store.transaction() as state:
                state.config_error = error
        except EcrdError as exc:
            log.error("state_failed", error=str(exc))

    def _summary(self) -> str:
        hosts = sum(len(g.hosts) for g in self._config.groups())
        failing = [k.name for k, r in self._runs.items() if r.failures]
        upcoming = [r.next_at for r in self._runs.values() if r.next_at]
        summary = f"{hosts} hosts in {len(self._config.groups())} groups"
        if failing:
            summary += f", {len(failing)} failing ({', '.join(failing)})"
        if upcoming:
            summary += f", next refresh {min(upcoming):%Y-%m-%d %H:%M:%S}Z"
        return summary


def _diff(old: Config, new: Config) -> tuple[list[Group], list[GroupKey]]:
    """Groups that are new or changed, and keys of groups that are gone."""
    before: Mapping[GroupKey, Group] = {g.key: g for g in old.groups()}
    after = new.groups()
    changed = [g for g in after if before.get(g.key) != g]
    keys = {g.key for g in after}
    removed = [k for k in before if k not in keys]
    return changed, removed


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
