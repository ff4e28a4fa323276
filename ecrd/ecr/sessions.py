"""One botocore session per identity, one client per group, both kept across rounds.

An identity is (profile, role_arn): the endpoint and region are the client's, not the
session's. Its session loads credentials (running a ``credential_process`` with the
attempt's deadline, assuming ``role_arn`` through STS); each group's client is built once
from it and reused by every later round. Loading credentials holds only that group's lock
and its identity's, so a hung identity never blocks another. Building the client itself
(CPU only: botocore's models, endpoint rules, handlers) is done one at a time: in parallel
threads every build would load the same models again before botocore's cache holds them,
and the threads' fight over the GIL more than doubles a round's CPU. Building, and waiting
for another group's build, does not count against the attempt's deadline (``building``).
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.loaders
import botocore.session

from ecrd.ecr import _internals
from ecrd.ecr.clients import create_client
from ecrd.ecr.deadline import (
    BoundedProcess,
    building,
    check_deadline,
    holding,
    request_timeout,
    waiting_for,
)
from ecrd.errors import NEEDS_LOGIN, TokenError

if TYPE_CHECKING:
    from ecrd.config.model import GroupKey
    from ecrd.ecr.clients import ClientKnobs


@dataclass(frozen=True)
class Identity:
    """Who signs a group's calls: a profile (None: the default chain), maybe a role."""

    profile: str | None
    role_arn: str | None

    @classmethod
    def of(cls, key: GroupKey) -> Identity:
        """The identity of a group."""
        return cls(profile=key.profile, role_arn=key.role_arn)

    def describe(self) -> str:
        """In words, for messages."""
        where = f"profile '{self.profile}'" if self.profile else "the default credential chain"
        return f"{where} assuming {self.role_arn}" if self.role_arn else where


