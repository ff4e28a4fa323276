"""``ecrd kubelet-credential-provider``: the kubelet's image credential provider protocol.

The kubelet runs it (as named in its ``CredentialProviderConfig``) with a
``CredentialProviderRequest`` on stdin whenever it pulls an image that ``matchImages``
selects, and caches the answer for ``cacheDuration``. ecrd answers from the logins its
daemon keeps fresh on the node, and never calls AWS: per configuration under the state root
(``ecrd.paths``), the tokens file first (hosts served through ``docker-credential-ecrd``),
then the state file's entry for the host, whose ``outputs`` name the docker ``config.json``
or netrc files that hold the password. Of several configurations, the login that expires
last wins.

The cache ends before the daemon's next refresh of the host (``next_refresh_at``), so that
the kubelet picks up each new token, and in any case half an hour before the token expires,
so that a pull started from the cache does not outlive its token. Empty answers are not
cached: a host ecrd starts serving is picked up at the next pull.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ecrd import paths
from ecrd.docker_credential_ecrd import parse_tokens, server_host
from ecrd.errors import EcrdError, OutputError
from ecrd.files import read_file

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

API_VERSION: Final = "credentialprovider.kubelet.k8s.io/v1"
REQUEST_KIND: Final = "CredentialProviderRequest"
RESPONSE_KIND: Final = "CredentialProviderResponse"
# The kubelet starts its clock a moment after the answer: end the cache this much earlier.
REFRESH_MARGIN: Final = 30.0
# Without the daemon's schedule: a pull started from the cache has this much of the token left.
EXPIRY_MARGIN: Final = 30 * 60.0
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
    login = find_login(host=host, env=os.environ if env is None else env, config=config)
    if login is None:
        return ProviderAnswer(_response(auth={}, seconds=0))
    if login.expires_at <= now:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(login.expires_at))
        notice = f"ecrd: the token for {host} expired at {when}; is ecrd running? see `ecrd status`"
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
        return first.lower()
    return "docker.io"


def cache_seconds(login: HostLogin, *, now: float) -> int:
    """How long the kubelet may cache ``login``: until before the next refresh, or expiry."""
    end = login.expires_at - EXPIRY_MARGIN
    if login.refresh_at is not None:
        end = min(end, login.refresh_at - REFRESH_MARGIN)
    return max(0, int(end - now))


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


def find_login(*, host: str, env: Mapping[str, str], config: str | None = None) -> HostLogin | None:
    """The login for ``host`` that expires last, across configurations; None if none."""
    best: HostLogin | None = None
    for login in _logins(host=host.lower(), env=env, config=config):
        if best is None or login.expires_at > best.expires_at:
            best = login
    return best


def _logins(*, host: str, env: Mapping[str, str], config: str | None) -> Iterator[HostLogin]:
    root = paths.state_root(env)
    # The root itself holds the state of an ecrd from before one directory per configuration.
    directories = (
        [root, *paths.config_state_dirs(root)]
        if config is None
        else [paths.config_state_dir(root=root, config=config)]
    )
    for directory in directories:
        login = _from_tokens(directory, host) or _from_state(directory, host)
        if login is not None:
            yield login


def _from_tokens(directory: str, host: str) -> HostLogin | None:
    path = os.path.join(directory, paths.TOKENS_FILE)  # noqa: PTH118
    data = _read(path)
    if data is None:
        return None
    try:
        token = parse_tokens(data, path=path).get(host)
    except ValueError:
        return None
    if token is None:
        return None
    return HostLogin(
        host=host,
        username=token.username,
        password=token.secret,
        expires_at=token.expires_at,
        refresh_at=token.refresh_at,
    )


def _from_state(directory: str, host: str) -> HostLogin | None:
    """The host's entry in the state file, its password read from an output that holds it."""
    data = _read(os.path.join(directory, paths.STATE_FILE))  # noqa: PTH118
    try:
        document = json.loads(data or b"{}")
        entries = {str(h).lower(): e for h, e in document.get("hosts", {}).items()}
        entry = entries.get(host)
        owned = document.get("owned", {})
        if not isinstance(entry, dict) or not isinstance(owned, dict):
            return None
        expires_at = _unix(entry.get("expires_at"))
        refresh_at = _unix(entry.get("next_refresh_at"))
        outputs = [str(p) for p in entry.get("outputs", [])]
    except (ValueError, TypeError, AttributeError):
        return None  # ecrd moves a damaged state file aside and writes it again
    if expires_at is None:
        return None
    for output in outputs:
        kind = owned.get(output, {}).get("type") if isinstance(owned.get(output), dict) else None
        found = None if kind == "netrc" else _from_docker(output, host)
        if found is None and kind != "docker":
            found = _from_netrc(output, host)
        if found is not None:
            username, password = found
            return HostLogin(
                host=host,
                username=username,
                password=password,
                expires_at=expires_at,
                refresh_at=refresh_at,
            )
    return None


def _from_docker(path: str, host: str) -> tuple[str, str] | None:
    """User and password of ``host`` in a docker config.json, unless docker would not read them."""
    try:
        document = json.loads(_read(path) or b"{}")
        helpers = document.get("credHelpers") or {}
        if document.get("credsStore") or any(server_host(h).lower() == host for h in helpers):
            return None  # kept in a credential store (ecrd's own answers through tokens.json)
        auths = document.get("auths") or {}
        for key, entry in auths.items():
            if server_host(key).lower() == host and isinstance(entry, dict) and entry.get("auth"):
                username, colon, password = (
                    base64.b64decode(entry["auth"], validate=True).decode().partition(":")
                )
                return (username, password) if colon else None
    except (ValueError, TypeError, AttributeError, binascii.Error):
        return None
    return None


def _from_netrc(path: str, host: str) -> tuple[str, str] | None:
    """Login and password of ``host`` (netrc has no ports) in a netrc file."""
    import netrc  # noqa: PLC0415 - only for hosts written to netrc alone

    if _read(path) is None:  # refuses what is not a regular file before netrc opens it
        return None
    try:
        found = netrc.netrc(path).authenticators(host.rsplit(":", 1)[0] if ":" in host else host)
    except (netrc.NetrcParseError, OSError):
        return None
    if found is None or found[2] is None:
        return None
    return found[0], found[2]


def _read(path: str) -> bytes | None:
    try:
        return read_file(Path(path))
    except OutputError:
        return None  # not a regular file, too large, or a link planted by another user


def _unix(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
