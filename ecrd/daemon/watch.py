"""Watching the configuration file: watchdog on its directory, debounced.

The directory is watched, not the file: editors save by writing a new file and renaming it
over the old one, and a Kubernetes ConfigMap swaps a ``..data`` symlink; both replace the
file's inode, which a watch on the file itself would lose. When the directory does not exist
yet, its nearest existing ancestor is watched until it appears.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from watchdog.observers.api import ObservedWatch

# Editors and ConfigMap updates make bursts of events: act once, after they settle.
DEBOUNCE_SECONDS = 0.15
# Reading a file is no change. Without this, every reload's own read of the configuration
# (inotify reports opens and closes) would set off the next reload, for ever.
_READ_ONLY_EVENTS = frozenset({"opened", "closed_no_write"})


class ConfigWatch(FileSystemEventHandler):
    """Calls ``on_change`` after any burst of events around the configuration file."""

    def __init__(
        self, path: Path, on_change: Callable[[], None], *, debounce: float = DEBOUNCE_SECONDS
    ) -> None:
        super().__init__()
        self._path = path.absolute()
        self._on_change = on_change
        self._debounce = debounce
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._observer = Observer()
        self._observer.daemon = True
        self._watch: ObservedWatch | None = None
        self._watched: Path | None = None

    def start(self) -> None:
        """Begin watching."""
        self._observer.start()
        self._rearm()

    def stop(self) -> None:
        """Stop watching and cancel a pending call."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        self._observer.stop()
        self._observer.join(timeout=2)

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Any change near the file: re-aim the watch if needed, then debounce."""
        if event.event_type in _READ_ONLY_EVENTS:
            return
        # Which change it was does not matter: the file is read and compared anyway.
        self._rearm()
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._debounce, self._on_change)
            self._timer.daemon = True
            self._timer.start()

    def _rearm(self) -> None:
        target = self._path.parent
        while not target.is_dir() and target != target.parent:
            target = target.parent
        with self._lock:
            if target == self._watched:
                return
            if self._watch is not None:
                self._observer.unschedule(self._watch)
            self._watch = self._observer.schedule(self, str(target), recursive=False)
            arrived = self._watched is not None
            self._watched = target
        if arrived:
            # The directory appeared (or vanished): the file may already be there.
            self.on_any_event(FileSystemEvent(str(target)))
