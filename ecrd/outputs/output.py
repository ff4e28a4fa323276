"""The Output seam: one configured output file, what one apply did, entry fingerprints."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from ecrd.config.model import OutputSpec
    from ecrd.problems import Problem
    from ecrd.secret import Credentials


@dataclass(frozen=True)
class WriteResult:
    """What one ``Output.apply`` did.

    ``fingerprints`` maps every host ecrd set to a digest of the entry it wrote, so that a
    later removal can tell ecrd's entry from one somebody else wrote over it (the docker
    output records an entry stored through a credential helper as
    ``docker-credential-NAME:DIGEST``). ``retained`` are entries of hosts that left the
    configuration which ecrd could not remove yet: it still owns them and tries again.
    ``stored`` names the hosts stored through a credential helper, ``delegated`` those the
    file sends to ecrd's own helper (``docker-credential-ecrd``), which serves them from the
    state directory. ``problems`` are what users should know or do (a credential helper
    that cannot store, whose host's login then goes where its clients do not look, is a
    ``NotRead`` problem of that host).
    """

    path: Path
    written: bool
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    removed: tuple[str, ...] = ()
    retained: Mapping[str, str] = field(default_factory=dict)
    stored: tuple[str, ...] = ()
    delegated: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()


class Output(Protocol):
    """One configured output file."""

    spec: OutputSpec

    def apply(self, *, logins: Mapping[str, Credentials], remove: Mapping[str, str]) -> WriteResult:
        """Set ``logins`` and drop the entries in ``remove``, in one atomic write at most.

        ``remove`` maps a host to the fingerprint of the entry ecrd wrote for it; an entry
        whose value no longer matches (somebody logged in over it) is kept. A host of
        ``remove`` that is also in ``logins`` is not removed: its fingerprint tells what ecrd
        wrote before. Every other entry and byte of the file stays as it was. No write
        happens when nothing changes.

        Raises:
            OutputError: the file could not be read, parsed or written; it is unchanged.
        """
        ...


def fingerprint(value: str) -> str:
    """A short digest of an entry's secret value, safe to keep in the state file."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]
