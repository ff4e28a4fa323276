"""An output file's update through the file layer, whose failure becomes an output's error.

The one place where the file layer's ``FileError`` becomes an ``OutputError``; every writer
updates its file through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecrd.errors import FileError, OutputError
from ecrd.files import update_file

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def update_output(
    path: Path, *, render: Callable[[bytes | None], bytes | None], private: bool = False
) -> bool:
    """``files.update_file`` for an output file: whether it was written.

    Raises:
        OutputError: the file could not be read or written; it is unchanged.
    """
    try:
        return update_file(path, render=render, private=private)
    except FileError as exc:
        raise OutputError(str(exc)) from exc
