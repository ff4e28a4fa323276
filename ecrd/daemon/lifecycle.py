"""`ecrd run`: refresh each group ahead of expiry, hot-reload, report to systemd.

One APScheduler date job per group, rescheduled after every attempt: ahead of expiry after a
success, with backoff after a failure. The first round, and the groups a reload adds or
changes, are such jobs too, due at once: the main thread only waits for signals and reloads,
and a slow endpoint holds up only its own group. Each fetch runs in a daemon thread that a
stop abandons, so a hanging endpoint cannot delay the exit. Writes are serialised by
``_round_lock`` (and the state directory's lock, against other ecrd processes); none starts
once the daemon is stopping.
"""

from __future__ import annotations

import logging
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
from ecrd.daemon.groups import next_refresh, retry_delay
from ecrd.daemon.login import NEEDS_LOGIN, DesktopNotice, sso_cache_dir
from ecrd.daemon.notify import Notifier
from ecrd.daemon.watch import ConfigWatch
from ecrd.errors import ConfigError, EcrdError, TokenError
from ecrd.round import RoundResult, apply_round

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path
    from types import FrameType

    from ecrd.secret import Credentials
    from ecrd.state import StateStore
    from ecrd.tokens.source import TokenSource

log = structlog.get_logger("ecrd")

# How often the daemon checks the wall clock against the monotonic one. Timers sleep on the
# monotonic clock, which stands still while a laptop sleeps: without this check an overdue
# refresh would wait for the rest of its original delay after the laptop wakes.
CLOCK_CHECK = timedelta(seconds=60)
CLOCK_JUMP = timedelta(seconds=2)
# A stop waits this long for an output write in progress, so no temporary file is left.
STOP_GRACE_SECONDS = 1.5
_PARALLEL_REFRESHES = 10
# What a fetch's waiter receives when the daemon stops before the fetch ends.
_STOPPING = object()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class _SchedulerLogs(logging.Handler):
    """APScheduler's warnings and errors (a run skipped, a job that raised) as our events.

    Without it they reach stderr through logging's last resort, as plain text among the
    JSON lines that journald and launchd collect.
    """

    def emit(self, record: logging.LogRecord) -> None:
        log.log(
            record.levelno,
            "scheduler_reported",
            logger=record.name,
            message=record.getMessage(),
            exc_info=record.exc_info or False,
        )


def _route_scheduler_logs() -> None:
    scheduler_log = logging.getLogger("apscheduler")
    if not any(isinstance(h, _SchedulerLogs) for h in scheduler_log.handlers):
        scheduler_log.addHandler(_SchedulerLogs(logging.WARNING))
    scheduler_log.setLevel(logging.WARNING)  # its info messages: every job run, twice
    scheduler_log.propagate = False


