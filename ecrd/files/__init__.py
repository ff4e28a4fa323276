"""The file layer: safe reads, atomic replacement that keeps concurrent writers, directories.

Hand-written on purpose: no well-kept library swaps the file in (``renameat2`` with
``RENAME_EXCHANGE``) and puts back at once what it swapped out when that is not the file it
read, so a ``docker login`` landing at any instant is kept, while keeping the old file's
mode and owner, refusing other users' symlinks and cleaning up after a killed writer
(``atomicwrites`` is unmaintained and does none of it).
"""

# ruff: noqa: PTH102, PTH104, PTH116
# (descriptor-level calls on purpose: O_NOFOLLOW, fstat, flock, renameat2.)
from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path  # noqa: TC003 (used at run time)
from typing import TYPE_CHECKING

from ecrd.errors import FileError
from ecrd.files import swap
from ecrd.files.links import refuse_kind, resolve
from ecrd.files.messages import failed, too_large
from ecrd.files.temps import TempFile, create_temp, remove_stale_temps
from ecrd.logs import get_logger
from ecrd.safe_read import read_capped

if TYPE_CHECKING:
    from collections.abc import Callable


MAX_SIZE = 16 * 1024 * 1024
_ATTEMPTS = 10
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY


# structlog loads on the first event shown (ecrd.logs): the kubelet provider and the
# helpers read files through this module and log nothing.
_log = get_logger()


_warned_unsupported: set[int] = set()  # file systems already reported as unable to swap


@dataclass(frozen=True)
class _Read:
    data: bytes | None
    info: os.stat_result | None
    fd: int | None = None  # kept open when asked: its inode cannot be reused meanwhile


def read_file(path: Path) -> bytes | None:
    """Return the bytes of ``path`` (through symlinks), or ``None`` when it does not exist.

    Refused without reading it: a FIFO, device, directory or socket, a file over 16 MiB, and
    a path through a symlink owned by neither root nor the user ecrd runs as.

    Raises:
        FileError: the file exists but cannot or must not be read; the message names it.
    """
    return _read(path, resolve(path, action="read")).data


def replace_file(
    path: Path, data: bytes, *, expected: bytes | None, mode: int = 0o600, private: bool = False
) -> bool:
    """Replace ``path`` with ``data`` at once, if it still holds ``expected``.

    Symlinks (owned by root or the user ecrd runs as) are followed to their final target,
    which is replaced; the links stay. Missing parent directories are created ``0700``. The
    new file keeps the old one's mode and owner, or gets ``mode`` when there was none;
    ``private`` drops an existing file's group and other bits. No temporary file is left
    behind, whatever happens.

    The new file is swapped in, and what came out is checked: when it is not the file that
    held ``expected`` (``None``: no file), somebody else renamed theirs in meanwhile; it is
    swapped back at once and the result is ``False``: the caller reads, merges and tries
    again.

    Raises:
        FileError: the file could not be written; it is unchanged.
    """
    target = resolve(path, action="write")
    # Held open until swapped: while open, its inode number cannot go to another file, so
    # "the same inode" means "the file ecrd read".
    current = _read(path, target, keep=True)
    try:
        if current.data != expected:
            return False
        return _replace(path, target, data, current, mode=mode, private=private)
    finally:
        if current.fd is not None:
            os.close(current.fd)


def _replace(
    path: Path, target: Path, data: bytes, current: _Read, *, mode: int, private: bool
) -> bool:
    make_dirs(target.parent)
    remove_stale_temps(target.parent)
    try:
        temp = create_temp(target.parent)
    except OSError as exc:
        raise failed(exc, "write", path, target.parent) from exc
    try:
        _write_temp(temp, data, like=current.info, mode=mode, private=private)
        done = _swap_in(path, target, temp, current)
    except OSError as exc:
        temp.remove()
        raise failed(exc, "write", path, target.parent) from exc
    except BaseException:
        temp.remove()
        raise
    if done:
        _sync_directory(target.parent)
    return done


