"""Files that clients read before ecrd's outputs, and whose entries would hide ecrd's.

podman (and skopeo, buildah) read ``$REGISTRY_AUTH_FILE`` or
``$XDG_RUNTIME_DIR/containers/auth.json`` and ``~/.config/containers/auth.json`` before
docker's ``config.json``; helm reads its own registry config first. A login left there for
a managed host outlives its 12 hours and then hides the fresh one ecrd writes elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ecrd.errors import OutputError
from ecrd.outputs import _docker_json as docker_json
from ecrd.outputs.routing import CONTAINERS, DOCKER, ECRD_HELPER, Clients, auths_key, route

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from ecrd.config.model import OutputType


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
            f"add {self.path} to outputs (type: {_READERS[self.reader].output_type}), or remove the entry"
        )


@dataclass(frozen=True)
class _Reader:
    """Who reads a shadowing file, the rule it follows, and the output type written for it."""

    clients: Clients
    output_type: OutputType


_READERS: Mapping[str, _Reader] = {
    "podman": _Reader(clients=CONTAINERS, output_type="containers"),
    "helm": _Reader(clients=DOCKER, output_type="docker"),
}


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
        document = _read(path)
        found.extend(
            Shadow(path=path, host=h, reader=reader)
            for h in hosts
            if _holds(document, h, _READERS[reader].clients)
        )
    return found


def _identity(path: Path) -> str:
    return os.path.realpath(path)


def _read(path: Path) -> dict[str, object]:
    try:
        return docker_json.parse(path.read_bytes(), path)
    except (OSError, OutputError):
        # Missing or unreadable: nothing shadows from there, and it is not ecrd's to judge.
        return {}


def _holds(document: Mapping[str, object], host: str, clients: Clients) -> bool:
    """Whether ``clients`` find a login for ``host`` in ``document`` that is not ecrd's."""
    where = route(document, host, clients=clients)
    if where.helper is None:
        return auths_key(document, host) is not None
    # A helper named for the host (docker-credential-ecrd serves ecrd's own token); what a
    # whole-file store holds cannot be told without asking it.
    return where.source == "credHelpers" and where.helper != ECRD_HELPER
