"""The AWS CLI commands' own call: GetAuthorizationToken as ``aws ecr`` makes it.

Clients come from ``ecrd.ecr.clients`` and errors go through ``ecrd.ecr.errors``:
the same construction and the same error table as the daemon, with botocore's own text
in the messages, as the AWS CLI prints them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import botocore.session

from ecrd.ecr.clients import create_client
from ecrd.ecr.errors import cli_errors

if TYPE_CHECKING:
    from collections.abc import Mapping


def read_profile_settings(*, profile: str | None) -> dict[str, str]:
    """Return the settings of the AWS CLI profile ``profile`` (None: AWS_PROFILE or default).

    These are the profile's own keys in the AWS config files, such as ``output`` and
    ``cli_timestamp_format``; nothing is read from the environment.

    Raises:
        TokenError: the profile does not exist (code ProfileNotFound).
    """
    with cli_errors():
        scoped = botocore.session.Session(profile=profile).get_scoped_config()
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
            a token; its code comes from ``ecrd.ecr.errors`` (the AWS error code for an
            error answer, with ``operation`` and ``service_message`` set).
    """
    with cli_errors():
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
    answer.pop("ResponseMetadata", None)
    return answer
