"""THE table that turns botocore's exceptions into ``TokenError``.

Both callers use it: the daemon's fetch (``group_errors``: ecrd's message, naming the group
and the fix on ecrd's side) and the AWS CLI commands (``cli_errors``: botocore's own text,
which the AWS CLI prints). The codes are the same for both. This is the only module that
imports botocore's exceptions.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

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

from ecrd.ecr.deadline import GaveUp
from ecrd.errors import NEEDS_LOGIN, THROTTLING_CODES, TokenError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_DENIED_CODES: Final = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
_BAD_IDENTITY_CODES: Final = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
    }
)
_TOO_MANY_REQUESTS: Final = 429
# A service message is quoted in ecrd's message up to this length, on one line.
_QUOTE_LIMIT: Final = 200


@dataclass(frozen=True)
class Where:
    """What ecrd's messages name: the group, its profile, its endpoint, the attempt's limit."""

    group: str
    profile: str | None = None
    public: bool = False
    endpoint_url: str | None = None
    timeout: float = 60
    role_arn: str | None = None

    @property
    def identity(self) -> str:
        """The credentials' source, in words."""
        if self.profile:
            return f"profile '{self.profile}'"
        return "boto3's default chain (environment, ~/.aws, SSO, instance role)"

    def url(self, exc: Exception) -> str:
        """The endpoint an exception names, else the group's endpoint."""
        named = getattr(exc, "kwargs", {}).get("endpoint_url")
        return str(named or self.endpoint_url or "the ECR endpoint")


_FIX_IDENTITY: Final = (
    "set `profile:` for this registry in the ecrd configuration, or give the environment "
    "ecrd runs in (its service) AWS credentials"
)


def _no_credentials(w: Where, _exc: Exception) -> str:
    return f"no AWS credentials found in {w.identity}; {_FIX_IDENTITY}"


def _no_profile(w: Where, _exc: Exception) -> str:
    return (
        f"AWS profile '{w.profile}' is not in the AWS config files (~/.aws/config, "
        "~/.aws/credentials) of the user ecrd runs as; fix `profile:` in the ecrd configuration"
    )


def _sso(w: Where, _exc: Exception) -> str:
    return f"the SSO login has expired or is missing; run: aws sso login --profile {w.profile or 'default'}"


def _process(w: Where, exc: Exception) -> str:
    return f"could not get AWS credentials from {w.identity}: {_one_line(str(exc))}"


def _unreachable(w: Where, exc: Exception) -> str:
    url = w.url(exc)
    if _is_sts(w, url):
        return (
            f"cannot reach STS at {url} to assume {w.role_arn}; check the network, the region "
            "and STS's endpoint (AWS_ENDPOINT_URL_STS, or the `services` section of the AWS "
            "profile): endpoint_url applies to ECR only"
        )
    return f"cannot reach {url}; check the network, the region and endpoint_url"


def _is_sts(w: Where, url: str) -> bool:
    """True when ``url`` is the STS endpoint of the group's role, not its ECR endpoint."""
    if w.role_arn is None:
        return False
    if w.endpoint_url is not None:
        return not url.startswith(w.endpoint_url.rstrip("/"))
    # botocore's own ECR hosts: api.ecr.REGION..., ecr-public.REGION..., ecr-fips...
    return not (urlsplit(url).hostname or "").startswith(("api.ecr", "ecr"))


def _closed(w: Where, exc: Exception) -> str:
    return f"{w.url(exc)} closed the connection without an answer"


def _read_timeout(w: Where, exc: Exception) -> str:
    return f"gave up after {w.timeout:g} s: {w.url(exc)} did not answer in time"


def _unparsable(w: Where, exc: Exception) -> str:
    return (
        f"the endpoint did not answer like ECR: {w.url(exc)} sent an answer that is not ECR's JSON"
    )


def _no_region(_w: Where, _exc: Exception) -> str:
    return "no region: set `region:` in the ecrd configuration"


def _invalid(_w: Where, exc: Exception) -> str:
    return _one_line(str(exc))


