"""Whether ``metrics.textfile`` can be written by the user running ecrd (`ecrd check-config`).

Standard library only: `check-config` stays fast.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# Debian's prometheus-node-exporter reads its textfiles here.
DEBIAN_TEXTFILE_DIRECTORY = "/var/lib/prometheus/node-exporter"


def textfile_problem(textfile: Path) -> str | None:
    """Why ``textfile``'s directory cannot be written by this user, or ``None`` when it can."""
    directory = textfile.parent
    user = _owner(os.geteuid())
    if not directory.is_dir():
        return (
            f"metrics.textfile: the directory {directory} does not exist; create it where "
            f"node_exporter reads textfiles (Debian: {DEBIAN_TEXTFILE_DIRECTORY}) and let "
            f"{user} write it"
        )
    if os.access(directory, os.W_OK | os.X_OK):
        return None
    info = directory.stat()
    owner = _owner(info.st_uid)
    mode = stat.S_IMODE(info.st_mode)
    return (
        f"metrics.textfile: {user} cannot write {directory} (owner {owner}, mode {mode:04o}): "
        f"the metrics will not be written; let {user} write it "
        f"(setfacl -m u:{user}:rwx {directory}, Debian package acl), or choose a directory "
        f"{user} can write"
    )


def _owner(uid: int) -> str:
    import pwd  # noqa: PLC0415 - only when there is something to report

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
