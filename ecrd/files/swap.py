"""Swap two paths in one step, or rename without replacing: the kernel calls ``os`` lacks.

Linux has ``renameat2(RENAME_EXCHANGE)`` (glibc 2.28+), macOS ``renamex_np(RENAME_SWAP)``;
both are reached through ``ctypes`` because Python's ``os`` offers neither. A file system
that cannot swap (some network and FUSE ones, older kernels) answers ``EINVAL``, ``ENOSYS``
or ``ENOTSUP``: ``UNSUPPORTED`` names those, and the caller falls back to a plain rename.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes
    from pathlib import Path

# Errors meaning "this file system or kernel cannot do it", not "it went wrong".
UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})

_AT_FDCWD = -100
_LINUX_NOREPLACE = 1  # RENAME_NOREPLACE
_LINUX_EXCHANGE = 2  # RENAME_EXCHANGE
_DARWIN_SWAP = 0x2  # RENAME_SWAP
_DARWIN_EXCL = 0x4  # RENAME_EXCL


def swap(first: Path, second: Path) -> None:
    """Exchange ``first`` and ``second``, both of which must exist, atomically.

    Raises:
        OSError: as the kernel reports it (``errno`` in ``UNSUPPORTED``: cannot swap here;
            ``ENOENT``: one of them is missing).
    """
    _call(first, second, linux=_LINUX_EXCHANGE, darwin=_DARWIN_SWAP)


def place(source: Path, destination: Path) -> None:
    """Rename ``source`` to ``destination``, which must not exist yet, atomically.

    Raises:
        FileExistsError: ``destination`` exists (somebody created it meanwhile).
        OSError: as the kernel reports it (``errno`` in ``UNSUPPORTED``: cannot do it here).
    """
    _call(source, destination, linux=_LINUX_NOREPLACE, darwin=_DARWIN_EXCL)


def _call(first: Path, second: Path, *, linux: int, darwin: int) -> None:
    function = _function()
    if function is None:
        raise OSError(errno.ENOSYS, "the C library has no renameat2", str(first))
    import ctypes  # noqa: PLC0415  (only writers pay for it, never `ecrd --version`)

    if sys.platform == "darwin":
        result = function(os.fsencode(first), os.fsencode(second), darwin)
    else:
        result = function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), linux)
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(first), None, str(second))


@functools.cache
def _function() -> ctypes._NamedFuncPointer | None:
    """The C library's ``renameat2`` (Linux) or ``renamex_np`` (macOS), if it has one."""
    import ctypes  # noqa: PLC0415

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    if sys.platform == "darwin":
        function = getattr(libc, "renamex_np", None)
        arguments = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
    else:
        function = getattr(libc, "renameat2", None)
        arguments = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if function is None:
        return None
    function.argtypes = arguments
    function.restype = ctypes.c_int
    found: ctypes._NamedFuncPointer = function
    return found
