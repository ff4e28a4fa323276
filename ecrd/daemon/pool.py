"""A thread pool whose workers never hold up the exit, for the scheduler's jobs and fetches.

concurrent.futures' own pool joins its workers when the interpreter exits, so one fetch stuck
in a system call (a credential_process that never ends, a socket that never answers) would
keep ``ecrd run`` alive after SIGTERM. These workers are daemon threads, started on demand
up to ``size`` and reused; a worker idle for ``IDLE_SECONDS`` ends (the pool shrinks back
after a burst or a reload that removed groups, and an idle daemon keeps no thread it does not
use); a stop fails the futures still waited for, so that nobody waits for a thread that may
never come back.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Executor, Future, InvalidStateError
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

# A worker with nothing to do for this long ends; the next task starts a new one.
IDLE_SECONDS = 5.0


class PoolStoppedError(RuntimeError):
    """The pool was shut down before the task ended."""


_Task = tuple["Future[Any]", "Callable[..., Any]", tuple[Any, ...], dict[str, Any]]


class DaemonPool(Executor):
    """Runs submitted calls on at most ``size`` daemon threads."""

    def __init__(self, *, size: int, name: str) -> None:
        self._size = max(1, size)
        self._name = name
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0
        self._free = 0  # workers waiting for a task
        self._pending: set[Future[Any]] = set()
        self._shut = False

    def resize(self, size: int) -> None:
        """Allow up to ``size`` workers from now on (existing ones stay until shutdown)."""
        with self._lock:
            self._size = max(1, size)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:  # noqa: ANN401
        """Queue ``fn(*args, **kwargs)``; a worker is started when none is free.

        Raises:
            RuntimeError: the pool is shut down, or no thread could be started and none is
                free (the task is then not queued).
        """
        future: Future[T] = Future()
        with self._lock:
            if self._shut:
                msg = f"{self._name}: cannot run new tasks after shutdown"
                raise RuntimeError(msg)
            if self._free:
                self._free -= 1
            elif self._workers < self._size:
                worker = threading.Thread(
                    target=self._work, name=f"{self._name}-{self._workers}", daemon=True
                )
                worker.start()  # RuntimeError("can't start new thread") reaches the caller
                self._workers += 1
            self._pending.add(future)
            self._tasks.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:  # noqa: FBT001, FBT002 - Executor's signature
        """Stop the workers once idle; with ``cancel_futures``, fail every unfinished future.

        Never waits for a running task, whatever ``wait`` says: that is the point of the pool.
        """
        del wait
        with self._lock:
            self._shut = True
            unfinished = list(self._pending) if cancel_futures else []
            workers = self._workers
        for future in unfinished:
            _settle(future, error=PoolStoppedError(f"{self._name} stopped"))
        for _ in range(workers):
            self._tasks.put(None)

    def _work(self) -> None:
        while True:
            try:
                task = self._tasks.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    # Each task queued for a free worker was counted off ``_free`` as it
                    # was queued: with the queue empty, this worker has none waiting.
                    if self._tasks.empty():
                        self._free -= 1
                        self._workers -= 1
                        return
                continue
            if task is None:
                return
            future, fn, args, kwargs = task
            try:
                start = future.set_running_or_notify_cancel()
            except RuntimeError:  # failed by a stop before it started
                start = False
            if start:
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to the waiter, as concurrent.futures does
                    _settle(future, error=exc)
                else:
                    _settle(future, result=result)
            with self._lock:
                self._pending.discard(future)
                self._free += 1


def _settle(
    future: Future[Any], *, result: object = None, error: BaseException | None = None
) -> None:
    """Set the outcome unless a stop already did (a stopped pool fails running futures)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass
