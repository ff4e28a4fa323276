"""``ecrd kubelet-credential-provider``: the kubelet's image credential provider protocol.

The kubelet runs it (as named in its ``CredentialProviderConfig``) with a
``CredentialProviderRequest`` on stdin whenever it pulls an image that ``matchImages``
selects, and caches the answer for ``cacheDuration``. ecrd answers from the logins its
daemon keeps fresh on the node, and never calls AWS: per configuration under the state root
(``ecrd.paths``), the tokens file, which holds the current login of every host the
configuration manages, whatever its outputs. Of several configurations, the login that
expires last wins. The kubelet runs it as root, so it reads nothing else (never a file that
a state file names) and reads the tokens file as ecrd reads an output
(``ecrd.safe_read``): no link of another user, no FIFO or device, nothing over 16 MiB.

The cache ends before the daemon's next refresh of the host (``next_refresh_at``), so that
the kubelet picks up each new token, and in any case half an hour before the token expires,
so that a pull started from the cache does not outlive its token, and never longer than a
token lives (12 hours). Empty answers are not cached: a host ecrd starts serving is picked
up at the next pull.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ecrd import paths
from ecrd.docker_credential_ecrd import expired_notice, lookup_host, read_tokens
from ecrd.errors import EcrdError

if TYPE_CHECKING:
    from collections.abc import Mapping

API_VERSION: Final = "credentialprovider.kubelet.k8s.io/v1"
REQUEST_KIND: Final = "CredentialProviderRequest"
RESPONSE_KIND: Final = "CredentialProviderResponse"
# The kubelet starts its clock a moment after the answer: end the cache this much earlier.
REFRESH_MARGIN: Final = 30.0
# Without the daemon's schedule: a pull started from the cache has this much of the token left.
EXPIRY_MARGIN: Final = 30 * 60.0
# An ECR token lives 12 hours: no answer is cached longer, whatever a tokens file says.
MAX_CACHE: Final = 12 * 3600
_SHOWN: Final = 80  # characters of a bad field quoted in an error


class ProviderRequestError(EcrdError):
    """The kubelet's request cannot be read; the message says what was expected."""


@dataclass(frozen=True, repr=False)
class HostLogin:
    """A managed host's current login, and when ecrd will replace it (Unix seconds)."""

    host: str
    username: str
    password: str
    expires_at: float
    refresh_at: float | None

    def __repr__(self) -> str:
        return f"HostLogin(host={self.host!r}, expires_at={self.expires_at!r}, password='***')"


@dataclass(frozen=True)
class ProviderAnswer:
    """The response document for stdout, and a line for stderr (or None)."""

    response: dict[str, Any]
    notice: str | None = None


def answer_request(
    text: str,
    *,
    env: Mapping[str, str] | None = None,
    now: float | None = None,
    config: str | None = None,
) -> ProviderAnswer:
    """Answer one ``CredentialProviderRequest`` (the JSON text on stdin).

    ``config`` narrows the answer to one configuration's logins; by default every
    configuration under the state root serves.

    Raises:
        ProviderRequestError: ``text`` is not a request ecrd can answer.
    """
    image = read_request(text)
    host = image_host(image)
    now = time.time() if now is None else now
    login, notice = find_login(host=host, env=os.environ if env is None else env, config=config)
    if login is None:
        return ProviderAnswer(_response(auth={}, seconds=0), notice)
    if login.expires_at <= now:
        notice = expired_notice(host, login.expires_at)
        return ProviderAnswer(_response(auth={}, seconds=0), notice)
    auth = {login.host: {"username": login.username, "password": login.password}}
    return ProviderAnswer(_response(auth=auth, seconds=cache_seconds(login, now=now)))


def read_request(text: str) -> str:
    """The image of a ``CredentialProviderRequest``.

    Raises:
        ProviderRequestError: not JSON, another apiVersion or kind, or no image.
    """
    expected = f"a {REQUEST_KIND} ({API_VERSION}) as the kubelet sends it"
    try:
        document = json.loads(text)
    except ValueError as exc:
        msg = f"the request on stdin is not JSON ({exc}); expected {expected}"
        raise ProviderRequestError(msg) from None
    except RecursionError:
        msg = f"the request on stdin is nested too deep to be a request; expected {expected}"
        raise ProviderRequestError(msg) from None
    if not isinstance(document, dict):
        msg = f"the request on stdin is not a JSON object; expected {expected}"
        raise ProviderRequestError(msg)
    for key, wanted in (("apiVersion", API_VERSION), ("kind", REQUEST_KIND)):
        if document.get(key) != wanted:
            got = json.dumps(document.get(key))[:_SHOWN]
            msg = f"the request's {key} is {got}, not {wanted!r}; set apiVersion: {API_VERSION} in the kubelet's CredentialProviderConfig"
            raise ProviderRequestError(msg)
    image = document.get("image")
    if not isinstance(image, str) or not image.strip():
        msg = f"the request has no image (a non-empty string); expected {expected}"
        raise ProviderRequestError(msg)
    return image.strip()


def image_host(image: str) -> str:
    """The registry host of an image reference, as docker reads it, in lower case.

    ``HOST[:PORT]/REPO[:TAG][@DIGEST]``: the first component is a host when it has a dot or
    a port or is ``localhost``; otherwise the image is on Docker Hub (``docker.io``).
    """
    name = image.split("@", 1)[0]
    first, slash, _ = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return lookup_host(first)
    return "docker.io"


def cache_seconds(login: HostLogin, *, now: float) -> int:
    """How long the kubelet may cache ``login``: until before the next refresh, or expiry.

    Never longer than a token lives (``MAX_CACHE``), never negative.
    """
    end = login.expires_at - EXPIRY_MARGIN
    if login.refresh_at is not None:
        end = min(end, login.refresh_at - REFRESH_MARGIN)
    return int(max(0.0, min(float(MAX_CACHE), end - now)))


def go_duration(seconds: int) -> str:
    """``seconds`` as Go's ``time.Duration`` prints it (``5h59m30s``, ``1m0s``, ``0s``)."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def _response(*, auth: dict[str, dict[str, str]], seconds: int) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": RESPONSE_KIND,
        "cacheKeyType": "Registry",
        "cacheDuration": go_duration(seconds),
        "auth": auth,
    }


def find_login(
    *, host: str, env: Mapping[str, str], config: str | None = None
) -> tuple[HostLogin | None, str | None]:
    """The login for ``host`` that expires last, across configurations; None if none.

    Also returns a line for stderr when none is found and something is worth saying: no
    tokens file where it looked, or a tokens file it refused to read.
    """
    directories = None
    if config is not None:
        root = paths.state_root(env)
        directories = [paths.config_state_dir(root=root, config=config)]
    found = read_tokens(env, directories=directories)
    token = found.tokens.get(host.lower())
    if token is None:
        notice = found.problems[0] if found.problems else found.nothing_found()
        return None, notice and (notice if notice.startswith("ecrd: ") else f"ecrd: {notice}")
    login = HostLogin(
        host=host,
        username=token.username,
        password=token.secret,
        expires_at=token.expires_at,
        refresh_at=token.refresh_at,
    )
    return login, None
