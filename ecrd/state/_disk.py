"""The state directory's files as the file layer sees them: its errors become StateErrors here.

Every module of ``ecrd.state`` reads, writes and creates through these, so that a file
layer's ``FileError`` is translated into a ``StateError`` in this one place.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ecrd.errors import FileError, StateError
from ecrd.files import make_dirs, read_file
from ecrd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

log = get_logger("ecrd")


@contextlib.contextmanager
def state_errors() -> Iterator[None]:
    """Raise the file layer's errors met inside as ``StateError``s, with the same message.

    Raises:
        StateError: a file of the state directory could not be read or written.
    """
    try:
        yield
    except FileError as exc:
        raise StateError(str(exc)) from exc


def read_bytes(path: Path) -> bytes | None:
    """The bytes of ``path``, ``None`` when it does not exist.

    Raises:
        StateError: it exists but cannot or must not be read.
    """
    with state_errors():
        return read_file(path)


def ensure_directory(directory: Path) -> None:
    """Create the state directory (``0700``) and its parents, if missing.

    Raises:
        StateError: it could not be created.
    """
    with state_errors():
        make_dirs(directory)


def move_aside(path: Path) -> None:
    """Move a file ecrd cannot read as its own to ``NAME.corrupt-<UTC time>``; log it."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        path.rename(aside)
    except OSError as exc:
        log.error("state_corrupt", path=str(path), moved_to=None, error=exc.strerror)
        return
    log.error("state_corrupt", path=str(path), moved_to=str(aside))
