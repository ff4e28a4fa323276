"""One attempt's deadline: the attempt runs in a thread of its own, and is given up at the deadline.

Everything an attempt does (credentials, a ``credential_process``, SSO, STS, the ECR call)
happens in that thread, under one ``Attempt`` and its one deadline. The caller waits at most
until that deadline; then it kills the process groups of the credential processes the
attempt started, and raises ``GaveUp``. Each request's connect and read timeouts are what
is left of the deadline when it is sent (``request_timeout``), so a socket of a given-up
attempt times out at the deadline too, and ``check_deadline`` (a botocore ``before-send``
handler) sends nothing after it: the abandoned thread ends with its attempt.

Whoever waits creates the attempt: ``run_attempt`` for one fetch on its own (``ecrd
refresh``), ``Attempt.run`` on a worker of the daemon's pool. Work that runs under an attempt
already (``current_attempt``) takes that one's deadline instead of starting a second one.

The deadline bounds what may hang: a credential process, a connection, an answer. Building a
botocore client is local work bounded by the CPU alone, done one client at a time, and the
first round of a large configuration builds one per group: time spent building (or waiting
for another group's build) is ``Attempt.paused`` and moves the deadline, so that a short
``attempt_timeout`` on a busy host does not fail healthy groups before they ever call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import weakref
from contextvars import ContextVar
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

T = TypeVar("T")


class GaveUp(Exception):  # noqa: N818 - what happened, not an error class name
    """The attempt's deadline passed; ``waiting_for`` says what it was waiting for then.

    ``waiting_for`` is a clause: "http://... did not answer in time".
    """

    def __init__(self, *, timeout: float, waiting_for: str) -> None:
        super().__init__(f"gave up after {timeout:g} s: {waiting_for}")
        self.timeout = timeout
        self.waiting_for = waiting_for


class Attempt:
    """One attempt: its deadline, what it is waiting for, the processes it started."""

    def __init__(self, *, timeout: float, waiting_for: str) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.waiting_for = waiting_for
        self._lock = threading.Lock()
        self._processes: set[BoundedProcess] = set()
        self._given_up = False
        self._paused_at: float | None = None

    def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` in the calling thread, as this attempt's work.

        Raises:
            GaveUp: the deadline passed before ``work`` could start (a worker came late).
        """
        if self.remaining() <= 0:
            raise self.gave_up()
        token = _current.set(self)
        try:
            return work()
        finally:
            _current.reset(token)

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once past); frozen while paused."""
        with self._lock:
            now = time.monotonic() if self._paused_at is None else self._paused_at
            return self.deadline - now

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The time spent inside does not count: the deadline moves on by as much.

        For local work that only the CPU bounds (building a client), never for what may
        hang. Not nested: the attempt's own thread pauses, once at a time.
        """
        with self._lock:
            self._paused_at = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                if self._paused_at is not None:
                    self.deadline += time.monotonic() - self._paused_at
                self._paused_at = None

    def wait(self, done: Callable[[float], bool]) -> bool:
        """Wait with ``done(seconds)`` until it says True, or until the deadline has passed.

        The deadline may move while waiting (a pause): the wait goes on until it has truly
        passed. False when it has.
        """
        while (left := self.remaining()) > 0:
            if done(left):
                return True
        return done(0)

    def gave_up(self) -> GaveUp:
        """The exception that says the attempt was given up, and while doing what."""
        return GaveUp(timeout=self.timeout, waiting_for=self.waiting_for)

    def adopt(self, process: BoundedProcess) -> None:
        """Track ``process`` until it ends; kill it now if the attempt was given up."""
        with self._lock:
            self._processes.add(process)
            given_up = self._given_up
        if given_up:
            process.kill_group()

    def release(self, process: BoundedProcess) -> None:
        """Stop tracking ``process`` (it has ended)."""
        with self._lock:
            self._processes.discard(process)

    def give_up(self) -> None:
        """Kill every process the attempt started, with its process group."""
        with self._lock:
            self._given_up = True
            processes = list(self._processes)
        for process in processes:
            process.kill_group()


_current: ContextVar[Attempt | None] = ContextVar("ecrd_attempt", default=None)
# Set when the process stops: an abandoned attempt's thread must not leave a credential
# process behind by starting one after the stop has ended the others.
_closed = threading.Event()


def close() -> None:
    """End every credential process still running, and any started from now on."""
    _closed.set()
    for process in list(BoundedProcess.running):
        process.kill_group()


def current_attempt() -> Attempt | None:
    """The attempt the calling thread works for, if any."""
    return _current.get()


