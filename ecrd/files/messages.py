"""Messages for users about a file that could not be read or written: where, what, what next."""

# ruff: noqa: PTH116
# (descriptor-level calls on purpose: O_NOFOLLOW, fstat, flock, renameat2.)
from __future__ import annotations

import errno
import os
import pwd
import stat
from typing import TYPE_CHECKING

from ecrd.errors import FileError

if TYPE_CHECKING:
    from pathlib import Path

# What went wrong, after "cannot write PATH: ".
_REASONS = {
    errno.ENOSPC: "no space left on device (the file system is full)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (a file size limit of the file system or of ecrd's process)",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ELOOP: "its symlinks form a loop",
}
_KEPT = "ecrd left the old file as it was and tries again at the next refresh"
# What to do about it. Never advice that loses data ("remove that directory").
_ADVICE = {
    errno.ENOSPC: f"free some space on that file system; {_KEPT}",
    errno.EDQUOT: f"free some space or raise the user's quota; {_KEPT}",
    errno.EFBIG: f"raise the limit (ulimit -f, LimitFSIZE=) or choose another file system; {_KEPT}",
    errno.EROFS: (
        f"make that file system writable or choose an output path on a writable one; {_KEPT}"
    ),
    errno.EISDIR: "choose a path that is a file",
    errno.ENOTDIR: "a parent of the path is a file, not a directory: choose another path",
    errno.ELOOP: "fix the symlinks on the path",
    errno.ENAMETOOLONG: "choose a shorter path",
}


def failed(exc: OSError, action: str, path: Path, culprit: Path) -> FileError:
    """The ``FileError`` for ``exc``: its message (see ``describe``), the errno's name as code."""
    code = errno.errorcode.get(exc.errno or 0, "EIO")
    return FileError(describe(exc, action, path, culprit), path=path, code=code)


def describe(exc: OSError, action: str, path: Path, culprit: Path) -> str:
    """A message for users: which path, what went wrong, what to do next.

    ``culprit`` is the file or directory the failing call worked on; for a permission
    error its owner and mode are shown, so the user sees whom the path belongs to.
    """
    code = exc.errno or 0
    if code in (errno.EACCES, errno.EPERM):
        owner = owner_and_mode(culprit)
        what = "" if culprit == path else f"{culprit}: "
        detail = f" ({what}{owner})" if owner else ""
        # Root is refused only by the file system itself (/sys, /proc, an immutable file, a
        # sandbox): another user would not help there.
        advice = (
            "the file system refuses it even to root: choose an output path on an ordinary, writable file system"
            if os.geteuid() == 0
            else "run ecrd as that user, or give it access to the path"
        )
        return f"cannot {action} {path}: {_REASONS[code]}{detail}; {advice}"
    reason = _REASONS.get(code) or exc.strerror or str(exc)
    if code == errno.EISDIR:
        reason = "it is a directory"
    advice = _ADVICE.get(code, "check the path and try again")
    return f"cannot {action} {path}: {reason[0].lower()}{reason[1:]}; {advice}"


def not_regular(action: str, path: Path, kind: str) -> str:
    """Why ecrd does not touch a FIFO, device, directory or socket."""
    return (
        f"cannot {action} {path}: it is {kind}, not a regular file; ecrd did not open it "
        "(a credentials file must be a regular file): point the output at a regular file"
    )


def too_large(action: str, path: Path, size: int, limit: int) -> str:
    """Why ecrd does not read a file far larger than any credentials file."""
    return (
        f"cannot {action} {path}: it is larger than {limit // (1 << 20)} MiB ({size} bytes), "
        "far more than a credentials file holds; ecrd left it untouched: check that the "
        "path is the file you meant"
    )


def hostile_link(action: str, path: Path, link: Path, uid: int) -> str:
    """Why ecrd does not follow a symlink another user owns."""
    return (
        f"cannot {action} {path}: {link} is a symlink owned by {user_name(uid)}, neither "
        f"root nor the user ecrd runs as ({user_name(os.geteuid())}); ecrd does not follow "
        "it. Find out who planted it; point the output at the real file, or replace the "
        "link with one of your own"
    )


def owner_and_mode(path: Path) -> str:
    """``owner NAME, mode 0NNN`` of ``path``, or ``""`` when it cannot be told."""
    try:
        info = os.stat(path)
    except OSError:
        return ""
    return f"owner {user_name(info.st_uid)}, mode {stat.S_IMODE(info.st_mode):04o}"


def user_name(uid: int) -> str:
    """The user's name, or ``uid N`` when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
