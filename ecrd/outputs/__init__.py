"""Files ecrd writes credentials into: the Output seam and its builders."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from pathlib import Path

    from ecrd.config.model import OutputSpec
    from ecrd.secret import Secret


@dataclass(frozen=True)
class Login:
    """A user name and password for one registry host."""

    username: str
    password: Secret


@dataclass(frozen=True)
class WriteResult:
    """What one ``Output.apply`` did.

    ``fingerprints`` maps every host ecrd set to a digest of the entry it wrote, so that a
    later removal can tell ecrd's entry from one somebody else wrote over it.
    ``warnings`` are messages for users (for example a ``credsStore`` that hides ``auths``).
    """

    path: Path
    written: bool
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    removed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


class Output(Protocol):
    """One configured output file."""

    spec: OutputSpec

    def apply(self, *, logins: Mapping[str, Login], remove: Mapping[str, str]) -> WriteResult:
        """Set ``logins`` and drop the entries in ``remove``, in one atomic write at most.

        ``remove`` maps a host to the fingerprint of the entry ecrd wrote for it; an entry
        whose value no longer matches (somebody logged in over it) is kept. Every other entry
        and byte of the file stays as it was. No write happens when nothing changes.

        Raises:
            OutputError: the file could not be read, parsed or written; it is unchanged.
        """
        ...


def fingerprint(value: str) -> str:
    """A short digest of an entry's secret value, safe to keep in the state file."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def build_outputs(specs: Collection[OutputSpec]) -> tuple[Output, ...]:
    """One ``Output`` per spec, in order."""
    # Imported here: the writers import this module for Login and WriteResult.
    from ecrd.outputs.docker import DockerOutput  # noqa: PLC0415
    from ecrd.outputs.netrc import NetrcOutput  # noqa: PLC0415

    outputs: list[Output] = []
    for spec in specs:
        if spec.type == "docker":
            outputs.append(DockerOutput(spec))
        else:
            outputs.append(NetrcOutput(spec))
    return tuple(outputs)
