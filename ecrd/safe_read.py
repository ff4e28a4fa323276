"""Reading a small regular file that another user may have tampered with, without blocking.

The consumers of ``tokens.json`` (``docker-credential-ecrd``, run by docker or a Nomad
client, and ``ecrd kubelet-credential-provider``, run by the kubelet) often run as root and
read a file in a directory that the user who runs ecrd owns. They read it as ecrd reads an
output (``ecrd.files``): a symlink owned by neither root nor the reading user is refused,
and so is anything that is not a regular file (a FIFO, a device, a socket, a directory) or
is over 16 MiB, at once and without blocking.

Why a second reader: ``docker-credential-ecrd`` runs on every image pull and must start as
fast as a bare ``python3``, so it imports the standard library's built-in modules only;
``ecrd.files`` brings ecrd's logging (structlog) and its messages module along. The rule
which links may be followed is written here once (``trusted_link``, ``MAX_LINKS``); the
file layer imports it, and this module applies it to reading alone.

How: the path is walked one component at a time, each opened relative to its directory's
descriptor with ``O_NOFOLLOW`` (``O_PATH`` where the system has it, which opens nothing
for reading), so that a link is checked on the very link that is followed, and what is
read is the file that was checked: its ``fstat`` is compared with the one of the checked
name, then checked again on the descriptor opened for reading (``O_NONBLOCK``: a FIFO
swapped in at the last moment cannot block the open), before a read capped at the limit.
"""

from __future__ import annotations

import errno
import os
import stat

