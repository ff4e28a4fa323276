"""Where ecrd keeps its state: the state root, and one directory per configuration.

Standard library only, and ``os.path`` rather than ``pathlib``: ``docker-credential-ecrd``
imports this module, and it must answer in a few milliseconds.

The state root is ``$STATE_DIRECTORY`` (its first path) under systemd; else, for a user
served by the template unit ``ecrd@USER`` (whose ``StateDirectory=ecrd/%i`` is
``/var/lib/ecrd/USER``), that directory when it exists and belongs to the user, so that
``ecrd status`` and ``docker-credential-ecrd`` run by USER find the daemon's state with no
extra environment; else ``$XDG_STATE_HOME/ecrd`` (``~/.local/state/ecrd``).

Under the root, each configuration file has its own directory, keyed by the file's absolute
path: two configurations on one account never share state or ownership of entries.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not from typing: its import costs more than this module
if TYPE_CHECKING:
    from collections.abc import Mapping

SYSTEM_STATE_ROOT = "/var/lib/ecrd"
CONFIGS = "configs"
STATE_FILE = "state.json"
TOKENS_FILE = "tokens.json"


def state_root(
    env: Mapping[str, str] | None = None, *, system_root: str = SYSTEM_STATE_ROOT
) -> str:
    """The directory that holds every configuration's state (see the module's docstring)."""
    env = os.environ if env is None else env
    if env.get("STATE_DIRECTORY"):
        return env["STATE_DIRECTORY"].split(":")[0]
    user = env.get("USER") or env.get("LOGNAME")
    if user and os.sep not in user and user not in (".", ".."):
        served = os.path.join(system_root, user)  # noqa: PTH118
        try:
            if os.stat(served).st_uid == os.geteuid():  # noqa: PTH116
                return served
        except OSError:
            pass
    if env.get("XDG_STATE_HOME"):
        return os.path.join(env["XDG_STATE_HOME"], "ecrd")  # noqa: PTH118
    home = env.get("HOME") or os.path.expanduser("~")  # noqa: PTH111
    return os.path.join(home, ".local", "state", "ecrd")  # noqa: PTH118


def config_key(config: str) -> str:
    """A directory name for the configuration file ``config``: its stem and a digest of its path."""
    import hashlib  # noqa: PLC0415 - docker-credential-ecrd never needs it

    absolute = os.path.abspath(config)  # noqa: PTH100
    stem = os.path.splitext(os.path.basename(absolute))[0] or "config"  # noqa: PTH119, PTH122
    digest = hashlib.sha256(absolute.encode()).hexdigest()[:12]
    return f"{stem}-{digest}"


def config_state_dir(*, root: str, config: str) -> str:
    """The state directory of the configuration file ``config`` under ``root``."""
    return os.path.join(root, CONFIGS, config_key(config))  # noqa: PTH118


def config_state_dirs(root: str) -> list[str]:
    """Every configuration's state directory under ``root``, sorted; none when it is empty."""
    base = os.path.join(root, CONFIGS)  # noqa: PTH118
    try:
        names = sorted(os.listdir(base))  # noqa: PTH208
    except OSError:
        return []
    return [os.path.join(base, name) for name in names]  # noqa: PTH118
