"""The configuration file a service reads: is it there, is it still the example, create it.

``inspect``, ``create`` and ``remove_if_example`` touch one path and are meant to run as the
user who owns it (``ecrd.service.account.as_account``): in USER's home, they follow only what
USER may. They take the example's bytes from their caller and import nothing: in a child
process dropped to USER, this installation's files may be out of reach (pipx as root).
"""

from __future__ import annotations

import enum
import os
import stat
from importlib import resources
from typing import TYPE_CHECKING

from ecrd import files
from ecrd.errors import FileError, ServiceError
from ecrd.files import replace_file

if TYPE_CHECKING:
    from pathlib import Path

_EXAMPLE = "data/ecrd.example.yaml"
# Larger than any example: not worth reading to compare.
_EXAMPLE_LIMIT = 1 << 20


class Found(enum.Enum):
    """What is at a configuration path."""

    MISSING = "missing"
    EXAMPLE = "example"  # the shipped example, unedited: placeholders, not registries
    OWN = "own"


def example_config() -> bytes:
    """The annotated example configuration shipped in the package."""
    return resources.files("ecrd").joinpath(_EXAMPLE).read_bytes()


def inspect(path: Path, *, example: bytes) -> str:
    """The ``Found`` value (as a string, to cross a process boundary) of ``path``.

    Raises:
        ServiceError: it exists but cannot be looked at, or is not a regular file.
    """
    try:
        info = os.stat(path)  # noqa: PTH116 - one call for the kind and the size
    except FileNotFoundError:
        return Found.MISSING.value
    except OSError as exc:
        msg = f"cannot look at the configuration {path}: {exc.strerror}; check its permissions"
        raise ServiceError(msg) from exc
    if not stat.S_ISREG(info.st_mode):
        msg = f"the configuration {path} is not a regular file: give the path of a YAML file"
        raise ServiceError(msg)
    if info.st_size > _EXAMPLE_LIMIT:
        return Found.OWN.value
    try:
        # O_NONBLOCK: a FIFO swapped in since the stat above must not hang the install.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            data = file.read(_EXAMPLE_LIMIT + 1)
    except OSError as exc:
        msg = f"cannot read the configuration {path}: {exc.strerror}; check its permissions"
        raise ServiceError(msg) from exc
    return str((Found.EXAMPLE if data == example else Found.OWN).value)


def create(path: Path, *, example: bytes, shared: bool) -> str:
    """Create ``path`` holding ``example``, unless something appeared there meanwhile.

    ``shared``: readable by all (``0644`` in ``0755`` directories, for /etc); otherwise
    ``0600`` in ``0700`` directories. Returns a line to show, or "".

    Raises:
        ServiceError: it could not be created (the message names the path).
    """
    try:
        make_dirs(path.parent, mode=0o755 if shared else 0o700)
        created = replace_file(path, example, expected=None, mode=0o644 if shared else 0o600)
    except FileError as exc:
        raise ServiceError(str(exc)) from exc
    return "" if created else f"{path} appeared meanwhile: left as it is"


def remove_if_example(path: Path, *, example: bytes) -> str:
    """Remove ``path`` when it still holds ``example`` unedited; a line saying what was done."""
    try:
        if inspect(path, example=example) != Found.EXAMPLE.value:
            return f"kept {path}: it is no longer the example"
        path.unlink()
    except (OSError, ServiceError) as exc:
        return f"left {path}: {exc}"
    return f"removed {path} again"


def make_dirs(directory: Path, *, mode: int) -> None:
    """Create ``directory`` and its missing parents with ``mode``: the file layer's way.

    Raises:
        FileError: a directory could not be created.
    """
    files.make_dirs(directory, mode=mode)
