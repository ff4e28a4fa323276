"""The state file (``state.json``) of one configuration, and the lock its writers take.

A lock file beside it (``lock``) serialises the ecrd processes of one configuration
(`ecrd refresh` next to a running daemon) for a read-change-save of the state. The state
file is read and written through its model (``ecrd.state_model``) only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ecrd import paths
from ecrd.errors import StateError
from ecrd.files import replace_file
from ecrd.state._disk import ensure_directory, move_aside, read_bytes, state_errors
from ecrd.state_model import State, parse_state, render_state

if TYPE_CHECKING:
    from collections.abc import Iterator

STATE_FILE = paths.STATE_FILE
LOCK_FILE = "lock"


class StateFile:
    """``state.json`` in ``directory``: what ecrd recorded, read and saved under its lock.

    ``config`` is the configuration file it belongs to, recorded in the state when known.
    """

    def __init__(self, directory: Path, *, config: Path | None = None) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self.config = config

    def read(self) -> State | None:
        """The state as last saved, or ``None`` when there is none (or it was corrupt).

        Raises:
            StateError: the file exists but cannot be read.
        """
        data = read_bytes(self.path)
        if data is None:
            return None
        state = self._parse_or_move_aside(data)
        if state is not None and self.config is not None and state.config is None:
            state.config = str(self.config)
        return state

    @contextlib.contextmanager
    def transaction(self) -> Iterator[State]:
        """Lock the directory, load the state, yield it, and save it if it changed.

        Raises:
            StateError: the directory could not be locked, or the state not saved.
        """
        with self._locked():
            before = read_bytes(self.path)
            state = None if before is None else self._parse_or_move_aside(before)
            if state is None:
                before = None
                state = State()
            if self.config is not None:
                state.config = str(self.config)
            yield state
            after = render_state(state)
            if after != before:
                self._save(after, before)

    def _save(self, after: bytes, before: bytes | None) -> None:
        with state_errors():
            saved = replace_file(self.path, after, expected=before, mode=0o600)
        if not saved:
            msg = (
                f"{self.path} changed while ecrd held its lock (another program writes it); "
                "this round's state was not saved: stop that program"
            )
            raise StateError(msg)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        ensure_directory(self.directory)
        fd = open_lock(self.directory / LOCK_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _parse_or_move_aside(self, data: bytes) -> State | None:
        state = parse_state(data)
        if state is None:
            move_aside(self.path)
        return state


def read_state(directory: Path) -> State | None:
    """The state in ``directory``, read without its lock; ``None`` if none or unreadable.

    For a look at another configuration's state: nothing is moved aside, nothing raised.
    """
    try:
        data = read_bytes(Path(directory) / STATE_FILE)
    except StateError:
        return None
    return parse_state(data) if data is not None else None


def open_lock(path: Path) -> int:
    """A descriptor of the lock file ``path``, created ``0600`` if missing, never a link.

    Raises:
        StateError: it could not be opened.
    """
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        msg = f"cannot open {path}: {exc.strerror}; check the state directory's owner and mode"
        raise StateError(msg) from exc
