"""One configuration's state directory, and where to find it.

A ``StateStore`` gathers the files of one directory, each with its own class: the state
(``StateFile``), the consumers' tokens (``TokensFile``) and the daemon lock
(``DaemonLock``). It knows where a configuration's directory is (``for_config``,
``for_user``), and moves an older ecrd's state there once (``migration``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ecrd import paths
from ecrd.state import migration, ownership
from ecrd.state.daemon_lock import DaemonLock
from ecrd.state.state_file import STATE_FILE, StateFile
from ecrd.state.tokens_file import TokensFile

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Mapping
    from datetime import datetime

    from ecrd.state_model import State


class StateStore:
    """The state directory of one configuration: its state, tokens and daemon lock."""

    def __init__(self, directory: Path, *, config: Path | None = None) -> None:
        self.directory = directory
        self.config = config
        self.state_file = StateFile(directory, config=config)
        self.path = self.state_file.path
        self.tokens = TokensFile(directory)
        self.daemon_lock = DaemonLock(directory, config=config)

    @classmethod
    def for_config(cls, config_path: Path, *, env: Mapping[str, str] | None = None) -> StateStore:
        """The store of ``config_path``, under ``paths.state_root(env)``.

        A state file left directly in the root by an older ecrd (one state for every
        configuration) is moved, once, into the default configuration's directory, so that
        the entries it owns are not orphaned by the upgrade.
        """
        root = paths.state_root(env)
        absolute = Path(os.path.abspath(config_path))  # noqa: PTH100 - no symlink resolution
        directory = Path(paths.config_state_dir(root=root, config=str(absolute)))
        if (Path(root) / STATE_FILE).exists():
            migration.adopt_legacy(root=Path(root), directory=directory, config=absolute, env=env)
        return cls(directory, config=absolute)

    @classmethod
    def for_user(cls, config_path: Path, *, env: Mapping[str, str] | None = None) -> StateStore:
        """Like ``for_config``, for a configuration the user did not name (`ecrd status`).

        When that configuration has no state and the root holds exactly one
        configuration's state (the template unit's, run with its own configuration file),
        that one is the store: its ``config`` is read from its state file.
        """
        store = cls.for_config(config_path, env=env)
        if store.directory.exists():
            return store
        found = [
            Path(d) for d in paths.config_state_dirs(paths.state_root(env)) if Path(d).is_dir()
        ]
        if len(found) != 1:
            return store
        other = cls(found[0])
        state = other.read()
        if state is not None and state.config:
            return cls(found[0], config=Path(state.config))
        return other

    def read(self) -> State | None:
        """The state as last saved, or ``None`` when there is none (or it was corrupt).

        Raises:
            StateError: the file exists but cannot be read.
        """
        return self.state_file.read()

    def transaction(self) -> contextlib.AbstractContextManager[State]:
        """Lock the directory, load the state, yield it, and save it if it changed.

        Raises:
            StateError: the directory could not be locked, or the state not saved.
        """
        return self.state_file.transaction()

    def record_schedule(self, *, next_refresh: Mapping[str, datetime | None]) -> None:
        """Note when the daemon will next refresh each host (state and tokens file).

        Raises:
            StateError: the state could not be saved.
        """
        with self.transaction() as state:
            for host, when in next_refresh.items():
                if host in state.hosts:
                    state.hosts[host].next_refresh_at = when
            self.tokens.record_schedule(next_refresh=next_refresh)

    def others_owned(self) -> dict[str, set[str]]:
        """What the other configurations under the same root own: output path -> hosts."""
        return ownership.others_owned(self.directory)
