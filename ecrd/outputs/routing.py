"""Where a client looks for a host's credentials in a docker-format file: auths, a store, a helper.

docker: ``credHelpers[host]`` when the key exists (``""`` means ``auths``), else
``credsStore`` when set, else ``auths``. podman, skopeo and buildah read the same file format
(containers-auth.json(5)) and follow ``credHelpers`` the same way, but ignore ``credsStore``.
This is the one place that decides it: the writers follow it, and so does every reader of
such a file that must know where a login would be found.

Pure and light (no file access, standard library only), so that a client entry point may
import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ecrd.hostport import url_host

if TYPE_CHECKING:
    from collections.abc import Mapping

# credHelpers / credsStore value naming ecrd's own helper, docker-credential-ecrd.
ECRD_HELPER = "ecrd"


@dataclass(frozen=True)
class Clients:
    """The clients that read one kind of file, and whether they honour ``credsStore``.

    ``name`` is the client said to ask a helper in messages; ``helper_readers`` the clients
    that ask a ``credHelpers`` helper for a host of such a file.
    """

    name: str
    helper_readers: str
    honours_store: bool


# podman and skopeo read docker's config.json too, and its credHelpers with it.
DOCKER = Clients(name="docker", helper_readers="docker, podman and skopeo", honours_store=True)
CONTAINERS = Clients(
    name="podman", helper_readers="podman, skopeo and buildah", honours_store=False
)


@dataclass(frozen=True)
class Route:
    """Where a client looks for a host's credentials: ``auths`` (helper ``None``) or a helper.

    ``source`` is what decided it.
    """

    helper: str | None
    source: Literal["credHelpers", "credsStore", "auths"]


def route(document: Mapping[str, object], host: str, *, clients: Clients) -> Route:
    """Where ``clients`` look for ``host``'s credentials in ``document``, a parsed file.

    ``credHelpers`` keys are matched exactly, as the clients look them up.
    """
    helpers = document.get("credHelpers")
    if isinstance(helpers, dict) and host in helpers:
        name = helpers[host]
        return Route(helper=name if isinstance(name, str) and name else None, source="credHelpers")
    store = document.get("credsStore")
    if clients.honours_store and isinstance(store, str) and store:
        return Route(helper=store, source="credsStore")
    return Route(helper=None, source="auths")


def auths_key(document: Mapping[str, object], host: str) -> str | None:
    """The ``auths`` key clients read for ``host``, or ``None`` when there is none.

    The host itself first, else a key that names it with a scheme or a path
    (``https://HOST/v1/``), as docker reduces a key to its host.
    """
    entries = document.get("auths")
    if not isinstance(entries, dict):
        return None
    if host in entries:
        return host
    return next((key for key in entries if url_host(key) == host), None)
