"""A problem a round met: one record (host, path, code, message) from the writers to the users.

The writers return their problems as records; a round gathers them, turns them into each
host's state (``warnings``, ``last_error``, ``error_code``) in one place (``host_verdict``),
and hands them to `ecrd refresh`, the logs and the metrics, which group and filter them by
host, path and code instead of matching message texts. The module imports nothing of ecrd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

# The codes, a closed set. The first two make a host failing; the others are warnings.
NOT_READ: Final = "NotRead"  # a login went where its clients do not look (a helper refused it)
OUTPUT_FAILED: Final = "OutputFailed"  # an output could not be read or written: it is unchanged
NOT_ERASED: Final = "NotErased"  # a credential helper kept an entry ecrd meant to erase
SHADOWED: Final = "Shadowed"  # a file read before ecrd's outputs holds a login for the host
MODE_KEPT: Final = "ModeKept"  # an output others may read holds passwords; its mode was kept
PRIVATE_TMP: Final = "PrivateTmp"  # an output under /tmp that systemd makes private to ecrd
STATE_FAILED: Final = "StateFailed"  # the outputs were written, ecrd's own record was not
WARNING: Final = "Warning"  # a warning whose kind was not said (a daemon of an earlier ecrd)

Code = Literal[
    "NotRead",
    "OutputFailed",
    "NotErased",
    "Shadowed",
    "ModeKept",
    "PrivateTmp",
    "StateFailed",
    "Warning",
]
CODES: Final[frozenset[Code]] = frozenset(get_args(Code))
FAILING: Final[frozenset[Code]] = frozenset((NOT_READ, OUTPUT_FAILED))


@dataclass(frozen=True)
class Problem:
    """What went wrong, and where.

    ``host`` and ``path`` are ``None`` when it concerns no one host or file. ``message`` says
    what is wrong and what to do, for users; it holds no secret.
    """

    host: str | None
    path: str | None
    code: Code
    message: str

    @property
    def failing(self) -> bool:
        """True when it makes its host (or the round) fail, not only warn."""
        return self.code in FAILING


@dataclass(frozen=True)
class HostVerdict:
    """What a round's problems mean for one host it wrote: its state's three fields."""

    warnings: tuple[str, ...]
    error: str | None
    code: Code | None


def unique(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """Each problem once (equal by value), in the order first met."""
    return tuple(dict.fromkeys(problems))


def messages(problems: Iterable[Problem]) -> tuple[str, ...]:
    """Each message once, in the order first met (one text may concern several hosts)."""
    return tuple(dict.fromkeys(p.message for p in problems))


def with_code(problems: Iterable[Problem], *codes: Code) -> tuple[Problem, ...]:
    """The problems of ``codes``, in order."""
    return tuple(p for p in problems if p.code in codes)


def host_verdict(
    problems: Iterable[Problem], *, host: str, outputs: Collection[str]
) -> HostVerdict:
    """Why ``host``, written into ``outputs``, is failing (if it is), and what it should heed.

    Its login went where its clients do not look (``NotRead``); else an output it belongs in
    could not be written (``OutputFailed``, every such output's message). Its warnings are
    the other problems that name it.
    """
    problems = tuple(problems)
    not_read = [p for p in problems if p.host == host and p.code == NOT_READ]
    missing = [p for p in problems if p.code == OUTPUT_FAILED and p.path not in outputs]
    failed = not_read or missing
    return HostVerdict(
        warnings=messages(p for p in problems if p.host == host and not p.failing),
        error="; ".join(messages(failed)) if failed else None,
        code=failed[0].code if failed else None,
    )