def update_file(
    path: Path,
    *,
    render: Callable[[bytes | None], bytes | None],
    mode: int = 0o600,
    private: bool = False,
) -> bool:
    """Read ``path``, pass its bytes to ``render`` and write what it returns, atomically.

    ``render`` gets ``None`` for a missing file and returns ``None`` (or the same bytes) when
    nothing is to change. When somebody else writes the file in the meantime, it is read and
    rendered again, so their change is kept. ``private`` drops an existing file's group and
    other permission bits (rewriting it when only its mode is to change). Returns whether
    the file was written.

    Raises:
        FileError: the file could not be read or written, or kept changing; it is unchanged.
    """
    for _ in range(_ATTEMPTS):
        before = _read(path, resolve(path, action="write"))
        after = render(before.data)
        loose = private and before.info is not None and before.info.st_mode & 0o077
        if after is None or after == before.data:
            if not loose or before.data is None:
                return False
            after = before.data
        if replace_file(path, after, expected=before.data, mode=mode, private=private):
            return True
    msg = (
        f"{path} kept changing while ecrd wrote it ({_ATTEMPTS} attempts); "
        "find the program rewriting it in a loop, ecrd tries again at the next refresh"
    )
    raise FileError(msg, path=path, code="kept_changing")


def make_dirs(path: Path, *, mode: int = 0o700) -> tuple[Path, ...]:
    """Create ``path`` and its missing parents, each with ``mode`` whatever the umask.

    Never through a symlink owned by neither root nor the user ecrd runs as. Existing
    directories are left as they are. Returns the directories created, outermost first.

    Raises:
        FileError: a directory could not be created; the message names it.
    """
    directory = resolve(path, action="create")
    missing: list[Path] = []
    current = directory
    while current != current.parent:
        try:
            os.lstat(current)
        except FileNotFoundError:
            missing.append(current)
            current = current.parent
            continue
        except OSError as exc:
            raise failed(exc, "create", path, current) from exc
        break
    created: list[Path] = []
    for new in reversed(missing):
        try:
            os.mkdir(new, mode)
        except FileExistsError:
            continue  # made meanwhile: theirs, as it is
        except OSError as exc:
            raise failed(exc, "create", path, new.parent) from exc
        created.append(new)
        with contextlib.suppress(OSError):  # the umask took bits away: give them back
            fd = os.open(new, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
    return tuple(created)


def _read(path: Path, target: Path, *, keep: bool = False) -> _Read:
    """The bytes and status of ``target``, the resolved ``path``, if it exists.

    ``keep`` leaves the file open (``fd``, the caller's to close).
    """
    try:
        info = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):
        return _Read(None, None)
    except OSError as exc:
        raise failed(exc, "read", path, target) from exc
    refuse_kind(path, info, action="read", limit=MAX_SIZE)
    try:
        fd = os.open(target, _READ_FLAGS)
    except FileNotFoundError:
        return _Read(None, None)
    except OSError as exc:
        raise failed(exc, "read", path, target) from exc
    try:
        read = _Read(_read_fd(path, fd), os.fstat(fd), fd if keep else None)
    except BaseException:
        os.close(fd)
        raise
    if not keep:
        os.close(fd)
    return read


def _read_fd(path: Path, fd: int) -> bytes:
    """Everything ``fd`` holds, having checked (again, on the open file) what it is."""
    refuse_kind(path, os.fstat(fd), action="read", limit=MAX_SIZE)
    try:
        data = read_capped(fd, MAX_SIZE)
    except OSError as exc:
        raise failed(exc, "read", path, path) from exc
    if len(data) > MAX_SIZE:  # it grew while read
        msg = too_large("read", path, len(data), MAX_SIZE)
        raise FileError(msg, path=path, code="too_large")
    return data


def _swap_in(path: Path, target: Path, temp: TempFile, current: _Read) -> bool:
    """Put the temporary file at ``target`` if it still is the file ``current`` read.

    Raises:
        OSError: the swap failed; the temporary file is the caller's to remove.
    """
    if current.info is not None and not _same_inode(target, current.info):
        temp.remove()  # renamed over since read: no need to swap to find out
        return False
    try:
        if current.info is None:
            swap.place(temp.path, target)
        else:
            swap.swap(temp.path, target)
    except (FileExistsError, FileNotFoundError):  # created or removed meanwhile
        temp.remove()
        return False
    except OSError as exc:
        if exc.errno not in swap.UNSUPPORTED:
            raise
        return _fall_back(path, target, temp, current, reason=exc)
    if current.info is None:
        temp.forget()
        return True
    # The temporary file's name now holds what the target held.
    if _is_current(path, temp.path, current):
        temp.remove()
        return True
    _swap_back(path, target, temp)
    return False


