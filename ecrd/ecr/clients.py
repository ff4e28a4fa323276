"""botocore clients as ecrd and the AWS CLI commands build them: ecrd's one construction."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class ClientKnobs:
    """The settings of a botocore client that ecrd chooses (the rest is botocore's).

    A timeout of 0 means none, as for the AWS CLI's ``--cli-*-timeout``. ``max_attempts``
    and ``retry_mode`` None leave retries to botocore (AWS_RETRY_MODE, AWS_MAX_ATTEMPTS,
    the profile).
    """

    connect_timeout: float = 60
    read_timeout: float = 60
    max_attempts: int | None = None
    retry_mode: str | None = None
    unsigned: bool = False

    def config(self) -> BotoConfig:
        """The botocore ``Config`` of these settings."""
        options: dict[str, Any] = {
            "connect_timeout": self.connect_timeout or None,
            "read_timeout": self.read_timeout or None,
            "user_agent_extra": "ecrd",
        }
        if self.max_attempts is not None or self.retry_mode is not None:
            retries: dict[str, Any] = {"mode": self.retry_mode or "standard"}
            if self.max_attempts is not None:
                retries["total_max_attempts"] = self.max_attempts
            options["retries"] = retries
        if self.unsigned:
            options["signature_version"] = UNSIGNED
        return BotoConfig(**options)


def default_retry_mode(environ: Mapping[str, str] | None = None) -> str:
    """Botocore's retry mode for ecrd's own clients: standard, unless AWS_RETRY_MODE=adaptive."""
    env = os.environ if environ is None else environ
    return "adaptive" if env.get("AWS_RETRY_MODE") == "adaptive" else "standard"


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
    """Build the botocore client for ``service`` ("ecr" or "ecr-public").

    ``session`` is used as given (``profile`` is then ignored); without one, a new session
    reads ``profile`` (None: AWS_PROFILE, else the default profile). Every None leaves the
    setting to botocore's own resolution, as the AWS CLI does: ``region`` from AWS_REGION
    (which AWS CLI v2 reads and botocore does not), AWS_DEFAULT_REGION or the profile;
    ``endpoint_url`` from AWS_ENDPOINT_URL(_ECR) or the profile; ``verify`` (False, or a
    CA bundle path) from AWS_CA_BUNDLE or ``ca_bundle``; timeouts and retries are those of
    ``ClientKnobs``. ``unsigned`` sends requests
    without a signature and loads no credentials. ``wire_timestamps`` keeps timestamps as
    the service sent them (epoch seconds), as the AWS CLI's ``cli_timestamp_format = wire``
    does, instead of datetimes.

    Raises botocore's exceptions (ProfileNotFound, NoRegionError, ValueError for a bad
    endpoint): callers translate them with ``ecrd.ecr.errors``.
    """
    if session is None:
        session = botocore.session.Session(profile=profile)
    region = region or os.environ.get("AWS_REGION") or None
    if wire_timestamps:
        session.get_component("response_parser_factory").set_parser_defaults(
            timestamp_parser=_as_sent
        )
    return session.create_client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        verify=verify,
        config=ClientKnobs(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
            retry_mode=retry_mode,
            unsigned=unsigned,
        ).config(),
    )


def _as_sent(value: object) -> object:
    return value
