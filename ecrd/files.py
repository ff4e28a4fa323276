"""Read and atomically replace a file: the only code that writes output files.

Hand-written on purpose: no well-kept library compares the file with what was read just
before the rename (so a concurrent ``docker login`` is merged, not lost) while keeping the
old file's mode and owner and writing through symlinks (``atomicwrites`` is unmaintained and
does neither).
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ecrd.errors import OutputError

if TYPE_CHECKING:
    from collections.abc import Callable

_ATTEMPTS = 10

# What to do about an errno, after "cannot write PATH: <reason>".
_ADVICE = {
    errno.ENOSPC: "free some space on that file system",
    errno.EDQUOT: "free some space or raise the user's quota",
    errno.EROFS: "choose an output path on a writable file system",
    errno.EISDIR: "remove that directory or choose another path",
    errno.ENOTDIR: "a parent of the path is a file: move it away or choose another path",
    errno.ELOOP: "fix the symlinks on the path",
    errno.ENAMETOOLONG: "choose a shorter path",
}
_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def read_file(path: Path) -> bytes | None:
    """Return the bytes of ``path`` (through symlinks), or ``None`` when it does not exist.

    Raises:
        OutputError: the file exists but cannot be read (a directory, no permission ...).
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(_describe(exc, "read", path, path)) from exc


def replace_file(path: Path, data: bytes, *, expected: bytes | None, mode: int = 0o600) -> bool:
    """Replace ``path`` with ``data`` at once, unless it no longer holds ``expected``.

    Symlinks are followed to their final target, which is replaced; the links stay. Missing
    parent directories are created ``0700``. The new file keeps the old one's mode and owner,
    or gets ``mode`` when there was none. Just before the rename the file is read again: when
    it differs from ``expected`` (``None``: it must not exist), somebody else wrote it since
    the caller read it, nothing is replaced and the result is ``False``; the caller reads,
    merges and tries again. No temporary file is left behind, whatever happens.

    Raises:
        OutputError: the file could not be written; it is unchanged.
    """
    target = _resolve(path)
    _make_parents(path, target.parent)
    try:
        fd, name = tempfile.mkstemp(prefix=".ecrd-", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(_describe(exc, "write", path, target.parent)) from exc
    temp = Path(name)
    replaced = False
    try:
        try:
            _write_all(fd, data)
            _copy_mode_and_owner(fd, target, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        if read_file(target) != expected:
            return False
        temp.replace(target)
        replaced = True
    except OSError as exc:
        raise OutputError(_describe(exc, "write", path, target.parent)) from exc
    finally:
        if not replaced:
            with contextlib.suppress(OSError):
                temp.unlink()
    _fsync_directory(target.parent)
    return True


def update_file(path: Path, *, render: Callable[[bytes | None], bytes | None]) -> bool:
    """Read ``path``, pass its bytes to ``render`` and write what it returns, atomically.

    ``render`` gets ``None`` for a missing file and returns ``None`` (or the same bytes) when
    nothing is to change. When somebody else writes the file in the meantime, it is read and
    rendered again, so their change is kept. Returns whether the file was written.

    Raises:
        OutputError: the file could not be read or written, or kept changing.
    """
    for _ in range(_ATTEMPTS):
        before = read_file(path)
        after = render(before)
        if after is None or after == before:
            return False
        if replace_file(path, after, expected=before):
            return True
    msg = (
        f"{path} kept changing while ecrd wrote it ({_ATTEMPTS} attempts); "
        "find the program rewriting it in a loop, ecrd tries again at the next refresh"
    )
    raise OutputError(msg)


def _resolve(path: Path) -> Path:
    """The final target of ``path``'s symlinks, which need not exist (a dangling link)."""
    try:
        target = Path(os.path.realpath(path))
    except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop on Python 3.10
        msg = f"cannot write {path}: cannot follow its symlinks ({exc}); fix the symlinks"
        raise OutputError(msg) from exc
    if target.is_symlink():  # realpath stops at a loop and hands back a link
        msg = f"cannot write {path}: its symlinks form a loop; fix the symlinks"
        raise OutputError(msg)
    return target


def _make_parents(path: Path, directory: Path) -> None:
    """Create ``directory`` and its missing parents, each ``0700`` whatever the umask."""
    missing: list[Path] = []
    current = directory
    try:
        while not current.exists() and current != current.parent:
            missing.append(current)
            current = current.parent
    except OSError as exc:
        raise OutputError(_describe(exc, "write", path, current.parent)) from exc
    try:
        for new in reversed(missing):
            with contextlib.suppress(FileExistsError):  # made meanwhile: theirs, as it is
                new.mkdir(mode=0o700)
                new.chmod(0o700)
    except OSError as exc:
        raise OutputError(_describe(exc, "write", path, new.parent)) from exc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _copy_mode_and_owner(fd: int, target: Path, mode: int) -> None:
    """Give the temporary file the target's mode and owner, or ``mode`` for a new file."""
    try:
        old = target.stat()
    except FileNotFoundError:
        os.fchmod(fd, mode)
        return
    if os.geteuid() == 0:
        os.fchown(fd, old.st_uid, old.st_gid)
    elif old.st_uid == os.geteuid() and old.st_gid != os.getegid():
        # An owner may hand the file to one of their groups; when they cannot, it
        # ends up in their primary group, as any editor would leave it.
        with contextlib.suppress(PermissionError):
            os.fchown(fd, -1, old.st_gid)
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable, as far as the file system can.

    The file is already replaced: failing now would tell the caller it was not, so a
    directory that cannot be synced (some network and FUSE file systems) is let be.
    """
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _describe(exc: OSError, action: str, path: Path, culprit: Path) -> str:
    """A message for users: which path, what went wrong, what to do next.

    ``culprit`` is the file or directory the failing call worked on; for a permission
    error its owner and mode are shown, so the user sees whom the path belongs to.
    """
    where = str(path)
    if exc.errno in (errno.EACCES, errno.EPERM):
        owner = _owner_and_mode(culprit)
        what = "" if culprit == path else f"{culprit}: "
        detail = f" ({what}{owner})" if owner else ""
        return (
            f"cannot {action} {where}: {_REASONS[exc.errno]}{detail}; "
            "run ecrd as that user, or give it access to the path"
        )
    reason = _REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
    advice = _ADVICE.get(exc.errno or 0, "check the path and try again")
    if exc.errno == errno.EISDIR and action == "read":
        reason = "it is a directory"
    return f"cannot {action} {where}: {reason.lower()}; {advice}"


def _owner_and_mode(path: Path) -> str:
    try:
        info = path.stat()
    except OSError:
        return ""
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    return f"owner {owner}, mode {stat.S_IMODE(info.st_mode):04o}"