MAX_SIZE = 16 * 1024 * 1024
MAX_LINKS = 40  # links followed on one path, as the kernel allows (ELOOP beyond)
_ATTEMPTS = 10  # a name swapped between the check and the open is checked again
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_PATH = getattr(os, "O_PATH", 0)  # Linux: a descriptor that opens nothing for reading
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | _CLOEXEC
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_capped(fd: int, limit: int) -> bytes:
    """What ``fd`` holds, up to ``limit`` + 1 bytes: more than ``limit`` means it is larger."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def kind_of(mode: int) -> str | None:
    """What a file that is not a regular file is (``None`` for a regular file)."""
    return next((name for test, name in _KINDS if test(mode)), None)


def trusted_link(info: os.stat_result) -> bool:
    """Whether ecrd follows the symlink ``info`` describes (``lstat``): owned by root or by us.

    A link owned by another user may have been planted to send a write (or a read run as
    root) elsewhere: it is refused, whatever it points at, even when it dangles.
    """
    return info.st_uid in (0, os.geteuid())


class RefusedFileError(Exception):
    """The file exists but must not, or cannot, be read; the message names it and says why."""


def read_regular(path: str, *, limit: int = MAX_SIZE) -> bytes | None:
    """The bytes of the regular file ``path``, or ``None`` when it does not exist.

    Raises:
        RefusedFileError: a link on the way is owned by another user, the file is no
            regular file or is over ``limit`` bytes, or it cannot be read.
    """
    for _ in range(_ATTEMPTS):
        try:
            found = _walk(path)
        except FileNotFoundError:
            return None  # removed while walked
        except OSError as exc:
            raise RefusedFileError(_describe(path, exc)) from None
        if found is None:
            return None
        directory, name, info = found
        try:
            data = _read_checked(path, directory, name, info, limit=limit)
        finally:
            os.close(directory)
        if data is not None:
            return data
    msg = f"cannot read {path}: it kept being replaced while read; try again"
    raise RefusedFileError(msg)


def _walk(path: str) -> tuple[int, str, os.stat_result] | None:
    """The open directory of the file ``path`` names after its links, its name and status.

    ``None`` when a component does not exist. The directory is the caller's to close.

    Raises:
        RefusedFileError: a link on the way belongs to another user, or links form a loop.
    """
    pending = [p for p in reversed(path.split("/")) if p not in ("", ".")]
    directory = os.open("/" if path.startswith("/") else ".", _directory_flags())
    links = 0
    found = None
    try:
        while pending:
            name = pending.pop()
            info, target = _look(directory, name, path)
            if info is None:
                break
            if target is not None:
                links += 1
                _check_loop(path, links)
                if target.startswith("/"):
                    os.close(directory)
                    directory = os.open("/", _directory_flags())
                pending.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
            elif not pending:
                found = (directory, name, info)
            elif not stat.S_ISDIR(info.st_mode):
                break  # a file where a directory was expected: nothing there
            else:
                inner = os.open(name, _directory_flags() | os.O_NOFOLLOW, dir_fd=directory)
                os.close(directory)
                directory = inner
    finally:
        if found is None:
            os.close(directory)
    return found


def _check_loop(path: str, links: int) -> None:
    if links > MAX_LINKS:
        msg = f"cannot read {path}: its symlinks form a loop; fix the symlinks"
        raise RefusedFileError(msg)


def _look(directory: int, name: str, path: str) -> tuple[os.stat_result | None, str | None]:
    """The status of ``name`` in ``directory`` (not followed), and its target if a link.

    Raises:
        RefusedFileError: ``name`` is a link owned by neither root nor this user.
    """
    if not _PATH:  # no O_PATH: the link is read by name right after its check
        try:
            info = os.stat(name, dir_fd=directory, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None, None
        if not stat.S_ISLNK(info.st_mode):
            return info, None
        _check_link_owner(path, name, info)
        return info, os.readlink(name, dir_fd=directory)
    try:
        fd = os.open(name, _PATH | os.O_NOFOLLOW | _CLOEXEC, dir_fd=directory)
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    try:
        info = os.fstat(fd)
        if not stat.S_ISLNK(info.st_mode):
            return info, None
        _check_link_owner(path, name, info)
        return info, os.readlink("", dir_fd=fd)  # this very link, whatever the name holds now
    finally:
        os.close(fd)


def _read_checked(
    path: str, directory: int, name: str, info: os.stat_result, *, limit: int
) -> bytes | None:
    """The bytes of ``name``, if it is still the file ``info`` describes; ``None`` if not."""
    _refuse(path, info, limit=limit)
    try:
        fd = os.open(name, _READ, dir_fd=directory)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            return None  # removed or turned into a link since checked: look again
        raise RefusedFileError(_describe(path, exc)) from None
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            return None
        _refuse(path, opened, limit=limit)
        data = read_capped(fd, limit)
        if len(data) > limit:  # it grew while read
            _refuse(path, os.fstat(fd), limit=limit)
    except OSError as exc:
        raise RefusedFileError(_describe(path, exc)) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise RefusedFileError(_too_large(path, len(data), limit))
    return data


def _directory_flags() -> int:
    return (_PATH or os.O_RDONLY) | os.O_DIRECTORY | _CLOEXEC


def _check_link_owner(path: str, name: str, info: os.stat_result) -> None:
    if not trusted_link(info):
        msg = (
            f"cannot read {path}: {name} on its way is a symlink owned by uid {info.st_uid}, "
            f"neither root nor this user (uid {os.geteuid()}); not followed. Find out who "
            "planted it, or replace it with a link of your own"
        )
        raise RefusedFileError(msg)


def _refuse(path: str, info: os.stat_result, *, limit: int) -> None:
    kind = kind_of(info.st_mode)
    if kind is not None:
        msg = f"cannot read {path}: it is {kind}, not a regular file; it was not read"
        raise RefusedFileError(msg)
    if info.st_size > limit:
        raise RefusedFileError(_too_large(path, info.st_size, limit))


def _too_large(path: str, size: int, limit: int) -> str:
    return (
        f"cannot read {path}: it is larger than {limit // (1 << 20)} MiB ({size} bytes), far "
        "more than a tokens file holds; it was not read"
    )


def _describe(path: str, exc: OSError) -> str:
    reason = (exc.strerror or str(exc)).lower()
    return f"cannot read {path}: {reason}; run this as root or as the user who runs ecrd"