@contextlib.contextmanager
def building() -> Iterator[None]:
    """Pause the current attempt, if any, for local work (see ``Attempt.paused``)."""
    attempt = _current.get()
    if attempt is None:
        yield
        return
    with attempt.paused():
        yield


def waiting_for(what: str) -> None:
    """Record what the current attempt is waiting for, for the message if it is given up."""
    attempt = _current.get()
    if attempt is not None:
        attempt.waiting_for = what


class _Outcome(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None


def run_attempt(work: Callable[[], T], *, timeout: float, name: str, waiting_for: str) -> T:
    """Run ``work`` in a thread of its own; return its value or raise its exception.

    Called under an attempt already (the daemon's), ``work`` runs in the calling thread
    under that attempt's deadline: one attempt has one deadline, whoever started it.

    Raises:
        GaveUp: ``work`` did not finish within ``timeout`` seconds; the credential
            processes it started have been killed.
    """
    outer = _current.get()
    if outer is not None:
        outer.waiting_for = waiting_for
        return work()
    attempt = Attempt(timeout=timeout, waiting_for=waiting_for)
    outcome: _Outcome[T] = _Outcome()

    def run() -> None:
        _current.set(attempt)
        try:
            outcome.value = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            outcome.error = exc
        finally:
            outcome.done.set()

    thread = threading.Thread(target=run, name=f"ecrd-attempt {name}", daemon=True)
    thread.start()
    if not attempt.wait(outcome.done.wait):
        attempt.give_up()
        raise attempt.gave_up()
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[return-value] # set when work() returned


@contextlib.contextmanager
def holding(lock: threading.Lock) -> Iterator[None]:
    """Hold ``lock``, waiting for it no longer than the current attempt has left.

    A thread stuck behind a hung identity's lock then ends with its attempt, instead of
    waiting for ever and piling up at each retry.

    Raises:
        GaveUp: the lock was not free before the deadline.
    """
    attempt = _current.get()
    if attempt is None:
        acquired = lock.acquire()
    else:
        acquired = lock.acquire(timeout=max(attempt.remaining(), 0))
    if not acquired and attempt is not None:
        raise attempt.gave_up()
    try:
        yield
    finally:
        lock.release()


def check_deadline(request: object = None, **_kwargs: object) -> None:
    """Botocore ``before-send`` handler: no request (first or retry) after the deadline.

    Records the request's URL as what the attempt now waits for.

    Raises:
        GaveUp: the current attempt's deadline has passed.
    """
    attempt = _current.get()
    if attempt is None:
        return
    if attempt.remaining() <= 0:
        raise attempt.gave_up()
    url = getattr(request, "url", None) or "the endpoint"
    attempt.waiting_for = f"{url} did not answer in time"


def request_timeout() -> float | None:
    """Seconds left for the current attempt's next request (connect, then read), if any.

    None outside an attempt: the client's own timeouts apply.

    Raises:
        GaveUp: the current attempt's deadline has passed.
    """
    attempt = _current.get()
    if attempt is None:
        return None
    left = attempt.remaining()
    if left <= 0:
        raise attempt.gave_up()
    return left


class BoundedProcess(subprocess.Popen[bytes]):
    """A credential process in its own process group, killed with it at the deadline.

    botocore's ProcessProvider starts it and waits with ``communicate()``, without a timeout;
    here the wait ends at the current attempt's deadline. Its stdin is /dev/null: a
    process that would ask a person for something gets end of file, not ecrd's terminal.
    """

    running: ClassVar[weakref.WeakSet[BoundedProcess]] = weakref.WeakSet()

    def __init__(self, args: list[str], **kwargs: object) -> None:
        kwargs["start_new_session"] = True
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        super().__init__(args, **kwargs)  # type: ignore[call-overload] # Popen's own keywords
        BoundedProcess.running.add(self)
        self._attempt = current_attempt()
        if self._attempt is not None:
            self._attempt.adopt(self)
        if _closed.is_set():
            self.kill_group()

    def communicate(
        self,
        input: bytes | None = None,  # noqa: A002 - Popen's own name
        timeout: float | None = None,
    ) -> tuple[bytes, bytes]:
        """Wait for the process, at most until the attempt's deadline.

        Raises:
            GaveUp: the deadline passed; the process group has been killed.
        """
        attempt = self._attempt
        if attempt is None:
            return super().communicate(input, timeout)
        try:
            return super().communicate(input, max(attempt.remaining(), 0))
        except subprocess.TimeoutExpired:
            self.kill_group()
            super().communicate()
            raise attempt.gave_up() from None
        finally:
            attempt.release(self)

    def kill_group(self) -> None:
        """SIGKILL the process and every process of its group (what it started)."""
        if self.returncode is not None:
            return  # reaped: its pid may belong to another process by now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
