"""The three places where ecrd needs botocore beyond its documented API, one function each.

botocore documents sessions, clients, events and ``Config``, but not how to assume a role
for a session programmatically, how to run a profile's ``credential_process`` with a
deadline, nor how to give one request timeouts other than its client's.
``tests/ecr/test_internals.py`` fails loudly when an upgrade breaks any of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
    ProcessProvider,
)
from urllib3.util.timeout import Timeout

if TYPE_CHECKING:
    from collections.abc import Callable

    import botocore.session

    from ecrd.ecr.deadline import BoundedProcess


def bound_credential_process(
    session: botocore.session.Session, *, popen: type[BoundedProcess]
) -> None:
    """Make the session run its profile's ``credential_process`` through ``popen``.

    botocore's ProcessProvider takes the Popen to use (it waits with ``communicate()``); the
    provider botocore puts in the session's default chain is replaced by one that uses
    ``popen``, in the same place. A ``credential_process`` of a ``source_profile`` reached
    through botocore's own assume-role provider still runs with botocore's Popen.
    """
    resolver = session.get_component("credential_provider")
    bounded = ProcessProvider(
        profile_name=session.get_config_variable("profile") or "default",
        load_config=lambda: session.full_config,
        popen=popen,
    )
    index = resolver.providers.index(resolver.get_provider(ProcessProvider.METHOD))
    resolver.providers[index] = bounded


def bound_request_timeouts(client: Any, *, seconds: Callable[[], float | None]) -> None:  # noqa: ANN401 - any botocore client
    """Give each request of ``client`` connect and read timeouts of ``seconds()``.

    botocore fixes a client's timeouts when it is built; its HTTP session asks
    ``_get_request_timeout(request)`` for each request's (botocore 1.44 on) and hands the
    answer to urllib3. ``seconds()`` None keeps the client's own; a botocore without the
    method keeps them too.
    """
    http = client._endpoint.http_session  # noqa: SLF001 - see the module's docstring
    default = getattr(http, "_get_request_timeout", None)
    if default is None:
        return

    def per_request(request: object) -> Timeout | None:
        left = seconds()
        if left is None:
            return default(request)  # type: ignore[no-any-return] # botocore's own
        return Timeout(connect=left, read=left)

    http._get_request_timeout = per_request  # noqa: SLF001


class _AssumedRole(CredentialProvider):
    METHOD = "ecrd-assume-role"
    CANONICAL_NAME = "ecrd-assume-role"

    def __init__(
        self,
        base: botocore.session.Session,
        role_arn: str,
        session_name: str,
        create_client: Callable[..., Any],
    ) -> None:
        super().__init__()
        self._base = base
        self._role_arn = role_arn
        self._session_name = session_name
        self._create_client = create_client

    def load(self) -> DeferredRefreshableCredentials | None:
        source = self._base.get_credentials()
        if source is None:
            return None
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=self._create_client,
            source_credentials=source,
            role_arn=self._role_arn,
            extra_args={"RoleSessionName": self._session_name},
        )
        return DeferredRefreshableCredentials(
            method=self.METHOD, refresh_using=fetcher.fetch_credentials
        )


def assume_role(
    session: botocore.session.Session,
    *,
    base: botocore.session.Session,
    role_arn: str,
    session_name: str,
    create_client: Callable[..., Any],
) -> None:
    """Make ``session``'s credentials those of ``role_arn``, assumed with ``base``'s identity.

    STS is called (through ``create_client``) at the first request signed, and again near
    the role credentials' expiry: botocore's refreshable credentials do that.
    """
    session.register_component(
        "credential_provider",
        CredentialResolver(providers=[_AssumedRole(base, role_arn, session_name, create_client)]),
    )