class _Locks:
    """One lock per key, created on first use; the guard is held only to look one up."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[object, threading.Lock] = {}

    def get(self, key: object) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def keep(self, keys: set[object]) -> None:
        """Forget the locks of every other key (their holders, if any, keep theirs)."""
        with self._guard:
            for key in [k for k in self._locks if k not in keys]:
                del self._locks[key]


class Sessions:
    """botocore sessions and clients, created once and reused across rounds."""

    def __init__(self, *, knobs: ClientKnobs) -> None:
        self._knobs = knobs
        self._config = knobs.config()
        # Every session shares one loader: each would otherwise load botocore's service
        # models again (about 9 MiB each).
        self._loader = botocore.loaders.create_loader()
        self._sessions: dict[Identity, botocore.session.Session] = {}
        self._clients: dict[GroupKey, Any] = {}
        self._identity_locks = _Locks()
        self._group_locks = _Locks()
        self._build_lock = threading.Lock()

    def client(self, key: GroupKey) -> Any:  # noqa: ANN401 - ECRClient or ECRPublicClient
        """The group's client, built on first use (loading the identity's credentials).

        Raises:
            TokenError: the profile asks a person for an MFA code.
            botocore's exceptions: the profile is missing, credentials cannot be loaded.
        """
        with holding(self._group_locks.get(key)):
            client = self._clients.get(key)
            if client is None:
                session = self._session(Identity.of(key), region=key.region)
                with building(), self._build_lock:
                    client = self._create(key, session)
                self._clients[key] = client
            return client

    def _create(self, key: GroupKey, session: botocore.session.Session) -> Any:  # noqa: ANN401
        knobs = self._knobs
        client = create_client(
            service="ecr-public" if key.public else "ecr",
            session=session,
            region=key.region,
            endpoint_url=key.endpoint_url,
            connect_timeout=knobs.connect_timeout,
            read_timeout=knobs.read_timeout,
            max_attempts=knobs.max_attempts,
            retry_mode=knobs.retry_mode,
        )
        _internals.bound_request_timeouts(client, seconds=request_timeout)
        return client

    def drop(self, key: GroupKey) -> None:
        """Forget ``key``'s client (its session stays for the identity's other groups)."""
        with holding(self._group_locks.get(key)):
            self._clients.pop(key, None)

    def forget(self, *, keep: set[GroupKey]) -> None:
        """Drop the clients, sessions and locks of groups not in ``keep`` (reloads).

        A session stays while a kept group's identity uses it.
        """
        with self._identity_locks.get(None):
            for key in [k for k in self._clients if k not in keep]:
                del self._clients[key]
            used = {Identity.of(k) for k in keep}
            for identity in [i for i in self._sessions if i not in used]:
                del self._sessions[identity]
            self._group_locks.keep(set(keep) | {None})
            self._identity_locks.keep(set(used) | {None})

    def identities(self) -> frozenset[Identity]:
        """The identities whose sessions are held now."""
        return frozenset(self._sessions)

    def _session(self, identity: Identity, *, region: str) -> botocore.session.Session:
        with holding(self._identity_locks.get(identity)):
            session = self._sessions.get(identity)
            if session is None:
                with building():
                    session = self._build(identity, region=region)
                self._sessions[identity] = session
            waiting_for(f"getting AWS credentials from {identity.describe()} took too long")
            # Loaded once here, under the identity's lock: a credential_process runs once
            # for all the identity's groups, and never while another identity's group waits.
            session.get_credentials()
            waiting_for("preparing the request took too long")
            return session

    def _build(self, identity: Identity, *, region: str) -> botocore.session.Session:
        base = self._new_session(identity.profile)
        # Fail now, with the profile's name, rather than at the first call.
        base.get_scoped_config()
        refuse_mfa(base, profile=identity.profile)
        _internals.bound_credential_process(base, popen=BoundedProcess)
        if identity.role_arn is None:
            return base
        session = self._new_session(identity.profile)
        config = self._config

        def create_sts_client(service: str, **kwargs: Any) -> Any:  # noqa: ANN401 - botocore's
            kwargs.setdefault("region_name", region)
            kwargs.setdefault("config", config)
            with building(), self._build_lock:
                client = base.create_client(service, **kwargs)
            _internals.bound_request_timeouts(client, seconds=request_timeout)
            return client

        _internals.assume_role(
            session,
            base=base,
            role_arn=identity.role_arn,
            session_name=session_name(),
            create_client=create_sts_client,
        )
        return session

    def _new_session(self, profile: str | None) -> botocore.session.Session:
        session = botocore.session.Session(profile=profile)
        session.register_component("data_loader", self._loader)
        # Every client of the session (ECR, STS, SSO) gets ecrd's timeouts and retries,
        # and sends nothing once the attempt's deadline has passed.
        session.set_default_client_config(self._config)
        session.register("before-send", check_deadline)
        return session


def refuse_mfa(session: botocore.session.Session, *, profile: str | None) -> None:
    """Refuse a profile whose role is assumed with an MFA code: a person must type it.

    botocore would prompt on the terminal for it (and block a service for ever).

    Raises:
        TokenError: code NEEDS_LOGIN, with what to do.
    """
    profiles = session.full_config.get("profiles", {})
    name = profile or session.get_config_variable("profile") or "default"
    seen: set[str] = set()
    while name not in seen:
        seen.add(name)
        settings = profiles.get(name, {})
        if settings.get("role_arn") and settings.get("mfa_serial"):
            msg = (
                f"AWS profile '{name}' assumes its role with an MFA code (mfa_serial), which "
                "ecrd cannot type: set `profile:` in the ecrd configuration to a profile that "
                "needs no code (a role trusted without MFA, SSO, or a credential_process)"
            )
            raise TokenError(msg, code=NEEDS_LOGIN)
        name = settings.get("source_profile") or name


def session_name() -> str:
    """The RoleSessionName: shows in CloudTrail which machine assumed the role."""
    # 2 to 64 of [\w+=,.@-].
    host = "".join(c if c.isalnum() or c in "=,.@-" else "-" for c in socket.gethostname())
    return f"ecrd-{host}"[:64]
