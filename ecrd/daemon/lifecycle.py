"""`ecrd run`: start, serve until a stop signal, stop; reloads on SIGHUP and file changes.

The main thread only waits: signal handlers and watches set a flag and write one byte to a
pipe (nothing that takes a lock, so a burst of thousands of signals cannot deadlock or
recurse), and the main thread wakes on the pipe, reads the flags, and reloads once for any
number of requests; once a minute it also compares the wall clock with the monotonic one.
The groups' refreshes run in the scheduler's jobs (``rounds``, ``jobs``).
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import select
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ecrd.config import load_config
from ecrd.config.model import Config
from ecrd.daemon.control import ControlServer
from ecrd.daemon.listener import MetricsListener
from ecrd.daemon.login import DesktopNotice, sso_cache_dir
from ecrd.daemon.notify import Notifier
from ecrd.daemon.reload import plan_reload
from ecrd.daemon.rounds import Rounds
from ecrd.daemon.watch import POLL_SECONDS, ConfigWatch
from ecrd.errors import ConfigError, EcrdError
from ecrd.files import MAX_SIZE
from ecrd.files.regular import read_regular
from ecrd.logs import get_logger
from ecrd.metrics import Metrics
from ecrd.metrics_textfile import TextfileWriter

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from types import FrameType

    from ecrd.daemon.seams import MetricsSink, Notice, Supervisor
    from ecrd.ecr.source import TokenSource
    from ecrd.state import State, StateStore

log = get_logger("ecrd")

# How often the daemon checks the wall clock against the monotonic one. Timers sleep on the
# monotonic clock, which stands still while a laptop sleeps: without this check an overdue
# refresh would wait for the rest of its original delay after the laptop wakes.
CLOCK_CHECK = timedelta(seconds=60)
CLOCK_JUMP = timedelta(seconds=2)
# The scheduler starts when the first round is written, or after this.
FIRST_ROUND_WAIT = timedelta(seconds=1)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class _Wakeup:
    """Flags for the main thread, set from signal handlers and other threads, and its pipe."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.stop = False
        self.reload = False
        self.login = False

    def set(self, flag: str) -> None:
        """Raise ``flag`` and wake the main thread; safe in a signal handler."""
        setattr(self, flag, True)
        with contextlib.suppress(OSError):  # the pipe is full: a wake-up is pending anyway
            os.write(self._write, b"\0")

    def wait(self, timeout: float) -> None:
        """Block until woken or ``timeout`` seconds have passed; drain the pipe."""
        select.select([self._read], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 4096):
                pass

    def wake_on_signals(self) -> None:
        """Have every signal write to the pipe, whichever thread the kernel delivers it to.

        Python runs its handlers in the main thread, but the kernel may deliver the signal
        to another thread (one is chosen when the main thread already has one pending): the
        main thread's select() is then never interrupted, and without this byte a SIGTERM
        would wait for the next wake-up to be seen. Main thread only.
        """
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)

    def close(self) -> None:
        """Release the pipe (and the signals' hold on it)."""
        with contextlib.suppress(ValueError):  # not the main thread: it was never set
            previous = signal.set_wakeup_fd(-1)
            if previous != self._write:
                signal.set_wakeup_fd(previous)  # another's: left as it was
        os.close(self._read)
        os.close(self._write)


