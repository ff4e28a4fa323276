"""One item of ``registries`` -> a ``Registry``, with where each of its hosts is written.

An item is a host (``ID.dkr.ecr.REGION.amazonaws.com``, ``public.ecr.aws``) or a mapping
(``registry_id`` and ``region``, or ``public: true``, plus ``hosts`` to give its credentials
to other names). Identity (profile, role, endpoint) and the region default to ``aws:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from ecrd.config._located import dotted, within
from ecrd.config._schema import REGISTRY, read_section
from ecrd.config.describe import describe
from ecrd.config.hosts import (
    ecr_host_forms,
    host_registry_id,
    is_valid_region,
    parse_host,
    partition,
    standard_host,
)
from ecrd.config.model import PUBLIC_HOST, PUBLIC_REGION, Registry
from ecrd.config.regions import check_region

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ecrd.config._located import DocPath, Tree

    Section = Mapping[str, object]

EXAMPLE_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

_REGISTRY_ID = re.compile(r"[0-9]{12}")
_HOST_FORMS = (
    "ID.dkr.ecr.REGION.amazonaws.com (.amazonaws.com.cn in China, or another partition's"
    " suffix), its FIPS form ID.dkr.ecr-fips.REGION.amazonaws.com, its dual-stack forms"
    " ID.dkr-ecr.REGION.on.aws and ID.dkr-ecr-fips.REGION.on.aws, or public.ecr.aws for"
    " ECR Public"
)


@dataclass(frozen=True)
class Entry:
    """A registry read from the file, with where each of its hosts comes from."""

    registry: Registry
    host_paths: tuple[tuple[str, DocPath], ...]


def read_registries(value: object, *, aws: Section | None, tree: Tree) -> list[Entry]:
    """The registries of the ``registries`` list that could be read; ``tree`` gets the rest.

    ``aws`` is the ``aws`` section, or ``None`` when it has errors.
    """
    return _Reader(tree=tree, aws=aws).registries(value)


@dataclass
class _Reader:
    tree: Tree
    aws: Section | None

    def registries(self, value: object) -> list[Entry]:
        if not isinstance(value, list):
            msg = (
                "registries: expected a list of ECR hosts or registry mappings"
                f" ('registries: []' for none), got {describe(value)}"
            )
            self.tree.report(("registries",), msg)
            return []
        entries: list[Entry] = []
        for i, item in enumerate(value):
            at: DocPath = ("registries", i)
            entry: Entry | None = None
            if isinstance(item, str):
                entry = self._shorthand(item, at)
            elif isinstance(item, dict):
                entry = self._registry(item, at)
            else:
                msg = (
                    f"{dotted(at)}: expected an ECR host (such as {EXAMPLE_HOST}) or a mapping"
                    f" with registry_id and region, or 'public: true', got {describe(item)}"
                )
                self.tree.report(at, msg)
            if entry is not None:
                entries.append(entry)
        return entries

    def _shorthand(self, text: str, at: DocPath) -> Entry | None:
        host = text.strip().lower()
        parsed = parse_host(host)
        problem = _not_a_host(text, host) if parsed is None else _misspelt_host(text, host)
        if problem is not None or parsed is None:
            self.tree.report(at, problem or "")
            return None
        if parsed.registry_id is None:
            registry = _registry_of(registry_id=None, region=PUBLIC_REGION, hosts=(), aws=self.aws)
            return Entry(registry, ((PUBLIC_HOST, at),))
        registry = _registry_of(
            registry_id=parsed.registry_id, region=parsed.region, hosts=(host,), aws=self.aws
        )
        if not self._region_known(registry, at):
            return None
        return Entry(registry, ((host, at),))

    def _registry(self, item: dict[str, object], at: DocPath) -> Entry | None:
        given = read_section(REGISTRY, item, at=at, tree=self.tree)
        if given is None:
            written = item.get("registry_id")
            if isinstance(written, (str, int)) and not isinstance(written, bool):
                self._registry_id(written, at)  # its own mistakes, even in a bad mapping
            return None
        hosts_given = cast("tuple[str, ...]", given.get("hosts", ()))
        extra = tuple((host, (*at, "hosts", j)) for j, host in enumerate(hosts_given))
        if given.get("public"):
            ok = True
            for key, why in (
                ("registry_id", "ECR Public has no registry id"),
                ("region", f"ECR Public tokens always come from {PUBLIC_REGION}"),
            ):
                if given.get(key) is not None:
                    msg = f"'{key}' cannot go with 'public: true' ({why}); remove it"
                    self.tree.report((*at, key), msg, key=True)
                    ok = False
            if not ok:
                return None
            hosts = tuple(h for h, _ in extra)
            registry = _registry_of(
                registry_id=None, region=PUBLIC_REGION, hosts=hosts, aws=self.aws, given=given
            )
            return Entry(registry, ((PUBLIC_HOST, (*at, "public")), *extra))
        registry_id = self._registry_id(cast("str | int | None", given.get("registry_id")), at)
        region = given.get("region") or (self.aws.get("region") if self.aws else None)
        if region is None and self.aws is not None:
            msg = (
                f"missing key 'region' {within(at)}, and 'aws.region' is not set: add"
                " 'region: REGION' to the registry or to the 'aws' section"
            )
            self.tree.report(at, msg)
        if registry_id is None or not isinstance(region, str):
            return None
        host = standard_host(registry_id, region)
        hosts = (host, *(h for h, _ in extra))
        registry = _registry_of(
            registry_id=registry_id, region=region, hosts=hosts, aws=self.aws, given=given
        )
        region_at = (*at, "region") if given.get("region") else ("aws", "region")
        if not self._region_known(registry, region_at):
            return None
        return Entry(registry, ((host, (*at, "registry_id")), *extra))

    def _region_known(self, registry: Registry, at: DocPath) -> bool:
        """Whether botocore can reach ECR in the registry's region, reported where not.

        With an endpoint_url any region will do: botocore has no endpoint to find.
        """
        problem = None if registry.endpoint_url else check_region(registry.region)
        if problem:
            self.tree.report(at, problem)
        return problem is None

    def _registry_id(self, value: str | int | None, at: DocPath) -> str | None:
        id_at: DocPath = (*at, "registry_id")
        if value is None:
            msg = (
                f"missing key 'registry_id' {within(at)}: the registry's 12-digit AWS account"
                " id, such as '123456789012' (or 'public: true' for ECR Public)"
            )
            self.tree.report(at, msg)
            return None
        if isinstance(value, str):
            if _REGISTRY_ID.fullmatch(value):
                return value
            msg = f"{dotted(id_at)}: expected a registry id of 12 digits, got {describe(value)}"
            self.tree.report(id_at, msg)
            return None
        written = self.tree.source(id_at)
        if written is None:
            written = str(value)
        if _REGISTRY_ID.fullmatch(written) and not written.startswith("0"):
            return written
        digits = written.replace("_", "")
        if _REGISTRY_ID.fullmatch(digits) and digits.startswith("0"):
            msg = (
                f"registry id {written} must be quoted: YAML reads a number with a leading 0"
                f" differently; write '{digits}'"
            )
        elif _REGISTRY_ID.fullmatch(digits):
            msg = f"registry id {written} must be quoted as 12 digits: write '{digits}'"
        else:
            msg = f"{dotted(id_at)}: expected a registry id of 12 digits, got {written}"
        self.tree.report(id_at, msg)
        return None


def _not_a_host(text: str, host: str) -> str:
    """Why ``host`` (``text`` as written) is not an ECR host, saying what was meant."""
    scheme, sep, rest = host.partition("://")
    if sep and scheme in ("http", "https") and parse_host(rest.rstrip("/")):
        return f"write the registry host without '{scheme}://': '{rest.rstrip('/')}'"
    digits = host_registry_id(host)
    if digits is not None:
        return (
            f"{describe(text)}: the registry id '{digits}' has {len(digits)} digits,"
            " expected 12 (the AWS account id of the registry)"
        )
    return (
        f"{describe(text)} is not an ECR registry host; expected {_HOST_FORMS}."
        " To give a registry's credentials to another name, list that name under"
        " 'hosts' of a registry mapping"
    )


def _misspelt_host(text: str, host: str) -> str | None:
    """Why an ECR-shaped ``host`` names no registry (its region or suffix), or ``None``."""
    parsed = parse_host(host)
    if parsed is None or parsed.registry_id is None:
        return None
    if not is_valid_region(parsed.region):
        return f"{describe(text)}: expected an AWS region such as us-east-1, got '{parsed.region}'"
    if host not in ecr_host_forms(parsed.registry_id, parsed.region):
        return (
            f"{describe(text)} does not match its region: {parsed.region} is in the"
            f" {partition(parsed.region).name} partition, whose registry host is"
            f" {standard_host(parsed.registry_id, parsed.region)}"
            " (or its FIPS or dual-stack form)"
        )
    return None


def _registry_of(
    *,
    registry_id: str | None,
    region: str,
    hosts: tuple[str, ...],
    aws: Section | None,
    given: Section | None = None,
) -> Registry:
    """A registry, ECR Public when it has no id, with its identity.

    profile, role_arn and endpoint_url come from the aws section unless the registry gives
    them; one it gives as null overrides the aws section's (boto3's defaults then).
    """
    given = given or {}

    def pick(key: str) -> str | None:
        value = given[key] if key in given else (aws or {}).get(key)
        return value if isinstance(value, str) else None

    public = registry_id is None
    return Registry(
        registry_id=registry_id,
        region=region,
        hosts=tuple(dict.fromkeys((PUBLIC_HOST, *hosts) if public else hosts)),
        profile=pick("profile"),
        role_arn=pick("role_arn"),
        endpoint_url=pick("endpoint_url"),
        public=public,
    )