@dataclass
class _GroupRun:
    """What the daemon knows of one group between refreshes."""

    credentials: Sequence[Credentials] | None = None
    failures: int = 0
    refreshed_at: datetime | None = None
    next_at: datetime | None = None
    needs_login: bool = False


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
        notice: DesktopNotice | None = None,
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
        self._rejected = False  # the file on disk is invalid; running on the last good one
        self._stopped = False  # set under _round_lock: no write starts after it
        self._first_round: set[GroupKey] | None = None  # groups READY=1 still waits for
        self._in_flight: set[GroupKey] = set()  # groups being fetched (under _round_lock)
        self._fetch_lock = threading.Lock()
        self._waiting: set[queue.Queue[object]] = set()  # fetches in flight, woken by stop
        self._scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            # Refreshes can hang on an endpoint; the clock check and watchdog pings cannot.
            executors={
                "default": ThreadPoolExecutor(_PARALLEL_REFRESHES),
                "housekeeping": ThreadPoolExecutor(1),
            },
            # A missed run (the laptop slept) runs once, as soon as it is seen.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._watch = ConfigWatch(config_path, lambda: self._commands.put("reload"))
        # `aws sso login` writes its token here: a group waiting for a login retries at once.
        self._login_watch = ConfigWatch(
            sso_cache_dir() / "token.json", lambda: self._commands.put("login")
        )
        self._notice = notice or DesktopNotice()

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
            elif command == "login":
                self._retry_logins()
        self.stop()
        return 0

    def start(self) -> None:
        """Load the configuration, do the first round, and begin scheduling.

        Raises:
            ConfigError: the configuration exists but is invalid.
        """
        config = self._load_at_start()
        _route_scheduler_logs()
        self._scheduler.start()
        interval = self._notifier.watchdog_interval
        if interval is not None:
            self._notifier.watchdog()
            self._scheduler.add_job(
                self._notifier.watchdog,
                "interval",
                seconds=interval.total_seconds(),
                id="watchdog",
                executor="housekeeping",
            )
        self._scheduler.add_job(
            self._check_clock,
            "interval",
            seconds=self._clock_check.total_seconds(),
            id="clock",
            executor="housekeeping",
        )
        with self._round_lock:
            self._config = config
            due = self._restore(config)
            # The first round: one job per group, due now; READY=1 once all have ended.
            self._first_round = {g.key for g in due}
            log.info(
                "daemon_started",
                config=str(self._path),
                groups=len(config.groups()),
                hosts=sum(len(g.hosts) for g in config.groups()),
                pid=os.getpid(),
            )
            now = _utcnow()
            for group in due:
                self._schedule(group, now)
            ready = self._first_round_done(())
        self._watch.start()
        self._login_watch.start()
        if _read(self._path) != self._config_text:
            # Created or changed between the load and the start of the watch, unseen by it.
            self.request_reload()
        if ready is not None:
            self._notifier.ready(ready)

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
        self._login_watch.stop()
        self._scheduler.shutdown(wait=False)
        # A write in flight is let finish, so that no temporary file is left and no output
        # is half-replaced; none starts after this. Fetches in flight are abandoned.
        locked = self._round_lock.acquire(timeout=STOP_GRACE_SECONDS)
        self._stopped = True
        if locked:
            self._round_lock.release()
        with self._fetch_lock:
            for waiting in self._waiting:
                waiting.put(_STOPPING)

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
            # The job schedules its successor before it returns; a successor due at once
            # (a retry without delay, a refetch after a reload) must not be skipped as a
            # second instance, or the group would never be refreshed again. Two fetches of
            # one group never overlap: nothing schedules a group while it is in flight.
            max_instances=2,
        )
        log.info(
            "refresh_scheduled",
            group=group.name,
            hosts=list(group.hosts),
            at=at.isoformat(),
            restored=restored,
        )

    def _refresh_job(self, key: GroupKey) -> None:
        with self._round_lock:
            group = next((g for g in self._config.groups() if g.key == key), None)
            if group is None:  # removed from the configuration since it was scheduled
                ready = self._first_round_done([key])
            else:
                self._in_flight.add(key)
        if group is None:
            if ready is not None:
                self._notifier.ready(ready)
            return
        fetched = self._fetch(group)
        if fetched is not None:
            self._write(group, fetched)

    def _fetch(self, group: Group) -> Sequence[Credentials] | TokenError | None:
        """Fetch ``group``'s credentials in a daemon thread; None when the daemon stops first.

        The thread is abandoned at a stop: a hanging endpoint cannot hold up the exit (the
        interpreter waits for pool threads, not for daemon threads).
        """
        answer: queue.Queue[object] = queue.Queue()

        def fetch() -> None:
            result: Sequence[Credentials] | TokenError
            try:
                result = self._source.fetch(group)
            except TokenError as exc:
                result = exc
            except Exception as exc:  # a bug: retried with backoff, not fatal to the group
                log.exception("refresh_crashed", group=group.name, hosts=list(group.hosts))
                msg = f"group {group.name}: internal error ({type(exc).__name__}); see the log"
                result = TokenError(msg, code="InternalError")
            answer.put(result)

        with self._fetch_lock:
            if self._stopped:
                return None
            self._waiting.add(answer)
        try:
            threading.Thread(target=fetch, name=f"ecrd-fetch {group.name}", daemon=True).start()
            result = answer.get()
        finally:
            with self._fetch_lock:
                self._waiting.discard(answer)
        if result is _STOPPING:
            return None
        return result  # type: ignore[return-value]

    def _write(self, group: Group, fetched: Sequence[Credentials] | TokenError) -> None:
        """Write what ``group`` fetched into every output, then schedule its next refresh."""
        with self._round_lock:
            if self._stopped:
                return
            # A group removed or changed while it was being fetched is dealt with by the
            # reload that did it.
            self._in_flight.discard(group.key)
            current = next((g for g in self._config.groups() if g.key == group.key), None)
            if current is not None:
                result = self._write_round([current], {group.key: fetched})
                self._after_round(current, fetched, result)
                if current != group:
                    # A reload changed the group (a registry added) while it was fetched;
                    # it left the refetch to this job, which could not run twice at once.
                    self._schedule(current, _utcnow())
            ready = self._first_round_done([group.key])
            summary = self._summary()
        self._notifier.status(summary)
        if ready is not None:
            self._notifier.ready(ready)

    def _write_round(
        self,
        done: Sequence[Group],
        fetched: Mapping[GroupKey, Sequence[Credentials] | TokenError],
        *,
        everything: bool = False,
    ) -> RoundResult | None:
        """Write ``fetched`` for ``done`` (and, with ``everything``, every group in memory).

        What left the configuration is removed from the outputs in any case. Holds
        ``_round_lock``.
        """
        results = dict(fetched)
        kept: list[Group] = []
        if everything:
            for group in self._config.groups():
                run = self._runs.get(group.key)
                if group.key not in results and run and run.credentials is not None:
                    kept.append(group)
                    results[group.key] = run.credentials
        try:
            return apply_round(
                config=self._config,
                store=self._store,
                groups=[*done, *kept],
                fetched=results,
                now=_utcnow(),
                fresh=[g.key for g in done],
            )
        except EcrdError as exc:
            log.error("round_failed", error=str(exc))
            return None
        except Exception:  # a bug, with its traceback: the group is retried, not dropped
            log.exception("round_failed")
            return None

    def _first_round_done(self, keys: Iterable[GroupKey]) -> str | None:
        """Note ``keys`` as done; the status for READY=1 once the first round has ended."""
        if self._first_round is None:
            return None
        self._first_round.difference_update(keys)
        if self._first_round:
            return None
        self._first_round = None
        return self._summary()

    def _after_round(
        self, group: Group, fetched: Sequence[Credentials] | TokenError, result: RoundResult | None
    ) -> None:
        run = self._runs.setdefault(group.key, _GroupRun())
        now = _utcnow()
        if isinstance(fetched, TokenError) and fetched.code == NEEDS_LOGIN:
            # Retrying cannot help until a person logs in: the SSO cache watch (or retry_max,
            # for other kinds of login) brings the next try.
            run.failures += 1
            if not run.needs_login:
                run.needs_login = True
                log.error(
                    "login_needed", group=group.name, hosts=list(group.hosts), error=str(fetched)
                )
                self._notice.show("ecrd: AWS login needed", str(fetched))
            policy = self._config.refresh
            self._schedule(group, now + retry_delay(failures=64, policy=policy, rand=self._rand))
            return
        if isinstance(fetched, TokenError) or result is None:
            run.failures += 1
            self._schedule(
                group,
                now
                + retry_delay(failures=run.failures, policy=self._config.refresh, rand=self._rand),
            )
            return
        if run.needs_login:
            log.info("login_restored", group=group.name, hosts=list(group.hosts))
        run.needs_login = False
        run.failures = 0
        run.credentials = fetched
        run.refreshed_at = now
        self._schedule(group, self._after_success(run, min(c.expires_at for c in fetched)))

    def _retry_logins(self) -> None:
        """The SSO token cache changed: retry at once the groups waiting for a login."""
        with self._round_lock:
            waiting = [
                g for g in self._config.groups() if self._runs.get(g.key, _GroupRun()).needs_login
            ]
            now = _utcnow()
            for group in waiting:
                self._schedule(group, now)

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
        if text == self._config_text and text is not None and not self._rejected:
            log.debug("config_unchanged", config=str(self._path))
            return
        # RELOADING=1 ... READY=1 only once started: READY=1 still means "first round done".
        announce = self._first_round is None
        if announce:
            self._notifier.reloading()
        if text == self._config_text and text is not None:
            # The last good configuration is back (a save reverted, a file recreated): the
            # rejection no longer holds, and there is nothing else to apply.
            self._rejected = False
            self._record_config_error(None)
            log.info("config_reloaded", config=str(self._path), refreshed=[], removed=[])
            with self._round_lock:
                summary = self._summary()
        else:
            try:
                summary = self._apply(load_config(self._path), text)
            except ConfigError as exc:
                log.error("config_rejected", config=str(self._path), errors=list(exc.errors))
                self._rejected = True
                self._record_config_error(str(exc))
                summary = f"configuration rejected, running on the last good one: {exc.errors[0]}"
        if announce:
            self._notifier.ready(summary)
        else:
            self._notifier.status(summary)

    def _apply(self, new: Config, text: bytes | None) -> str:
        """Swap in a valid configuration and apply the difference; returns the status line."""
        self._config_text = text
        self._rejected = False
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
            hosts_removed = {h for g in old.groups() for h in g.hosts} - {
                h for g in new.groups() for h in g.hosts
            }
            if old.outputs != new.outputs or hosts_removed:
                # At once and without a call: the credentials in memory go into new outputs,
                # and what left the configuration leaves the outputs.
                self._write_round([], {}, everything=True)
            log.info(
                "config_reloaded",
                config=str(self._path),
                refreshed=[g.name for g in changed],
                removed=[k.name for k in removed],
            )
            # New and changed groups are fetched at once, each in its own job; one being
            # fetched now is fetched again when that ends (see _write).
            now = _utcnow()
            for group in changed:
                if group.key not in self._in_flight:
                    self._schedule(group, now)
            ready = self._first_round_done(removed)
            summary = self._summary()
        if ready is not None:
            self._notifier.ready(ready)
        return summary

    def _reschedule_unchanged(self, config: Config, changed: Sequence[Group]) -> None:
        for group in config.groups():
            run = self._runs.get(group.key)
            if (
                group in changed
                or group.key in self._in_flight
                or run is None
                or run.failures
                or run.refreshed_at is None
            ):
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
