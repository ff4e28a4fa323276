"""Ownership across configurations: which output entries the other configurations wrote.

Each configuration records, in its state, the entries it wrote in each output; an entry
another configuration under the same root also owns is not removed when this one lets go.
"""

from __future__ import annotations

from pathlib import Path

from ecrd import paths
from ecrd.state.state_file import read_state


def others_owned(directory: Path) -> dict[str, set[str]]:
    """What the configurations beside ``directory`` own: output path -> hosts.

    Read without their locks: a removal checked against it is at worst deferred. A state
    that cannot be read owns nothing here.
    """
    owned: dict[str, set[str]] = {}
    for other in paths.config_state_dirs(str(directory.parent.parent)):
        if Path(other) == directory:
            continue
        state = read_state(Path(other))
        for path, entries in (state.owned if state else {}).items():
            owned.setdefault(path, set()).update(entries.entries)
    return owned
