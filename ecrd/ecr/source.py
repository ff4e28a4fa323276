"""The TokenSource seam, its boto3 implementation, and ``fetch_all``: the call and its decoding."""

from __future__ import annotations

import base64
import binascii
import contextlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, Protocol

from ecrd.config import regions
from ecrd.config.model import PUBLIC_HOST
from ecrd.ecr.clients import ClientKnobs, default_retry_mode
from ecrd.ecr.deadline import current_attempt, run_attempt
from ecrd.ecr.errors import Where, group_errors
from ecrd.ecr.sessions import Identity, Sessions
from ecrd.errors import TokenError
from ecrd.secret import Credentials, Secret

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecr_public import ECRPublicClient

    from ecrd.config.model import Group, GroupKey

# ECR rejects a GetAuthorizationToken call with more registry ids than this.
MAX_REGISTRY_IDS: Final = 10
_MAX_WORKERS: Final = 32
ATTEMPT_TIMEOUT: Final = timedelta(seconds=60)
# botocore's calls per ecrd attempt: ecrd's own rules decide every retry, so that a
# throttled fleet is not multiplied by a second layer of retries.
_MAX_ATTEMPTS: Final = 1
# A token that expires later than this is not ECR's (it says 12 hours): a failed attempt,
# rather than a host never refreshed again.
MAX_TOKEN_LIFE: Final = timedelta(days=366)


class TokenSource(Protocol):
    """Where credentials come from."""

    def fetch(self, group: Group) -> Sequence[Credentials]:
        """Make one GetAuthorizationToken call for ``group``.

        Returns one ``Credentials`` per registry id the answer covers (one for ECR Public).

        Raises:
            TokenError: the call failed; the message names the group and what to do.
        """
        ...


def fetch_all(
    source: TokenSource, groups: Sequence[Group]
) -> dict[GroupKey, Sequence[Credentials] | TokenError]:
    """Fetch every group concurrently, one attempt each; a failing group stops no other."""

    def one(group: Group) -> Sequence[Credentials] | TokenError:
        try:
            return source.fetch(group)
        except TokenError as exc:
            return exc

    if not groups:
        return {}
    with ThreadPoolExecutor(
        max_workers=min(_MAX_WORKERS, len(groups)), thread_name_prefix="ecrd-fetch"
    ) as pool:
        results = list(pool.map(one, groups))
    return {g.key: r for g, r in zip(groups, results, strict=True)}


class EcrTokenSource:
    """Fetches tokens with botocore: one session per identity, one client per group, reused.

    Each fetch is one attempt that returns or raises within ``attempt_timeout``: getting
    credentials (a ``credential_process`` is killed at the deadline), STS, SSO and the call,
    each request's connect and read bounded by the time left. Under an attempt of the
    caller's (the daemon's, whose ``attempt_timeout`` follows the configuration) that
    attempt's deadline applies instead. botocore makes one call per attempt.
    """

    def __init__(
        self,
        *,
        attempt_timeout: timedelta = ATTEMPT_TIMEOUT,
        max_attempts: int = _MAX_ATTEMPTS,
        environ: Mapping[str, str] | None = None,
        keep_clients: bool = True,
    ) -> None:
        self._timeout = attempt_timeout.total_seconds()
        # False for one round (``ecrd refresh``): a client is used once, and keeping 1,000
        # of them to the end doubled the peak memory of a 10,000-registry refresh.
        self._keep_clients = keep_clients
        knobs = ClientKnobs(
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
            max_attempts=max_attempts,
            retry_mode=default_retry_mode(environ),
        )
        self._sessions = Sessions(knobs=knobs)

    def fetch(self, group: Group) -> Sequence[Credentials]:
        """See ``TokenSource.fetch``."""
        key = group.key
        outer = current_attempt()
        where = Where(
            group=group.name,
            profile=key.profile,
            public=key.public,
            endpoint_url=key.endpoint_url,
            timeout=self._timeout if outer is None else outer.timeout,
            role_arn=key.role_arn,
        )
        with group_errors(where):
            check_region(key)
            return run_attempt(
                lambda: self._attempt(group),
                timeout=self._timeout,
                name=group.name,
                waiting_for=f"getting AWS credentials from {Identity.of(key).describe()} took too long",
            )

    def forget(self, *, keep: Sequence[Group]) -> None:
        """Drop the clients and sessions of groups no longer configured (after a reload)."""
        self._sessions.forget(keep={g.key for g in keep})

    def identities(self) -> frozenset[Identity]:
        """The identities whose sessions are held now."""
        return self._sessions.identities()

    def _attempt(self, group: Group) -> list[Credentials]:
        client = self._sessions.client(group.key)
        try:
            if group.key.public:
                return [_fetch_public(client)]
            return _fetch_private(client, group)
        finally:
            if not self._keep_clients:
                self._sessions.drop(group.key)


