"""Errors ecrd reports to users, each with the exit code of the command that meets it."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pathlib import Path


class EcrdError(Exception):
    """Base of every error with a message written for users.

    The message says where (file:line:column, host, path), what went wrong and what to do.
    It never carries a token or a password.
    """

    exit_code: ClassVar[int] = 1


class ConfigError(EcrdError):
    """The configuration file is missing or invalid."""

    exit_code: ClassVar[int] = 2

    def __init__(self, message: str, *, errors: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors or (message,)


# The code of a TokenError for a login that needs a person (an SSO login, an MFA code).
NEEDS_LOGIN = "NeedsLogin"
# AWS error codes that mean "slow down"; HTTP 429 means it too, whatever the code.
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
_TOO_MANY_REQUESTS = 429


class TokenError(EcrdError):
    """A group's credentials could not be fetched from ECR.

    ``code`` is the AWS error code when the service answered with an error (then
    ``operation`` names the call and ``service_message`` is the service's own message),
    else ecrd's name for what failed (``NoCredentials``, ``Timeout``, ``NeedsLogin`` ...).
    ``http_status`` is the HTTP status of the answer, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "Unknown",
        operation: str | None = None,
        service_message: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.operation = operation
        self.service_message = service_message
        self.http_status = http_status

    @property
    def throttled(self) -> bool:
        """True when AWS asked to slow down (a throttling code, or HTTP 429)."""
        return self.code in THROTTLING_CODES or self.http_status == _TOO_MANY_REQUESTS


class FileError(EcrdError):
    """The file layer (``ecrd.files``) could not, or must not, read or write a file.

    ``path`` is the path its message names; ``code`` says what went wrong: the name of the
    ``errno`` (``ENOSPC``, ``EACCES`` ...) or ecrd's own (``hostile_link``, ``link_loop``,
    ``not_regular``, ``too_large``, ``kept_changing``). The file was left as it was.
    """

    def __init__(self, message: str, *, path: Path, code: str) -> None:
        super().__init__(message)
        self.path = path
        self.code = code


class OutputError(EcrdError):
    """An output file could not be read, parsed or written; it was left as it was."""


class StateError(EcrdError):
    """The state directory could not be read or written."""


class ServiceError(EcrdError):
    """A service file could not be installed or removed, or systemctl/launchctl failed."""


class AlreadyRunningError(EcrdError):
    """Another `ecrd run` already serves this configuration (one daemon per configuration)."""


class ControlError(EcrdError):
    """The daemon serving a configuration did not carry out a request (`ecrd refresh`)."""
