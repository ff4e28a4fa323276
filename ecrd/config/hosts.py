"""ECR registry host names: read the account id and region from a host, build hosts back.

Every form ECR answers to is understood (lower-cased first, as host names are):

- ``ID.dkr.ecr.REGION.amazonaws.com`` (``.amazonaws.com.cn`` in China, regions ``cn-*``)
- ``ID.dkr.ecr-fips.REGION.amazonaws.com`` (FIPS)
- ``ID.dkr-ecr.REGION.on.aws`` and ``ID.dkr-ecr-fips.REGION.on.aws`` (dual-stack;
  ``on.amazonwebservices.com.cn`` in China)
- the other partitions' suffixes: ``c2s.ic.gov`` (``us-iso-*``), ``sc2s.sgov.gov``
  (``us-isob-*``), ``cloud.adc-e.uk`` (``eu-isoe-*``), ``csp.hci.ic.gov`` (``us-isof-*``),
  ``amazonaws.eu`` (``eusc-*``)
- ``public.ecr.aws``, ECR Public, whose tokens come from ``us-east-1``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ecrd.config.model import PUBLIC_HOST, PUBLIC_REGION
from ecrd.hostport import split_port

_HOST = re.compile(
    r"(?P<id>\d{12})\.dkr[.-]ecr(?P<fips>-fips)?\.(?P<region>[a-z0-9][a-z0-9_-]*)\."
    r"(?P<suffix>amazonaws\.com(?:\.cn)?|amazonaws\.eu|on\.aws|on\.amazonwebservices\.com\.cn"
    r"|c2s\.ic\.gov|sc2s\.sgov\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)",
)
# An ECR host shape whatever the number of digits of its id, to say what is wrong with it.
_ANY_ID = re.compile(_HOST.pattern.replace(r"(?P<id>\d{12})", r"(?P<id>\d+)", 1))
_REGION = re.compile(r"[a-z]{2,4}(?:-[a-z]+)+-\d+")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_MAX_NAME = 253


@dataclass(frozen=True)
class Partition:
    """The DNS suffixes of one AWS partition's ECR hosts."""

    name: str
    suffix: str
    dual_stack_suffix: str


_AWS = Partition("aws", "amazonaws.com", "on.aws")
# Longest prefix first: "us-isob-" must win over "us-iso-".
_PARTITIONS: tuple[tuple[str, Partition], ...] = (
    ("cn-", Partition("aws-cn", "amazonaws.com.cn", "on.amazonwebservices.com.cn")),
    ("us-gov-", Partition("aws-us-gov", "amazonaws.com", "on.aws")),
    ("us-isob-", Partition("aws-iso-b", "sc2s.sgov.gov", "sc2s.sgov.gov")),
    ("us-isof-", Partition("aws-iso-f", "csp.hci.ic.gov", "csp.hci.ic.gov")),
    ("us-iso-", Partition("aws-iso", "c2s.ic.gov", "c2s.ic.gov")),
    ("eu-isoe-", Partition("aws-iso-e", "cloud.adc-e.uk", "cloud.adc-e.uk")),
    ("eusc-", Partition("aws-eusc", "amazonaws.eu", "amazonaws.eu")),
)


@dataclass(frozen=True)
class EcrHost:
    """What an ECR host name says: the registry's account id and region.

    ``registry_id`` is ``None`` for ECR Public (``public.ecr.aws``), whose region is
    always ``us-east-1``.
    """

    registry_id: str | None
    region: str
    host: str
    public: bool = False


def parse_host(host: str) -> EcrHost | None:
    """Read an ECR registry host of any form, or ``None`` when ``host`` is not one.

    The host is matched case-insensitively and returned lower-cased. A host with a port or
    a scheme is not an ECR host. The region is taken as written: check it with
    ``is_valid_region`` and the suffix with ``ecr_host_forms``.
    """
    name = host.lower()
    if name == PUBLIC_HOST:
        return EcrHost(registry_id=None, region=PUBLIC_REGION, host=name, public=True)
    match = _HOST.fullmatch(name)
    if match is None:
        return None
    return EcrHost(registry_id=match["id"], region=match["region"], host=name)


def host_registry_id(host: str) -> str | None:
    """The digits where an ECR host has its registry id, whatever their count, or ``None``.

    ``12345678901.dkr.ecr.us-east-1.amazonaws.com`` gives ``12345678901``, so that a
    message can say the id has 11 digits instead of calling the host unknown.
    """
    match = _ANY_ID.fullmatch(host.lower())
    return match["id"] if match else None


def partition(region: str) -> Partition:
    """The partition a region belongs to (``aws`` for any region not in another one)."""
    for prefix, found in _PARTITIONS:
        if region.startswith(prefix):
            return found
    return _AWS


def standard_host(registry_id: str, region: str) -> str:
    """The host ECR gives a registry (its ``proxyEndpoint``), with the region's suffix."""
    return f"{registry_id}.dkr.ecr.{region}.{partition(region).suffix}"


def ecr_host_forms(registry_id: str, region: str) -> tuple[str, ...]:
    """Every host name of a registry: standard, FIPS, dual-stack and dual-stack FIPS."""
    part = partition(region)
    return (
        standard_host(registry_id, region),
        f"{registry_id}.dkr.ecr-fips.{region}.{part.suffix}",
        f"{registry_id}.dkr-ecr.{region}.{part.dual_stack_suffix}",
        f"{registry_id}.dkr-ecr-fips.{region}.{part.dual_stack_suffix}",
    )


def is_valid_region(region: str) -> bool:
    """Whether ``region`` is shaped like an AWS region name (``us-east-1``, ``cn-north-1``)."""
    return _REGION.fullmatch(region) is not None


def check_host(host: str) -> str | None:  # noqa: PLR0911 -- one return per reason
    """Why ``host`` is not a host name with an optional port, or ``None`` when it is one.

    Accepted: DNS names (``registry.example.internal``), IPv4 addresses and bracketed IPv6
    addresses, each with an optional ``:PORT``. The answer is a phrase for a message.
    """
    if "://" in host:
        return "a host has no scheme"
    if "/" in host:
        return "a host has no path"
    if "@" in host:
        return "a host has no user name"
    try:
        name, _ = split_port(host)
    except ValueError as exc:
        return str(exc)
    if name.startswith("[") and name.endswith("]"):
        return None if _is_ip(name[1:-1], version=6) else "not an IPv6 address in brackets"
    if _is_ip(name, version=4):
        return None
    if len(name) > _MAX_NAME or _NAME.fullmatch(name.lower()) is None:
        return "not a DNS name"
    return None


def _is_ip(text: str, *, version: int) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.version == version
