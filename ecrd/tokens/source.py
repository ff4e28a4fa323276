"""Fetching ECR credentials: the TokenSource seam and its boto3 implementation.

This is the only module that talks to AWS and the only one that imports botocore's
exceptions: it translates them into ``TokenError`` with a message naming the group.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

import botocore.loaders
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
from botocore.parsers import ResponseParserError

from ecrd.config.model import PUBLIC_HOST, Group, GroupKey
from ecrd.errors import TokenError
from ecrd.secret import Credentials, Secret

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecr_public import ECRPublicClient

# ECR rejects a GetAuthorizationToken call with more registry ids than this.
MAX_REGISTRY_IDS = 10
_MAX_WORKERS = 10
_THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
_BAD_IDENTITY_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
    }
)


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
    """Fetch every group concurrently; a failing group does not stop the others."""

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


@dataclass(frozen=True)
class _ClientKnobs:
    """The settings of a botocore client that ecrd chooses (the rest is botocore's)."""

    connect_timeout: float = 60
    read_timeout: float = 60
    max_attempts: int | None = None
    retry_mode: str | None = None
    unsigned: bool = False

    def config(self) -> BotoConfig:
        options: dict[str, Any] = {
            # 0 means no timeout, as for the AWS CLI's --cli-*-timeout.
            "connect_timeout": self.connect_timeout or None,
            "read_timeout": self.read_timeout or None,
            "user_agent_extra": "ecrd",
        }
        if self.max_attempts is not None or self.retry_mode is not None:
            # None leaves retries to botocore: AWS_RETRY_MODE, AWS_MAX_ATTEMPTS, the profile.
            retries: dict[str, Any] = {"mode": self.retry_mode or "standard"}
            if self.max_attempts is not None:
                retries["total_max_attempts"] = self.max_attempts
            options["retries"] = retries
        if self.unsigned:
            options["signature_version"] = UNSIGNED
        return BotoConfig(**options)


def create_client(
    *,
    service: str = "ecr",
    session: botocore.session.Session | None = None,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    verify: bool | str | None = None,
    connect_timeout: float = 60,
    read_timeout: float = 60,
    max_attempts: int | None = None,
    retry_mode: str | None = None,
    unsigned: bool = False,
    wire_timestamps: bool = False,
) -> Any:  # noqa: ANN401 - ECRClient or ECRPublicClient
    """Build the botocore client for ``service`` ("ecr" or "ecr-public"): ecrd's only one.

    ``session`` is used as given (``profile`` is then ignored); without one, a new session
    reads ``profile`` (None: AWS_PROFILE, else the default profile). Every None leaves the
    setting to botocore's own resolution, as the AWS CLI does: ``region`` from AWS_REGION
    (which AWS CLI v2 reads and botocore does not), AWS_DEFAULT_REGION or the profile;
    ``endpoint_url`` from AWS_ENDPOINT_URL(_ECR) or the profile; ``verify`` (False, or a
    CA bundle path) from AWS_CA_BUNDLE or ``ca_bundle``; retries from AWS_RETRY_MODE,
    AWS_MAX_ATTEMPTS or the profile. A timeout of 0 means none.
    ``unsigned`` sends requests without a signature and loads no credentials.
    ``wire_timestamps`` keeps timestamps as the service sent them (epoch seconds), as the
    AWS CLI's ``cli_timestamp_format = wire`` does, instead of datetimes.

    Raises botocore's exceptions (ProfileNotFound, NoRegionError, ValueError for a bad
    endpoint): callers in this module translate them.
    """
    if session is None:
        session = botocore.session.Session(profile=profile)
    region = region or os.environ.get("AWS_REGION") or None
    if wire_timestamps:
        session.get_component("response_parser_factory").set_parser_defaults(
            timestamp_parser=_as_sent
        )
    knobs = _ClientKnobs(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_attempts=max_attempts,
        retry_mode=retry_mode,
        unsigned=unsigned,
    )
    return session.create_client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        verify=verify,
        config=knobs.config(),
    )


def _as_sent(value: object) -> object:
    return value


