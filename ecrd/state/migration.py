"""The move of an older ecrd's state, kept directly in the state root, to its new place.

Older versions kept one state (and tokens) file in the root for every configuration; it
now belongs to the default configuration's directory, so that the entries it owns are not
orphaned by the upgrade.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from ecrd.logs import get_logger
from ecrd.state._disk import ensure_directory
from ecrd.state.state_file import STATE_FILE
from ecrd.state.tokens_file import TOKENS_FILE

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

log = get_logger("ecrd")


def adopt_legacy(
    *, root: Path, directory: Path, config: Path, env: Mapping[str, str] | None
) -> None:
    """Move the root's state and tokens into ``directory`` if ``config`` is the default one.

    Nothing moves when ``directory`` already has a state, or a file is there already.

    Raises:
        StateError: ``directory`` could not be created.
    """
    from ecrd.config.load import default_config_path  # noqa: PLC0415 - upgrades only

    default = os.path.abspath(default_config_path(env=env))  # noqa: PTH100
    if str(config) != default or (directory / STATE_FILE).exists():
        return
    ensure_directory(directory)
    moved = [n for n in (STATE_FILE, TOKENS_FILE) if _move_new(root / n, directory / n)]
    if moved:
        log.info("state_migrated", source=str(root), path=str(directory), files=moved)


def _move_new(source: Path, target: Path) -> bool:
    """Move ``source`` to ``target`` unless ``target`` exists; whether it moved."""
    try:
        # link, then unlink: never over a file a concurrent process has just written
        os.link(source, target)
        source.unlink()
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.EEXIST):
            log.warning("state_migration_failed", path=str(source), error=exc.strerror)
        return False
    return True
