"""The validated configuration: frozen values, no I/O."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal, get_args

from ecrd.config.durations import format_duration

# The output types, in the order messages list them; each has one writer in
# ecrd.outputs.writers.WRITERS (a test checks that none is missing).
OutputType = Literal["docker", "netrc", "containers"]
OUTPUT_TYPES: tuple[OutputType, ...] = get_args(OutputType)

PUBLIC_HOST = "public.ecr.aws"
PUBLIC_REGION = "us-east-1"


@dataclass(frozen=True)
class RefreshPolicy:
    """When tokens are refreshed and how failures are retried."""

    before_expiry: timedelta = timedelta(hours=6)
    jitter: timedelta = timedelta(minutes=5)
    retry_initial: timedelta = timedelta(seconds=10)
    retry_max: timedelta = timedelta(minutes=5)
    min_interval: timedelta = timedelta(seconds=30)
    attempt_timeout: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class MetricsSpec:
    """Where Prometheus metrics go: a node_exporter textfile, an HTTP listener, or neither.

    ``listen`` is ``(host, port)``, an IPv6 host without its brackets.
    """

    textfile: Path | None = None
    listen: tuple[str, int] | None = None

    @property
    def address(self) -> str | None:
        """``listen`` as written in a file: ``HOST:PORT``, or ``[::1]:PORT`` for IPv6."""
        if self.listen is None:
            return None
        host, port = self.listen
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class OutputSpec:
    """One file ecrd writes credentials into."""

    type: OutputType
    path: Path


@dataclass(frozen=True, order=True)
class GroupKey:
    """What registries must share to be served by one GetAuthorizationToken call."""

    region: str
    profile: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None
    public: bool = False

    @property
    def name(self) -> str:
        """A short stable name for logs and state: ``ecr-public`` or ``ecr:REGION``, plus identity."""
        parts = ["ecr-public" if self.public else f"ecr:{self.region}"]
        if self.profile:
            parts.append(f"profile={self.profile}")
        if self.role_arn:
            parts.append(f"role={self.role_arn}")
        if self.endpoint_url:
            parts.append(f"endpoint={self.endpoint_url}")
        return " ".join(parts)


@dataclass(frozen=True)
class Registry:
    """One registry: the account it belongs to and the host names clients use for it.

    ``hosts`` holds every name the credentials are written under, the primary one first.
    ``registry_id`` is ``None`` for ECR Public.
    """

    registry_id: str | None
    region: str
    hosts: tuple[str, ...]
    profile: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None
    public: bool = False

    @cached_property
    def group_key(self) -> GroupKey:
        """The group this registry's token comes from."""
        return GroupKey(
            region=PUBLIC_REGION if self.public else self.region,
            profile=self.profile,
            role_arn=self.role_arn,
            endpoint_url=self.endpoint_url,
            public=self.public,
        )


@dataclass(frozen=True)
class Group:
    """Registries that share one GetAuthorizationToken call."""

    key: GroupKey
    registries: tuple[Registry, ...]

    @property
    def name(self) -> str:
        """The group's name in logs and state."""
        return self.key.name

    @property
    def registry_ids(self) -> tuple[str, ...]:
        """The distinct registry ids of the group, in configuration order."""
        ids = (r.registry_id for r in self.registries if r.registry_id is not None)
        return tuple(dict.fromkeys(ids))

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host the group's credentials are written under, in configuration order."""
        return tuple(dict.fromkeys(h for r in self.registries for h in r.hosts))


@dataclass(frozen=True)
class Config:
    """A whole validated configuration file."""

    path: Path
    refresh: RefreshPolicy = field(default_factory=RefreshPolicy)
    metrics: MetricsSpec = field(default_factory=MetricsSpec)
    outputs: tuple[OutputSpec, ...] = ()
    registries: tuple[Registry, ...] = ()

    def groups(self) -> tuple[Group, ...]:
        """Registries grouped by identity, region and endpoint, in configuration order."""
        return self._groups

    @cached_property
    def _groups(self) -> tuple[Group, ...]:
        # Computed once: the daemon asks for them at every step of a reload and a round.
        by_key: dict[GroupKey, list[Registry]] = {}
        for registry in self.registries:
            by_key.setdefault(registry.group_key, []).append(registry)
        return tuple(Group(key=k, registries=tuple(v)) for k, v in by_key.items())

    def to_dict(self) -> dict[str, object]:
        """The normalized configuration as plain data, for ``check-config``."""

        def plain(value: object) -> object:
            if isinstance(value, timedelta):
                return format_duration(value)
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
            return value

        return {
            "refresh": plain(self.refresh),
            "metrics": {
                "textfile": plain(self.metrics.textfile),
                "listen": self.metrics.address,
            },
            "outputs": plain(self.outputs),
            "registries": plain(self.registries),
        }