def read_profile_settings(*, profile: str | None) -> dict[str, str]:
    """Return the settings of the AWS CLI profile ``profile`` (None: AWS_PROFILE or default).

    These are the profile's own keys in the AWS config files, such as ``output`` and
    ``cli_timestamp_format``; nothing is read from the environment.

    Raises:
        TokenError: the profile does not exist (code ProfileNotFound).
    """
    try:
        scoped = botocore.session.Session(profile=profile).get_scoped_config()
    except ProfileNotFound as exc:
        raise TokenError(str(exc), code="ProfileNotFound", retryable=False) from exc
    return {str(k): str(v) for k, v in scoped.items() if isinstance(v, str)}


def request_authorization_token(
    *,
    params: Mapping[str, object],
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    verify: bool | str | None = None,
    connect_timeout: float = 60,
    read_timeout: float = 60,
    unsigned: bool = False,
) -> dict[str, Any]:
    """Call ECR GetAuthorizationToken with ``params`` as the AWS CLI does; return the answer.

    The answer is the service's, as botocore parses it, without ResponseMetadata and with
    ``expiresAt`` as on the wire (epoch seconds). ``params`` go to botocore unchanged, so it
    validates them (names, types, lengths) as it does for the AWS CLI. The other arguments
    are those of ``create_client``; retries are botocore's (AWS_RETRY_MODE, the profile).

    Raises:
        TokenError: its message is botocore's text, which the AWS CLI prints, and never holds
            a token. For an error answer from the service, ``code`` is the AWS error code and
            ``operation`` and ``service_message`` are set; otherwise ``code`` is one of
            NoCredentials, PartialCredentials, NoRegion, ProfileNotFound, ParamValidation,
            EndpointUnreachable, Timeout, ConnectionClosed, MalformedAnswer, InvalidEndpoint,
            NeedsLogin, or the name of botocore's exception.
    """
    try:
        client = create_client(
            profile=profile,
            region=region,
            endpoint_url=endpoint_url,
            verify=verify,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            unsigned=unsigned,
            wire_timestamps=True,
        )
        answer: dict[str, Any] = dict(client.get_authorization_token(**params))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise TokenError(
            str(exc),
            code=str(error.get("Code", "Unknown")),
            operation=exc.operation_name,
            service_message=str(error.get("Message", "")),
        ) from exc
    except (BotoCoreError, ValueError) as exc:
        raise _translate_plain(exc) from exc
    answer.pop("ResponseMetadata", None)
    return answer


# (exception types, code, retryable) for failures before or around a call: first match wins.
_PLAIN_ERRORS: tuple[tuple[tuple[type[Exception], ...], str, bool], ...] = (
    ((NoCredentialsError,), "NoCredentials", True),
    ((PartialCredentialsError,), "PartialCredentials", True),
    ((NoRegionError,), "NoRegion", False),
    ((ProfileNotFound,), "ProfileNotFound", False),
    ((ParamValidationError,), "ParamValidation", False),
    ((UnauthorizedSSOTokenError, TokenRetrievalError, SSOError), "NeedsLogin", True),
    ((CredentialRetrievalError,), "NeedsLogin", True),
    ((EndpointConnectionError, ConnectTimeoutError), "EndpointUnreachable", True),
    ((ConnectionClosedError,), "ConnectionClosed", True),
    ((ReadTimeoutError,), "Timeout", True),
    ((ResponseParserError,), "MalformedAnswer", True),
)


def _translate_plain(exc: BotoCoreError | ValueError) -> TokenError:
    if not isinstance(exc, BotoCoreError):
        # botocore's check of an endpoint URL without a scheme, e.g. from AWS_ENDPOINT_URL.
        return TokenError(str(exc), code="InvalidEndpoint", retryable=False)
    for types, code, retryable in _PLAIN_ERRORS:
        if isinstance(exc, types):
            return TokenError(str(exc), code=code, retryable=retryable)
    return TokenError(str(exc), code=type(exc).__name__)


def decode_token(token: str, *, group: str) -> tuple[str, Secret]:
    """Split a base64 ``authorizationToken`` into user name and password."""
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


