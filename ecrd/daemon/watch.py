"""Watching the configuration file: watchdog on its directory, debounced; polling as fallback.

The directory is watched, not the file: editors save by writing a new file and renaming it
over the old one, and a Kubernetes ConfigMap swaps a ``..data`` symlink; both replace the
file's inode, which a watch on the file itself would lose. When the directory does not exist
yet, its nearest existing ancestor is watched until it appears.

An editor's save is a burst of events within a millisecond or two: one thread per watch
waits until the events have been quiet for ``debounce`` and then calls ``on_change`` once.
When the watch cannot be armed (inotify limits, a directory it may not read), the same
thread checks the file every ``poll_interval`` instead, and the daemon still reloads.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ecrd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from watchdog.observers.api import BaseObserver, ObservedWatch

log = get_logger("ecrd")

# An editor's save is a burst of events within a millisecond or two.
DEBOUNCE_SECONDS = 0.004
POLL_SECONDS = 3.0
# Reading a file is no change. Without this, every reload's own read of the configuration
# (inotify reports opens and closes) would set off the next reload, for ever.
_READ_ONLY_EVENTS = frozenset({"opened", "closed_no_write"})


class ConfigWatch(FileSystemEventHandler):
    """Calls ``on_change`` after any burst of events around the file at ``path``."""

    def __init__(
        self,
        path: Path,
        on_change: Callable[[], None],
        *,
        debounce: float = DEBOUNCE_SECONDS,
        poll_interval: float = POLL_SECONDS,
        observer: Callable[[], BaseObserver] = Observer,
    ) -> None:
        super().__init__()
        self._path = path.absolute()
        self._on_change = on_change
        self._debounce = debounce
        self._poll_interval = poll_interval
        self._changed = threading.Condition()
        self._due: float | None = None  # when the pending call is made (monotonic)
        self._stopped = False
        self._polling = False
        self._seen = _signature(self._path)
        self._observer = observer()
        self._observer.daemon = True
        self._watch: ObservedWatch | None = None
        self._watched: Path | None = None
        self._caller = threading.Thread(target=self._serve, name="ecrd-watch", daemon=True)

    @property
    def polling(self) -> bool:
        """True when the file is polled because no watch could be armed."""
        return self._polling

    @property
    def pending(self) -> bool:
        """True while a call is due (events seen, not yet quiet for ``debounce``)."""
        with self._changed:
            return self._due is not None

    def start(self) -> None:
        """Begin watching (or polling, when no watch can be armed)."""
        self._caller.start()
        try:
            self._observer.start()
            self._rearm()
        except Exception as exc:  # noqa: BLE001 - OSError (EMFILE, ENOSPC, EACCES) or worse
            self._fall_back(exc)

    def stop(self) -> None:
        """Stop watching; a pending call is dropped."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(timeout=1)

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Any change near the file: re-aim the watch if needed, then (re)start the wait."""
        if event.event_type in _READ_ONLY_EVENTS:
            return
        # Which change it was does not matter: the file is read and compared anyway.
        try:
            self._rearm()
        except Exception as exc:  # noqa: BLE001 - re-arming hit a limit: keep the file checked
            self._fall_back(exc)
        self._touch()

    def _touch(self) -> None:
        with self._changed:
            self._due = time.monotonic() + self._debounce
            self._changed.notify_all()

    def _serve(self) -> None:
        with self._changed:
            while not self._stopped:
                now = time.monotonic()
                if self._due is not None and now >= self._due:
                    self._due = None
                    self._changed.release()
                    try:
                        self._on_change()
                    finally:
                        self._changed.acquire()
                    continue
                if self._due is not None:
                    self._changed.wait(self._due - now)
                elif self._polling:
                    if not self._changed.wait(self._poll_interval) and self._moved():
                        self._due = time.monotonic()
                else:
                    self._changed.wait()

    def _moved(self) -> bool:
        seen, self._seen = self._seen, _signature(self._path)
        return seen != self._seen

    def _fall_back(self, error: BaseException) -> None:
        with self._changed:
            if self._polling:
                return
            self._polling = True
            self._seen = _signature(self._path)
            self._changed.notify_all()
        log.warning(
            "config_watch_fallback",
            path=str(self._path),
            error=str(error) or type(error).__name__,
            poll_seconds=self._poll_interval,
        )

    def _rearm(self) -> None:
        target = self._path.parent
        while not target.is_dir() and target != target.parent:
            target = target.parent
        with self._changed:
            if target == self._watched or self._polling:
                return
            if self._watch is not None:
                self._observer.unschedule(self._watch)
            self._watch = self._observer.schedule(self, str(target), recursive=False)
            arrived = self._watched is not None
            self._watched = target
        if arrived:
            # The directory appeared (or vanished): the file may already be there.
            self._touch()


def _signature(path: Path) -> tuple[int, int, int, int] | None:
    """What changes when the file is replaced or written (through any symlink)."""
    try:
        st = os.stat(path)  # noqa: PTH116 - one call, following links
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
