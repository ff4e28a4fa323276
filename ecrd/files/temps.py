"""Temporary files beside a target: created 0600 and locked, removed after a killed writer.

A temporary file holds credentials, so one left by a killed ecrd must go, but never the one
another ecrd is writing at that moment. Each is named ``.ecrd-<pid>-<random>.tmp`` and
``flock``ed by its writer from creation to swap; a later writer removes one that nobody
locks and whose writer is gone (its pid dead, or its last change over a minute ago: pids
are reused, and containers sharing a directory have their own). This process's own files
are known by name.
"""

# ruff: noqa: PTH108, PTH208
# (descriptor-level calls on purpose: O_NOFOLLOW, fstat, flock, renameat2.)
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import threading
import time
from pathlib import Path  # noqa: TC003 (used at run time)

from ecrd.logs import get_logger

_NAME = re.compile(r"\.ecrd-(?:(\d+)-)?[A-Za-z0-9_]+\.tmp")
_STALE_AFTER = 60.0  # seconds without a change before an unlocked file is surely stale
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


# structlog loads on the first event shown (ecrd.logs): the kubelet provider and the
# helpers read files through this module and log nothing.
_log = get_logger()


_active: set[str] = set()  # this process's temporary files, by path
_active_lock = threading.Lock()


class TempFile:
    """One temporary file of this process, open and locked while ecrd writes it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd: int | None = fd

    def close(self) -> None:
        """Close (and so unlock) the file ecrd wrote."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def forget(self) -> None:
        """The file was renamed into place: nothing is left at its path."""
        self.close()
        _release(self.path)

    def remove(self) -> None:
        """Delete the file at its path (an error is left for the next writer's cleanup)."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        _release(self.path)


def create_temp(directory: Path) -> TempFile:
    """A new, empty, locked ``0600`` file in ``directory``.

    Raises:
        OSError: it could not be created.
    """
    while True:
        path = directory / f".ecrd-{os.getpid()}-{secrets.token_hex(8)}.tmp"
        with _active_lock:
            _active.add(str(path))
        try:
            fd = os.open(path, _CREATE, 0o600)
        except FileExistsError:
            _release(path)
            continue
        except BaseException:
            _release(path)
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.fchmod(fd, 0o600)  # whatever the umask left
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            _release(path)
            raise
        return TempFile(path, fd)


def remove_stale_temps(directory: Path) -> tuple[str, ...]:
    """Remove the temporary files killed writers left in ``directory``; return their names."""
    try:
        names = os.listdir(directory)
    except OSError:
        return ()
    removed: list[str] = []
    for name in names:
        match = _NAME.fullmatch(name)
        path = directory / name
        if match is None or str(path) in _active:
            continue
        pid = int(match[1]) if match[1] else None
        if _remove_if_stale(path, pid):
            removed.append(name)
    if removed:
        _log.info("temp_files_removed", path=str(directory), files=removed)
    return tuple(removed)


def _remove_if_stale(path: Path, pid: int | None) -> bool:
    try:
        fd = os.open(path, _OPEN)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # its writer is at work
        info = os.fstat(fd)
        recent = time.time() - info.st_ctime < _STALE_AFTER
        if recent and (pid is None or (pid != os.getpid() and _alive(pid))):
            return False  # just created, or just swapped out: its writer is at work
        try:
            if os.lstat(path).st_ino != info.st_ino:
                return False  # replaced meanwhile
            os.unlink(path)
        except OSError:
            return False
        return True
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed process not yet reaped by its parent (a zombie) writes nothing more.
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:  # noqa: PTH123
            return file.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _release(path: Path) -> None:
    with _active_lock:
        _active.discard(str(path))