# (exception types, code, ecrd's message): first match wins. The AWS CLI commands take the
# code and keep botocore's text; the daemon takes the code and ecrd's message.
_TABLE: Final[
    tuple[tuple[tuple[type[Exception], ...], str, Callable[[Where, Exception], str]], ...]
] = (
    ((NoCredentialsError,), "NoCredentials", _no_credentials),
    ((PartialCredentialsError,), "PartialCredentials", _no_credentials),
    ((NoRegionError,), "NoRegion", _no_region),
    ((ProfileNotFound,), "ProfileNotFound", _no_profile),
    ((ParamValidationError,), "ParamValidation", _invalid),
    ((UnauthorizedSSOTokenError, TokenRetrievalError, SSOError), NEEDS_LOGIN, _sso),
    ((CredentialRetrievalError,), NEEDS_LOGIN, _process),
    ((EndpointConnectionError, ConnectTimeoutError), "EndpointUnreachable", _unreachable),
    ((ConnectionClosedError,), "ConnectionClosed", _closed),
    ((ReadTimeoutError,), "Timeout", _read_timeout),
    ((ResponseParserError,), "MalformedAnswer", _unparsable),
    # A credential_process that cannot be started (missing, not executable); last, since
    # some of botocore's network errors are OSErrors too.
    ((OSError,), NEEDS_LOGIN, _process),
)


def _row(exc: Exception) -> tuple[str, Callable[[Where, Exception], str]] | None:
    for types, code, explain in _TABLE:
        if isinstance(exc, types):
            return code, explain
    return None


@contextmanager
def cli_errors() -> Iterator[None]:
    """Translate botocore's exceptions for the AWS CLI commands: botocore's text, our code.

    Raises:
        TokenError: for an error answer, ``code`` is the AWS error code and ``operation``
            and ``service_message`` are set; otherwise ``code`` comes from the table
            (InvalidEndpoint for botocore's check of an endpoint URL without a scheme).
    """
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise TokenError(
            str(exc),
            code=str(error.get("Code", "Unknown")),
            operation=exc.operation_name,
            service_message=str(error.get("Message", "")),
            http_status=_http_status(exc),
        ) from exc
    except (BotoCoreError, OSError) as exc:
        row = _row(exc)
        raise TokenError(str(exc), code=row[0] if row else type(exc).__name__) from exc
    except ValueError as exc:
        # botocore's check of an endpoint URL without a scheme, e.g. from AWS_ENDPOINT_URL.
        raise TokenError(str(exc), code="InvalidEndpoint") from exc


@contextmanager
def group_errors(where: Where) -> Iterator[None]:
    """Translate what one group's attempt raises into a TokenError naming the group.

    Raises:
        TokenError: its message says where, what, and the fix on ecrd's side.
    """
    try:
        yield
    except TokenError:
        raise
    except GaveUp as exc:
        msg = f"group {where.group}: {exc}"
        raise TokenError(msg, code="Timeout") from exc
    except ClientError as exc:
        raise _client_error(exc, where) from exc
    except (BotoCoreError, ValueError, OSError) as exc:
        row = _row(exc)
        if row is None:
            msg = f"group {where.group}: {type(exc).__name__}: {_one_line(str(exc))}"
            raise TokenError(msg, code=type(exc).__name__) from exc
        code, explain = row
        msg = f"group {where.group}: {explain(where, exc)}"
        raise TokenError(msg, code=code) from exc


def _client_error(exc: ClientError, where: Where) -> TokenError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    text = _one_line(str(error.get("Message", "")))
    operation = exc.operation_name
    status = _http_status(exc)
    detail = f" ({text})" if text else ""
    name = where.group
    if code.isdigit():
        # No AWS error code: the body (an HTML page, another service's JSON) is not ECR's.
        text = ""
        if status == _TOO_MANY_REQUESTS:
            msg = f"group {name}: throttled (HTTP 429) calling {operation}"
        else:
            msg = f"group {name}: the endpoint did not answer like ECR: HTTP {status or code}"
    elif code in _DENIED_CODES:
        what = (
            "sts:GetServiceBearerToken and ecr-public:GetAuthorizationToken"
            if where.public
            else "ecr:GetAuthorizationToken"
        )
        msg = f"group {name}: access denied ({code}) calling {operation}{detail}; the identity ({where.identity}) needs {what}"
    elif code in THROTTLING_CODES:
        msg = f"group {name}: throttled by AWS ({code}) calling {operation}"
    elif code in _BAD_IDENTITY_CODES:
        msg = f"group {name}: AWS rejected the credentials of {where.identity} ({code}) calling {operation}{detail}; {_FIX_IDENTITY}"
    else:
        msg = f"group {name}: {operation} failed ({code}){detail}"
    return TokenError(msg, code=code, operation=operation, service_message=text, http_status=status)


def _http_status(exc: ClientError) -> int | None:
    """The HTTP status of the service's answer, when botocore recorded one."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _QUOTE_LIMIT else line[: _QUOTE_LIMIT - 3] + "..."
