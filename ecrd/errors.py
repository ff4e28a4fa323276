"""Errors ecrd reports to users, each with the exit code of the command that meets it."""

from __future__ import annotations

from typing import ClassVar

# Stand-in (daemon branch) for TOKENS' errors.py, INTERFACES §4: logins that need a person.
NEEDS_LOGIN = "NeedsLogin"
_THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)


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


class TokenError(EcrdError):
    """A group's credentials could not be fetched from ECR.

    ``code`` is the AWS error code when the service answered with an error (then
    ``operation`` names the call and ``service_message`` is the service's own message),
    else ecrd's name for what failed (``NoCredentials``, ``EndpointUnreachable`` ...).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "Unknown",
        retryable: bool = True,
        operation: str | None = None,
        service_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.operation = operation
        self.service_message = service_message

    @property
    def throttled(self) -> bool:
        """True when AWS refused the call for its rate limit (stand-in for TOKENS' version)."""
        return self.code in _THROTTLING_CODES or self.code == "429"


class OutputError(EcrdError):
    """An output file could not be read, parsed or written; it was left as it was."""


class StateError(EcrdError):
    """The state directory could not be read or written."""


class ServiceError(EcrdError):
    """A service file could not be installed or removed, or systemctl/launchctl failed."""


class AlreadyRunningError(EcrdError):
    """Another `ecrd run` serves this configuration (stand-in for ROUND's, INTERFACES §7)."""