def _same_inode(name: Path, info: os.stat_result) -> bool:
    try:
        now = os.lstat(name)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino)


def _is_current(path: Path, name: Path, current: _Read) -> bool:
    """Whether ``name`` is the very file ``current`` read (same inode), unchanged."""
    if current.info is None:
        return False
    try:
        info = os.lstat(name)
        if (info.st_dev, info.st_ino) != (current.info.st_dev, current.info.st_ino):
            return False  # somebody renamed theirs in: put it back without delay
        fd = os.open(name, _READ_FLAGS)
    except OSError:
        return False
    try:
        return _read_fd(path, fd) == current.data  # changed in place?
    except FileError:
        return False
    finally:
        os.close(fd)


def _swap_back(path: Path, target: Path, temp: TempFile) -> None:
    """Put somebody else's file, swapped out a moment ago, back at ``target``.

    Raises:
        OSError: it could not be put back; it stays under the temporary name.
    """
    try:
        swap.swap(temp.path, target)
    except OSError:
        _log.error("file_restore_failed", path=str(path), kept=str(temp.path))
        temp.forget()  # theirs: never removed by ecrd
        raise
    ours = os.fstat(temp.fd).st_ino if temp.fd is not None else None
    if os.lstat(temp.path).st_ino != ours:
        # A third writer renamed in within the microseconds between the two swaps, having
        # read ecrd's file: the one window no writer closes without a shared lock.
        _log.warning("concurrent_write_lost", path=str(path))
    temp.remove()


def _fall_back(
    path: Path, target: Path, temp: TempFile, current: _Read, *, reason: OSError
) -> bool:
    """Where the file system cannot swap: compare, then rename (a short window remains)."""
    device = os.stat(target.parent).st_dev
    if device not in _warned_unsupported:
        _warned_unsupported.add(device)
        _log.warning(
            "exchange_unsupported",
            path=str(path),
            reason=reason.strerror,
            effect="compare, then rename: a concurrent writer's rename can be lost in a short window",
        )
    if _read(path, target).data != current.data:
        temp.remove()
        return False
    os.rename(temp.path, target)
    temp.forget()
    return True


def _write_temp(
    temp: TempFile, data: bytes, *, like: os.stat_result | None, mode: int, private: bool
) -> None:
    """Fill the temporary file: all of ``data``, the mode and owner to keep, on disk."""
    fd = temp.fd
    if fd is None:
        raise AssertionError(temp.path)
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    _copy_mode_and_owner(fd, like, mode, private=private)
    os.fsync(fd)


def _copy_mode_and_owner(fd: int, like: os.stat_result | None, mode: int, *, private: bool) -> None:
    """Give the temporary file the old file's mode and owner, or ``mode`` for a new file.

    A refused ``chown`` or ``chmod`` (``EPERM``; ``EINVAL`` for an id systemd's
    ``PrivateUsers=`` does not map) leaves what ecrd itself creates: its user, ``0600``.
    """
    if like is None:
        os.fchmod(fd, mode)
        return
    with contextlib.suppress(PermissionError, OSError):
        if os.geteuid() == 0:
            os.fchown(fd, like.st_uid, like.st_gid)
        elif like.st_uid == os.geteuid() and like.st_gid != os.getegid():
            # An owner may hand the file to one of their groups; when they cannot, it
            # ends up in their primary group, as any editor would leave it.
            os.fchown(fd, -1, like.st_gid)
    kept = stat.S_IMODE(like.st_mode)
    with contextlib.suppress(OSError):
        os.fchmod(fd, kept & ~0o077 if private else kept)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable, as far as the file system can.

    The file is already replaced: failing now would tell the caller it was not, so a
    directory that cannot be synced (some network and FUSE file systems) is let be.
    """
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