def _fetch_private(client: ECRClient, group: Group) -> list[Credentials]:
    ids = list(group.registry_ids[:MAX_REGISTRY_IDS])
    with _readable_times(group.name):
        answer = (
            client.get_authorization_token(registryIds=ids)
            if ids
            else client.get_authorization_token()
        )
    found: list[Credentials] = []
    for data in answer.get("authorizationData", []):
        endpoint = data.get("proxyEndpoint", "")
        host = endpoint.removeprefix("https://").removeprefix("http://").rstrip("/")
        username, password = decode_token(data.get("authorizationToken", ""), group=group.name)
        found.append(
            Credentials(
                registry_id=host.split(".", 1)[0] if host else None,
                host=host,
                username=username,
                password=password,
                expires_at=_utc(data.get("expiresAt"), group=group.name),
            )
        )
    if not found:
        raise _not_ecr(answer, group=group.name)
    return found


def _fetch_public(client: ECRPublicClient) -> Credentials:
    with _readable_times("ecr-public"):
        answer = client.get_authorization_token()
    data = answer.get("authorizationData")
    if not data:
        raise _not_ecr(answer, group="ecr-public")
    username, password = decode_token(data.get("authorizationToken", ""), group="ecr-public")
    return Credentials(
        registry_id=None,
        host=PUBLIC_HOST,
        username=username,
        password=password,
        expires_at=_utc(data.get("expiresAt"), group="ecr-public"),
    )


@contextlib.contextmanager
def _readable_times(group: str) -> Iterator[None]:
    """Turn botocore's failure to read a time in the answer into a clear TokenError.

    An ``expiresAt`` such as 1e20 makes botocore's timestamp parser raise RuntimeError
    ("Unable to calculate correct timezone offset") or OverflowError; text, ValueError.
    """
    try:
        yield
    except (RuntimeError, OverflowError, ValueError) as exc:
        msg = f"group {group}: ECR answered an expiresAt that is not a readable time"
        raise TokenError(msg, code="MalformedAnswer") from exc


def _not_ecr(answer: Mapping[str, Any], *, group: str) -> TokenError:
    status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
    msg = f"group {group}: the endpoint did not answer like ECR: HTTP {status} without authorizationData"
    return TokenError(msg, code="MalformedAnswer")


def decode_token(token: str, *, group: str) -> tuple[str, Secret]:
    """Split a base64 ``authorizationToken`` into user name and password.

    Raises:
        TokenError: not base64 of USER:PASSWORD (the message shows no part of it).
    """
    try:
        username, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep = ""
    if not sep or not username or not password:
        msg = (
            f"group {group}: ECR answered an authorizationToken that is not base64 of USER:PASSWORD"
        )
        raise TokenError(msg, code="MalformedToken")
    return username, Secret(password)


def check_region(key: GroupKey) -> None:
    """Refuse a region botocore does not know, unless the group has its own endpoint.

    Raises:
        TokenError: code UnknownRegion, with the closest known region.
    """
    problem = None if key.endpoint_url is not None else regions.check_region(key.region)
    if problem is not None:
        msg = f"group {key.name}: {problem}"
        raise TokenError(msg, code="UnknownRegion")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: object, *, group: str) -> datetime:
    """The answer's ``expiresAt``, when it lies between now and ``MAX_TOKEN_LIFE`` ahead.

    Raises:
        TokenError: missing or unreadable, already past, or absurdly far ahead.
    """
    if not isinstance(value, datetime):
        msg = f"group {group}: ECR answered without a valid expiresAt"
        raise TokenError(msg, code="MalformedAnswer")
    expires_at = (
        value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    )
    now = _utcnow()
    if expires_at <= now:
        msg = (
            f"group {group}: ECR answered a token that expired already "
            f"({expires_at:%Y-%m-%d %H:%M:%S}Z); check the endpoint and this machine's clock"
        )
        raise TokenError(msg, code="TokenAlreadyExpired")
    if expires_at - now > MAX_TOKEN_LIFE:
        msg = (
            f"group {group}: ECR answered a token that expires in {expires_at.year}, "
            "more than a year ahead; check the endpoint and this machine's clock"
        )
        raise TokenError(msg, code="MalformedAnswer")
    return expires_at
