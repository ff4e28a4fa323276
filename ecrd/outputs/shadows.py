"""Files that clients read before ecrd's outputs, and whose entries would hide ecrd's.

podman (and skopeo, buildah) read ``$REGISTRY_AUTH_FILE`` or
``$XDG_RUNTIME_DIR/containers/auth.json`` and ``~/.config/containers/auth.json`` before
docker's ``config.json``; helm reads its own registry config first. A login left there for
a managed host outlives its 12 hours and then hides the fresh one ecrd writes elsewhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping


@dataclass(frozen=True)
class Shadow:
    """An entry for ``host`` in ``path``, which ``reader`` reads before ecrd's outputs."""

    path: Path
    host: str
    reader: str

    @property
    def message(self) -> str:
        """What is wrong and what to do, for the log and `ecrd status`."""
        return (
            f"{self.host}: {self.path} holds a login for this host, which {self.reader} reads "
            "before ecrd's outputs and which will hide ecrd's fresh token once it expires: "
            f"add {self.path} to outputs (type: docker), or remove the entry"
        )


def shadow_files(env: Mapping[str, str] | None = None) -> list[tuple[Path, str]]:
    """The files read before docker's config.json, each with who reads it."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    files: list[tuple[Path, str]] = []
    if env.get("REGISTRY_AUTH_FILE"):
        files.append((Path(env["REGISTRY_AUTH_FILE"]), "podman"))
    elif env.get("XDG_RUNTIME_DIR"):
        files.append((Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json", "podman"))
    files.append((config_home / "containers" / "auth.json", "podman"))
    helm = env.get("HELM_REGISTRY_CONFIG")
    files.append(
        (Path(helm) if helm else config_home / "helm" / "registry" / "config.json", "helm")
    )
    return files


def find_shadows(
    *, hosts: Collection[str], outputs: Collection[Path], env: Mapping[str, str] | None = None
) -> list[Shadow]:
    """Entries for ``hosts`` in shadowing files that are not themselves outputs."""
    written = {_identity(p) for p in outputs}
    found: list[Shadow] = []
    for path, reader in shadow_files(env):
        if _identity(path) in written:
            continue
        keys = _auth_keys(path)
        found.extend(Shadow(path=path, host=h, reader=reader) for h in hosts if _matches(h, keys))
    return found


def _identity(path: Path) -> str:
    return os.path.realpath(path)


def _auth_keys(path: Path) -> set[str]:
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        # Missing or unreadable: nothing shadows from there, and it is not ecrd's to judge.
        return set()
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        return set()
    helpers = document.get("credHelpers")
    keys = set(auths)
    if isinstance(helpers, dict):
        keys.update(helpers)
    return keys


def _matches(host: str, keys: Collection[str]) -> bool:
    return any(
        key.removeprefix("https://").removeprefix("http://").split("/", 1)[0] == host
        for key in keys
    )