class Daemon:
    """The long-running refresher; ``run()`` blocks until SIGTERM or SIGINT."""

    def __init__(
        self,
        *,
        config_path: Path,
        source: TokenSource,
        store: StateStore,
        notifier: Supervisor | None = None,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = _utcnow,
        clock_check: timedelta = CLOCK_CHECK,
        notice: Notice | None = None,
        metrics: MetricsSink | None = None,
        watch_poll: float = POLL_SECONDS,
        control: socket.socket | None = None,
        wait_for_valid_config: bool = False,
    ) -> None:
        self._path = config_path
        self._store = store
        self._notifier: Supervisor = notifier or Notifier()
        self._metrics: MetricsSink = metrics or Metrics(config=config_path)
        self._textfile = TextfileWriter(metrics=self._metrics, store=store)
        self._listener = MetricsListener(self._metrics)
        self._clock_check = clock_check
        self._wakeup = _Wakeup()
        self._config_text: bytes | None = None
        self._rejected = False  # the file on disk is invalid; running on the last good one
        self._no_config_error_recorded = False  # the state says no error, as last written
        self._started = False  # READY=1 sent: a reload is announced with RELOADING=1
        self._clock_offset = time.time() - time.monotonic()
        # An invalid file at start is waited for (as a missing one) instead of exit 2: for
        # launchd, which would start ecrd again and again while the file stays wrong.
        self._wait_for_valid_config = wait_for_valid_config
        self._rejected_at_start: bytes | None = None
        self._control = control
        self._control_server: ControlServer | None = None
        self.rounds = Rounds(
            config_path=config_path,
            source=source,
            store=store,
            notifier=self._notifier,
            notice=notice or DesktopNotice(),
            metrics=self._metrics,
            textfile=self._textfile,
            clock=clock,
            rand=rand,
        )
        self._watch = ConfigWatch(
            config_path, lambda: self._wakeup.set("reload"), poll_interval=watch_poll
        )
        # `aws sso login` writes its token here: a group waiting for a login retries at once.
        self._login_watch = ConfigWatch(
            sso_cache_dir() / "token.json",
            lambda: self._wakeup.set("login"),
            poll_interval=watch_poll,
        )

    def run(self) -> int:
        """Start, serve until a stop signal, stop. Returns the exit code."""
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self._wakeup.wake_on_signals()
        self.start()
        check_every = self._clock_check.total_seconds()
        next_check = time.monotonic() + check_every
        try:
            while True:
                self._wakeup.wait(max(next_check - time.monotonic(), 0))
                if time.monotonic() >= next_check:
                    # Here rather than as a scheduler job: the idle daemon wakes once a
                    # minute for a subtraction, not for a round of the scheduler's jobs.
                    self._check_clock()
                    next_check = time.monotonic() + check_every
                if self._wakeup.stop:
                    break
                if self._wakeup.reload:
                    self._wakeup.reload = False
                    self.reload()
                if self._wakeup.login:
                    self._wakeup.login = False
                    self.rounds.retry_logins()
        finally:
            self.stop()
            self._wakeup.close()
        return 0

    def start(self, *, run_jobs: bool = True) -> None:
        """Load the configuration, schedule the first round, and begin serving.

        ``run_jobs=False`` leaves the scheduler paused: a test runs the jobs by hand.

        Raises:
            ConfigError: the configuration exists but is invalid (unless the daemon was
                made to wait for a valid one).
            EcrdError: the metrics port is in use (exit code 2).
        """
        config = self._load_at_start()
        # The modules and the configuration live as long as the daemon: out of the cyclic
        # collector's sight (again after the first round, see Rounds).
        gc.freeze()
        self._listener.start(config.metrics)
        jobs = self.rounds.jobs
        interval = self._notifier.watchdog_interval
        if interval is not None:
            # A scheduler job: the pings stop when the scheduler is stuck, not when a group is.
            self._notifier.watchdog()
            jobs.every("watchdog", self._notifier.watchdog, interval)
        log.info(
            "daemon_started",
            config=str(self._path),
            groups=len(config.groups()),
            hosts=sum(len(g.hosts) for g in config.groups()),
            pid=os.getpid(),
        )
        self._watch.start()
        self._login_watch.start()
        if _read(self._path) not in (self._config_text, self._rejected_at_start):
            # Created or changed between the load and the start of the watch, unseen by it.
            self._wakeup.set("reload")
        state = self._read_state()
        # Every host restored from the state is in the metrics before any round runs.
        self._metrics.observe_state(state)
        self._textfile.known(state)
        ready = self.rounds.begin(config, state, run_first=run_jobs)
        self._textfile.write(config.metrics.textfile)
        if run_jobs:
            # The scheduler (its import, its threads) waits for the first round's write:
            # the outputs come first. What is scheduled meanwhile waits for it.
            self.rounds.first_written.wait(FIRST_ROUND_WAIT.total_seconds())
        jobs.start(paused=not run_jobs)
        if ready is not None:
            self._notifier.ready(ready)
        if self._control is not None:
            # `ecrd refresh` beside the daemon: this daemon refreshes, in one round.
            self._control_server = ControlServer(self._control, refresh=self.rounds.refresh_now)
            self._control_server.start()

    def stop(self) -> None:
        """Stop scheduling and watching; wait briefly for a write in progress."""
        log.info("daemon_stopping")
        if self._control_server is not None:
            self._control_server.stop()
        self._notifier.stopping()
        self._watch.stop()
        self._login_watch.stop()
        self.rounds.stop()
        self._listener.stop()
        _end_children()

    def reload(self) -> None:
        """Apply the configuration file's changes, or keep the last good configuration."""
        text = _read(self._path)
        if text == self._config_text and text is not None and not self._rejected:
            log.debug("config_unchanged", config=str(self._path))
            return
        # RELOADING=1 ... READY=1 only once started: READY=1 still means "first round done".
        announce = self.rounds.first_round_done
        if announce:
            self._notifier.reloading()
        if text == self._config_text and text is not None:
            # The last good configuration is back (a save reverted, a file recreated): the
            # rejection no longer holds, and there is nothing else to apply.
            self._accepted(text, self.rounds.config)
            log.info("config_reloaded", config=str(self._path), refreshed=[], removed=[])
            with self.rounds.lock:
                summary = self.rounds.summary()
        else:
            try:
                new = load_config(self._path)
            except ConfigError as exc:
                log.error("config_rejected", config=str(self._path), errors=list(exc.errors))
                self._rejected = True
                self._metrics.observe_config(valid=False)
                self._record_config_error(str(exc))
                summary = f"configuration rejected, running on the last good one: {exc.errors[0]}"
            else:
                self._accepted(text, new)
                plan = plan_reload(old=self.rounds.config, new=new, runs=self.rounds.runs())
                notes = self._listener.apply(new.metrics)
                summary = self.rounds.apply_plan(new, plan, notes=notes)
        # Accepted or rejected, within a second of the save, without waiting for a round.
        self._textfile.write(self.rounds.config.metrics.textfile)
        if announce:
            self._notifier.ready(summary)
        else:
            self._notifier.status(summary)

    def _accepted(self, text: bytes | None, config: Config) -> None:
        self._config_text = text
        self._rejected = False
        # With the configuration: hosts, groups and outputs that left it leave the metrics.
        self._metrics.observe_config(valid=True, config=config)
        self._record_config_error(None)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._wakeup.set("reload" if signum == signal.SIGHUP else "stop")

    def _load_at_start(self) -> Config:
        # Read before the load: a save after it must differ from what is taken as rejected.
        text = _read(self._path) if self._wait_for_valid_config else None
        try:
            config = load_config(self._path)
        except ConfigError as exc:
            if self._path.exists():
                self._metrics.observe_config(valid=False)
                if not self._wait_for_valid_config:
                    raise
                self._rejected = True
                self._rejected_at_start = text
                log.error("config_rejected", config=str(self._path), errors=list(exc.errors))
                self._record_config_error(str(exc))
                return Config(path=self._path)
            # Not there yet (a ConfigMap still mounting, a laptop before setup): wait for it.
            log.warning("config_missing", config=str(self._path))
            self._metrics.observe_config(valid=False)
            self._record_config_error(f"{self._path}: the configuration file does not exist")
            return Config(path=self._path)
        self._accepted(_read(self._path), config)
        return config

    def _read_state(self) -> State | None:
        try:
            return self._store.read()
        except EcrdError as exc:
            log.error("state_failed", error=str(exc))
            return None

    def _check_clock(self) -> None:
        offset = time.time() - time.monotonic()
        jump = offset - self._clock_offset
        self._clock_offset = offset
        if abs(jump) >= CLOCK_JUMP.total_seconds():
            # The laptop slept or the clock was set: overdue jobs run as the scheduler wakes.
            log.info("clock_jumped", seconds=round(jump, 1))
            self.rounds.jobs.wakeup()

    def _record_config_error(self, error: str | None) -> None:
        if error is None and self._no_config_error_recorded:
            return  # every accepted save would otherwise lock and read the state for nothing
        try:
            with self._store.transaction() as state:
                state.config_error = error
        except EcrdError as exc:
            log.error("state_failed", error=str(exc))
            return
        self._no_config_error_recorded = error is None


def _end_children() -> None:
    """SIGTERM what the daemon started and left running: an abandoned credential_process.

    Linux only (``/proc``). The token source's own credential processes are ended, and
    refused from then on, by ``ecrd run`` as the process exits (``tokens.deadline.close``).
    """
    try:
        tasks = list(Path("/proc/self/task").iterdir())
    except OSError:
        return
    ended = []
    for task in tasks:
        try:
            pids = [int(p) for p in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
        for pid in pids:
            with contextlib.suppress(OSError):
                # A credential process leads a process group of its own (the token source
                # starts it so): end what it started too, not only the process itself.
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGTERM)
                else:
                    os.kill(pid, signal.SIGTERM)
                ended.append(pid)
    if ended:
        log.info("children_ended", pids=ended)


def _read(path: Path) -> bytes | None:
    """The configuration's bytes; ``None`` when missing, unreadable or refused (a FIFO ...)."""
    try:
        return read_regular(path, limit=MAX_SIZE)
    except (OSError, EcrdError):
        return None
