"""Following a path's symlinks the safe way, and refusing what is no regular file.

``os.path.realpath`` follows every link; ecrd (root included) must not follow one that
another user planted, anywhere on the path: a link owned by neither root nor the user ecrd
runs as is refused, and its target left alone, even when it dangles (the rule is
``ecrd.safe_read.trusted_link``, which the consumers apply too). So the path is walked one
component at a time, each link checked before it is read.
"""

# ruff: noqa: PTH109, PTH115, PTH118, PTH120
# (descriptor-level calls on purpose: O_NOFOLLOW, fstat, flock, renameat2.)
from __future__ import annotations

import os
import stat
from pathlib import Path

from ecrd.errors import FileError
from ecrd.files.messages import failed, hostile_link, not_regular, too_large
from ecrd.safe_read import MAX_LINKS, kind_of, trusted_link


def resolve(path: Path, *, action: str) -> Path:
    """The final target of ``path``'s symlinks, which need not exist (a dangling link).

    Raises:
        FileError: a link on the way belongs to another user, or the links form a loop;
            the message names ``path`` and the link.
    """
    pending = list(reversed(os.fspath(path).split("/")))
    current = "/" if os.fspath(path).startswith("/") else os.getcwd()
    links = 0
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        try:
            info = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            # Nothing more to follow: the rest is created, or reported, by the caller.
            rest = os.path.normpath(os.path.join(candidate, *reversed(pending)))
            return Path(rest)
        except OSError as exc:
            raise failed(exc, action, path, Path(current)) from exc
        if not stat.S_ISLNK(info.st_mode):
            current = candidate
            continue
        links += 1
        target = _follow(path, Path(candidate), info, action=action, links=links)
        if target.startswith("/"):
            current = "/"
        pending.extend(reversed(target.split("/")))
    return Path(current)


def _follow(path: Path, link: Path, info: os.stat_result, *, action: str, links: int) -> str:
    """The target of ``link``, the ``links``-th on the way, once sure it may be followed.

    Raises:
        FileError: the link belongs to another user, or too many links (a loop).
    """
    if not trusted_link(info):
        msg = hostile_link(action, path, link, info.st_uid)
        raise FileError(msg, path=path, code="hostile_link")
    if links > MAX_LINKS:
        msg = f"cannot {action} {path}: its symlinks form a loop; fix the symlinks"
        raise FileError(msg, path=path, code="link_loop")
    try:
        return os.readlink(link)
    except OSError as exc:
        raise failed(exc, action, path, link) from exc


def refuse_kind(path: Path, info: os.stat_result, *, action: str, limit: int) -> None:
    """Refuse, before reading anything, a file that is not regular or is over ``limit`` bytes.

    Raises:
        FileError: naming ``path`` and what it is.
    """
    kind = kind_of(info.st_mode)
    if kind is not None:
        raise FileError(not_regular(action, path, kind), path=path, code="not_regular")
    if info.st_size > limit:
        msg = too_large(action, path, info.st_size, limit)
        raise FileError(msg, path=path, code="too_large")
