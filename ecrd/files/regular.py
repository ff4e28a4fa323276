"""Reading a file the user names (a configuration) that must be a regular file, never blocking.

The rules are the outputs' (``links.refuse_kind``): a FIFO, a device, a directory or a socket,
or a link to one, and a file over the size cap, are refused before anything is read. What
differs is the symlinks: the user's own configuration may be reached through links of any
owner (a ConfigMap's, a deploy user's), since ecrd only reads it.
"""

# ruff: noqa: PTH116
# (descriptor-level calls on purpose: O_NONBLOCK, fstat.)
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ecrd.errors import FileError
from ecrd.files.links import refuse_kind
from ecrd.files.messages import too_large
from ecrd.safe_read import kind_of, read_capped

if TYPE_CHECKING:
    from pathlib import Path

# O_NONBLOCK: opening a FIFO that has no writer would otherwise wait for one, for ever.
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


class RefusedFileError(FileError):
    """The path is not a regular file (``kind`` says what it is), or is over the cap."""

    def __init__(self, message: str, *, path: Path, kind: str | None, size: int) -> None:
        super().__init__(message, path=path, code="too_large" if kind is None else "not_regular")
        self.kind = kind
        self.size = size


def read_regular(path: Path, *, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, through symlinks, without blocking.

    Checked before it is opened and again on the open descriptor (``fstat``), so that a
    FIFO or device swapped in between is refused too; never more than ``limit`` bytes read.

    Raises:
        FileNotFoundError: nothing is at ``path``.
        RefusedFileError: it is no regular file, or is larger than ``limit``.
        OSError: it could not be opened or read.
    """
    _refuse(path, os.stat(path), limit)
    fd = os.open(path, _FLAGS)
    try:
        _refuse(path, os.fstat(fd), limit)
        data = read_capped(fd, limit)
        if len(data) > limit:  # it grew while read
            msg = too_large("read", path, len(data), limit)
            raise RefusedFileError(msg, path=path, kind=None, size=len(data))
        return data
    finally:
        os.close(fd)


def _refuse(path: Path, info: os.stat_result, limit: int) -> None:
    try:
        refuse_kind(path, info, action="read", limit=limit)
    except FileError as exc:
        kind = kind_of(info.st_mode)
        raise RefusedFileError(str(exc), path=path, kind=kind, size=info.st_size) from None