class EcrTokenSource:
    """Fetches tokens with boto3, one client per group, reused across refreshes.

    Credentials come from boto3's default chain or the group's profile; a ``role_arn`` is
    assumed through STS and its credentials are reused until near their expiry (botocore's
    refreshable credentials do that).
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 5,
        read_timeout: float = 15,
        max_attempts: int = 3,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._knobs = _ClientKnobs(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
            retry_mode="adaptive" if env.get("AWS_RETRY_MODE") == "adaptive" else "standard",
        )
        # The STS client that assumes roles gets the same settings as the ECR clients.
        self._config = self._knobs.config()
        self._lock = threading.Lock()
        self._clients: dict[GroupKey, Any] = {}
        self._group_locks: dict[GroupKey, threading.Lock] = {}
        self._sessions: dict[tuple[str | None, str | None], botocore.session.Session] = {}
        self._loader = botocore.loaders.create_loader()

    def fetch(self, group: Group) -> Sequence[Credentials]:
        """See ``TokenSource.fetch``."""
        key = group.key
        try:
            client = self._client(key)
            if key.public:
                return [self._fetch_public(client)]
            return self._fetch_private(client, group)
        except TokenError:
            raise
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, group) from exc

    def _fetch_private(self, client: ECRClient, group: Group) -> list[Credentials]:
        ids = list(group.registry_ids[:MAX_REGISTRY_IDS])
        answer = (
            client.get_authorization_token(registryIds=ids)
            if ids
            else (client.get_authorization_token())
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
            msg = f"group {group.name}: the endpoint answered GetAuthorizationToken without authorizationData; is it an ECR endpoint?"
            raise TokenError(msg, code="MalformedAnswer")
        return found

    def _fetch_public(self, client: ECRPublicClient) -> Credentials:
        data = client.get_authorization_token().get("authorizationData", {})
        username, password = decode_token(data.get("authorizationToken", ""), group="ecr-public")
        return Credentials(
            registry_id=None,
            host=PUBLIC_HOST,
            username=username,
            password=password,
            expires_at=_utc(data.get("expiresAt"), group="ecr-public"),
        )

    def _client(self, key: GroupKey) -> Any:  # noqa: ANN401 - ECRClient or ECRPublicClient
        # Stand-in (daemon branch) for TOKENS' fix: a lock per group, so that one identity
        # hanging while its client resolves credentials holds up no other group.
        with self._lock:
            group_lock = self._group_locks.setdefault(key, threading.Lock())
        with group_lock:
            client = self._clients.get(key)
            if client is None:
                _check_region(key)
                with self._lock:
                    session = self._session(key)
                client = create_client(
                    service="ecr-public" if key.public else "ecr",
                    session=session,
                    region=key.region,
                    endpoint_url=key.endpoint_url,
                    connect_timeout=self._knobs.connect_timeout,
                    read_timeout=self._knobs.read_timeout,
                    max_attempts=self._knobs.max_attempts,
                    retry_mode=self._knobs.retry_mode,
                )
                self._clients[key] = client
            return client

    def _session(self, key: GroupKey) -> botocore.session.Session:
        # One session per identity, whatever the region, all sharing one loader: each
        # session would otherwise load botocore's service models again (about 9 MiB each).
        cache_key = (key.profile, key.role_arn)
        session = self._sessions.get(cache_key)
        if session is not None:
            return session
        base = self._new_session(key.profile)
        # Fail now, with the profile's name, rather than at the first call.
        base.get_scoped_config()
        if key.role_arn is None:
            session = base
        else:
            session = self._new_session(key.profile)
            session.register_component(
                "credential_provider",
                CredentialResolver(
                    providers=[_AssumedRoleProvider(base, key.role_arn, key.region, self._config)]
                ),
            )
        self._sessions[cache_key] = session
        return session

    def _new_session(self, profile: str | None) -> botocore.session.Session:
        session = botocore.session.Session(profile=profile)
        session.register_component("data_loader", self._loader)
        return session


class _AssumedRoleProvider(CredentialProvider):
    """Credentials of ``role_arn``, assumed with the base session's identity, auto-renewed."""

    METHOD = "ecrd-assume-role"
    CANONICAL_NAME = "ecrd-assume-role"

    def __init__(
        self, base: botocore.session.Session, role_arn: str, region: str, config: BotoConfig
    ) -> None:
        super().__init__()
        self._base = base
        self._role_arn = role_arn
        self._region = region
        self._config = config

    def load(self) -> DeferredRefreshableCredentials:
        source = self._base.get_credentials()
        if source is None:
            raise NoCredentialsError

        def create_client(service: str, **kwargs: Any) -> Any:  # noqa: ANN401
            kwargs.setdefault("region_name", self._region)
            kwargs.setdefault("config", self._config)
            return self._base.create_client(service, **kwargs)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=create_client,
            source_credentials=source,
            role_arn=self._role_arn,
            extra_args={"RoleSessionName": _session_name()},
        )
        return DeferredRefreshableCredentials(
            method=self.METHOD, refresh_using=fetcher.fetch_credentials
        )


