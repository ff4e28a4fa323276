"""The ``auth.json`` of podman, skopeo and buildah (containers-auth.json(5)).

The same format as docker's ``config.json`` and written the same way (``DockerOutput``):
``auths`` entries set, every other key kept, a ``credHelpers`` helper of a managed host
given the credentials. Only the routing differs: these tools ignore ``credsStore``, so
ecrd does too and writes such a host into ``auths``, where they look for it.
"""

from __future__ import annotations

from typing import ClassVar

from ecrd.outputs.docker import DockerOutput
from ecrd.outputs.routing import CONTAINERS, Clients


class ContainersOutput(DockerOutput):
    """A containers ``auth.json``: docker's format, read by clients that ignore ``credsStore``."""

    clients: ClassVar[Clients] = CONTAINERS
