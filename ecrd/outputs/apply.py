"""One round applied to every output: one write per output at most, none when nothing changed.

Each configured output gets every managed host's login; an output that left the
configuration loses the entries this configuration wrote there, and nothing else. Entries
are removed only when this configuration owns them and no other configuration under the same
state root does (two configurations managing one host in one output both keep it fresh).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ecrd.config.model import OUTPUT_TYPES, OutputSpec
from ecrd.errors import OutputError
from ecrd.logs import get_logger
from ecrd.outputs.writers import build_outputs
from ecrd.problems import (
    MODE_KEPT,
    NOT_ERASED,
    NOT_READ,
    OUTPUT_FAILED,
    PRIVATE_TMP,
    Code,
    Problem,
    unique,
)
from ecrd.state_model import OwnedEntries

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    from ecrd.config.model import Config
    from ecrd.outputs.output import WriteResult
    from ecrd.secret import Credentials
    from ecrd.state_model import State

log = get_logger("ecrd")

# What systemd's PrivateTmp= replaces with a directory only the unit sees.
_PRIVATE_TMP = ("/tmp", "/var/tmp")  # noqa: S108 - the paths are compared, never written
# The log event of a writer's problem; any other is a shadowed entry.
_EVENTS: dict[Code, str] = {
    NOT_READ: "credentials_not_stored",
    NOT_ERASED: "credentials_not_erased",
    MODE_KEPT: "output_readable_by_others",
}


@dataclass(frozen=True)
class AppliedOutputs:
    """What applying one round to every output did.

    ``hosts_by_output`` maps each output written (or unchanged) to the hosts it holds now;
    ``written`` are the outputs whose bytes changed; ``delegated`` the hosts docker asks
    ``docker-credential-ecrd`` for (served from the tokens file); ``problems`` what went
    wrong, each once: an output that could not be read or written (``OutputFailed``, it is
    unchanged), a login that went where its clients do not look (``NotRead``), warnings.
    """

    hosts_by_output: Mapping[str, tuple[str, ...]]
    problems: tuple[Problem, ...]
    written: tuple[str, ...]
    delegated: frozenset[str]


def apply_outputs(
    *,
    config: Config,
    state: State,
    logins: Mapping[str, Credentials],
    others_owned: Mapping[str, Collection[str]],
    env: Mapping[str, str] | None = None,
    quiet: bool = False,
) -> AppliedOutputs:
    """Set ``logins`` in every output, remove what left; record ownership in ``state``.

    ``quiet``: the caller reports the problems itself (`ecrd refresh` prints a summary), so
    they are logged at ``info`` instead of ``warning`` and ``error``.
    """
    tally = _Tally(quiet=quiet)
    configured_hosts = {h for r in config.registries for h in r.hosts}
    configured_paths = {str(s.path) for s in config.outputs}
    jobs: list[tuple[OutputSpec, Mapping[str, Credentials], Collection[str]]] = [
        (spec, logins, configured_hosts) for spec in config.outputs
    ]
    jobs.extend(
        (OutputSpec(type=kind, path=Path(p)), {}, frozenset())
        for p, o in state.owned.items()
        for kind in OUTPUT_TYPES
        if p not in configured_paths and o.type == kind
    )
    for spec, wanted, keep in jobs:
        path = str(spec.path)
        owned = state.owned.setdefault(path, OwnedEntries(type=spec.type)).entries
        shared = others_owned.get(path, ())
        # What ecrd wrote for hosts written now (it tells whether a helper holds the token
        # already) and for hosts that left, unless another configuration manages them there.
        remove = {
            h: f for h, f in owned.items() if h in wanted or (h not in keep and h not in shared)
        }
        (output,) = build_outputs([spec])
        try:
            result = output.apply(logins=wanted, remove=remove)
        except OutputError as exc:
            tally.failed(path, str(exc))
        else:
            for host in [h for h in owned if h in remove or h not in keep]:
                owned.pop(host)  # removed, or left to its new owner or to another configuration
            owned.update(result.fingerprints)
            owned.update(result.retained)
            tally.add(result)
            if path in configured_paths and _private_tmp(spec.path, env):
                tally.private(path)
        if not owned:
            del state.owned[path]
    return tally.applied()


class _Tally:
    """What the outputs of one round did, gathered output by output."""

    def __init__(self, *, quiet: bool) -> None:
        self._error, self._warning = (log.info, log.info) if quiet else (log.error, log.warning)
        self.hosts_by_output: dict[str, tuple[str, ...]] = {}
        self.problems: list[Problem] = []
        self.written: list[str] = []
        self.delegated: set[str] = set()

    def failed(self, path: str, message: str) -> None:
        self.problems.append(Problem(host=None, path=path, code=OUTPUT_FAILED, message=message))
        self._error("output_failed", path=path, error=message)

    def add(self, result: WriteResult) -> None:
        path = str(result.path)
        self.hosts_by_output[path] = (*result.fingerprints, *result.delegated)
        self.delegated.update(result.delegated)
        self.problems.extend(result.problems)
        if result.written:
            self.written.append(path)
        _log_result(result, self._warning)

    def private(self, path: str) -> None:
        self._warning("output_private", path=path)
        message = (
            f"{path} is under a temporary directory that systemd (PrivateTmp=) makes "
            "private to ecrd: no other process sees it; choose a path outside /tmp"
        )
        # A warning of every host the output holds (of none, when it holds none).
        hosts: tuple[str | None, ...] = self.hosts_by_output[path] or (None,)
        self.problems.extend(
            Problem(host=h, path=path, code=PRIVATE_TMP, message=message) for h in hosts
        )

    def applied(self) -> AppliedOutputs:
        return AppliedOutputs(
            hosts_by_output=self.hosts_by_output,
            problems=unique(self.problems),
            written=tuple(self.written),
            delegated=frozenset(self.delegated),
        )


def _private_tmp(path: Path, env: Mapping[str, str] | None) -> bool:
    """Whether systemd's ``PrivateTmp=`` hides ``path`` from every other process."""
    env = os.environ if env is None else env
    return bool(env.get("INVOCATION_ID")) and any(
        str(path) == tmp or str(path).startswith(tmp + "/") for tmp in _PRIVATE_TMP
    )


def _log_result(result: WriteResult, warning: Callable[..., object]) -> None:
    path = str(result.path)
    for problem in result.problems:
        # A login its clients do not read is the host's failure; the rest are warnings.
        event = _EVENTS.get(problem.code, "output_shadowed")
        host = {} if problem.host is None else {"host": problem.host}
        warning(event, path=path, **host, message=problem.message)
    if result.stored:
        log.info("credentials_stored", path=path, hosts=list(result.stored))
    if result.written:
        log.info(
            "output_written",
            path=path,
            hosts=sorted(result.fingerprints),
            removed=list(result.removed),
        )
    else:
        log.debug("output_unchanged", path=path)