def _session_name() -> str:
    # Shows in CloudTrail which machine assumed the role; 2 to 64 of [\w+=,.@-].
    host = "".join(c if c.isalnum() or c in "=,.@-" else "-" for c in socket.gethostname())
    return f"ecrd-{host}"[:64]


def _check_region(key: GroupKey) -> None:
    if key.endpoint_url is not None:
        return
    session = botocore.session.get_session()
    known = {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ecr", partition, allow_non_regional=False)
    }
    if key.region in known:
        return
    close = difflib.get_close_matches(key.region, sorted(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    msg = (
        f"group {key.name}: unknown region '{key.region}'{hint}; if it is a new AWS region, "
        "upgrade botocore or set endpoint_url"
    )
    raise TokenError(msg, code="UnknownRegion", retryable=False)


def _utc(value: object, *, group: str) -> datetime:
    if isinstance(value, datetime):
        return (
            value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
        )
    msg = f"group {group}: ECR answered without a valid expiresAt"
    raise TokenError(msg, code="MalformedAnswer")


def _translate(exc: ClientError | BotoCoreError, group: Group) -> TokenError:
    if isinstance(exc, ClientError):
        return _translate_client_error(exc, group)
    name = group.name
    profile = group.key.profile
    url = getattr(exc, "kwargs", {}).get("endpoint_url", "the ECR endpoint")
    default_chain = "boto3's default chain (environment, ~/.aws, SSO, instance role)"
    where = f"profile '{profile}'" if profile else default_chain
    # (exception types, code, message, retryable): first match wins.
    table: tuple[tuple[tuple[type[Exception], ...], str, str, bool], ...] = (
        (
            (NoCredentialsError, PartialCredentialsError),
            "NoCredentials",
            f"no AWS credentials found in {where}; configure credentials or set 'profile'",
            True,
        ),
        (
            (ProfileNotFound,),
            "ProfileNotFound",
            f"AWS profile '{profile}' is not in the AWS config files (~/.aws/config, ~/.aws/credentials)",
            False,
        ),
        (
            (UnauthorizedSSOTokenError, TokenRetrievalError, SSOError),
            "NeedsLogin",
            f"the SSO login has expired or is missing; run: aws sso login --profile {profile or 'default'}",
            True,
        ),
        (
            (CredentialRetrievalError,),
            "NeedsLogin",
            f"could not get AWS credentials: {exc}",
            True,
        ),
        (
            (EndpointConnectionError, ConnectTimeoutError),
            "EndpointUnreachable",
            f"cannot reach {url}; check the network, the region and endpoint_url",
            True,
        ),
        (
            (ConnectionClosedError,),
            "ConnectionClosed",
            f"{url} closed the connection without an answer; will retry",
            True,
        ),
        (
            (ReadTimeoutError,),
            "Timeout",
            f"{url} did not answer in time; will retry",
            True,
        ),
        (
            (ResponseParserError,),
            "MalformedAnswer",
            "the ECR endpoint sent an answer that is not valid JSON",
            True,
        ),
    )
    for types, code, text, retryable in table:
        if isinstance(exc, types):
            return TokenError(f"group {name}: {text}", code=code, retryable=retryable)
    msg = f"group {name}: {type(exc).__name__}: {exc}"
    return TokenError(msg, code=type(exc).__name__)


def _translate_client_error(exc: ClientError, group: Group) -> TokenError:
    name = group.name
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    text = str(error.get("Message", "")).strip()
    operation = exc.operation_name
    detail = f" ({text})" if text else ""
    if code in _DENIED_CODES:
        what = (
            "sts:GetServiceBearerToken and ecr-public:GetAuthorizationToken"
            if group.key.public
            else "ecr:GetAuthorizationToken"
        )
        msg = f"group {name}: access denied ({code}) calling {operation}{detail}; the identity needs {what}"
    elif code in _THROTTLING_CODES:
        msg = f"group {name}: throttled by AWS ({code}) calling {operation}, even after retries; will retry later"
    elif code in _BAD_IDENTITY_CODES:
        msg = f"group {name}: AWS rejected the credentials ({code}) calling {operation}{detail}; check the profile or role"
    else:
        msg = f"group {name}: {operation} failed ({code}){detail}"
    return TokenError(msg, code=code, operation=operation, service_message=text)
