"""One refresh round: fetch the groups' tokens, apply them to every output, record the state.

``ecrd refresh`` runs one round for every group (``run_round``); the daemon fetches each due
group itself and hands what it got to ``apply_round``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ecrd.ecr.source import fetch_all
from ecrd.errors import StateError, TokenError
from ecrd.logs import get_logger
from ecrd.outputs.apply import apply_outputs
from ecrd.outputs.shadows import find_shadows
from ecrd.problems import SHADOWED, STATE_FAILED, Problem, host_verdict, unique
from ecrd.state_model import HostState

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from ecrd.config.model import Config, Group, GroupKey
    from ecrd.ecr.source import TokenSource
    from ecrd.secret import Credentials
    from ecrd.state import StateStore
    from ecrd.state_model import State

log = get_logger("ecrd")


@dataclass(frozen=True)
class HostResult:
    """What a round did for one registry host.

    ``outputs`` are the outputs that hold its login after the round (none when its fetch
    failed); ``error`` is why it is ``failing``: its fetch failed, an output could not be
    written, or its login went where its clients do not read it.
    """

    host: str
    registry_id: str | None
    region: str
    group: str
    expires_at: datetime | None
    refreshed_at: datetime | None
    outputs: tuple[str, ...]
    error: str | None
    failing: bool


@dataclass(frozen=True)
class RoundResult:
    """What a round did: per host, the outputs written, and the problems met, each once.

    A failed fetch is said by its hosts (``HostResult.error``); ``problems`` are what the
    writes met (an output not written, a login its clients do not read, warnings).
    """

    hosts: tuple[HostResult, ...]
    problems: tuple[Problem, ...]
    written: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every group was fetched, every output written, every login readable."""
        return not any(p.failing for p in self.problems) and not any(h.failing for h in self.hosts)


def run_round(
    *,
    config: Config,
    source: TokenSource,
    store: StateStore,
    groups: Sequence[Group] | None = None,
    now: Callable[[], datetime] | None = None,
) -> RoundResult:
    """Fetch ``groups`` (default: all) once each, apply them, save the state (`ecrd refresh`).

    The caller reports the problems of the result to the user: they are logged at ``info``.
    A state that cannot be saved fails the round: the user sees it at once.

    Raises:
        StateError: the state directory could not be locked or saved.
    """
    clock = now or (lambda: datetime.now(timezone.utc))
    groups = config.groups() if groups is None else groups
    fetched = fetch_all(source, groups)
    return _apply(
        config=config,
        store=store,
        groups=groups,
        fetched=fetched,
        fresh=set(fetched),
        now=clock(),
        quiet=True,
        survive_state_failure=False,
    )


def apply_round(
    *,
    config: Config,
    store: StateStore,
    groups: Sequence[Group],
    fetched: Mapping[GroupKey, Sequence[Credentials] | TokenError],
    fresh: Collection[GroupKey],
    now: datetime,
) -> RoundResult:
    """Apply what ``fetched`` holds for ``groups`` to every output; record it (the daemon).

    ``fresh`` names the groups whose credentials were just fetched; the others' are written
    again as they were (into an output added by a reload, for instance). Once the outputs
    are written, a state that cannot be saved is logged (``state_failed``) and the round
    stands: the next one saves it again.

    Raises:
        StateError: the state directory could not be locked, or the outputs not applied.
    """
    return _apply(
        config=config,
        store=store,
        groups=groups,
        fetched=fetched,
        fresh=set(fresh),
        now=now,
        quiet=False,
        survive_state_failure=True,
    )


def _apply(
    *,
    config: Config,
    store: StateStore,
    groups: Sequence[Group],
    fetched: Mapping[GroupKey, Sequence[Credentials] | TokenError],
    fresh: Collection[GroupKey],
    now: datetime,
    quiet: bool,
    survive_state_failure: bool,
) -> RoundResult:
    """Logins from the fetches; then, in one transaction, outputs, tokens file and record.

    ``quiet``: the caller reports the problems itself, so they are logged at ``info``.
    ``survive_state_failure``: a state that cannot be saved once the outputs are written
    is a ``StateFailed`` problem, not an error.
    """
    logins, failures = _logins(groups=groups, fetched=fetched, fresh=fresh, quiet=quiet)
    problems: list[Problem] = []
    results: list[HostResult] | None = None
    written: tuple[str, ...] = ()
    try:
        with store.transaction() as state:
            applied = apply_outputs(
                config=config,
                state=state,
                logins=logins,
                others_owned=store.others_owned(),
                quiet=quiet,
            )
            written = applied.written
            problems += applied.problems
            problems += _shadows(config=config, logins=logins, quiet=quiet)
            problems += _write_tokens(
                store=store,
                config=config,
                logins=logins,
                now=now,
                survive_state_failure=survive_state_failure,
            )
            results = _record(
                config=config,
                state=state,
                groups=groups,
                fresh=fresh,
                logins=logins,
                failures=failures,
                hosts_by_output=applied.hosts_by_output,
                problems=problems,
                now=now,
            )
    except StateError as exc:
        if results is None or not survive_state_failure:
            raise
        problems.append(_state_failed(exc, path=str(store.path)))
    return RoundResult(hosts=tuple(results), problems=unique(problems), written=written)


def _logins(
    *,
    groups: Sequence[Group],
    fetched: Mapping[GroupKey, Sequence[Credentials] | TokenError],
    fresh: Collection[GroupKey],
    quiet: bool,
) -> tuple[dict[str, Credentials], dict[str, TokenError]]:
    """Each host's login from its group's fetch, or its group's error (both logged)."""
    logins: dict[str, Credentials] = {}
    failures: dict[str, TokenError] = {}
    for group in groups:
        result = fetched[group.key]
        if isinstance(result, TokenError):
            (log.info if quiet else log.error)(
                "refresh_failed",
                group=group.name,
                hosts=list(group.hosts),
                error=str(result),
                code=result.code,
            )
            failures.update(dict.fromkeys(group.hosts, result))
            continue
        group_logins = _logins_for(group, result)
        logins.update(group_logins)
        if group.key in fresh:
            expiry = min(c.expires_at for c in group_logins.values())
            log.info(
                "token_refreshed",
                group=group.name,
                hosts=list(group_logins),
                expires_at=expiry.isoformat(),
            )
    return logins, failures


def _shadows(*, config: Config, logins: Mapping[str, Credentials], quiet: bool) -> list[Problem]:
    """Logins for these hosts in files read before the outputs (logged)."""
    problems: list[Problem] = []
    for shadow in find_shadows(hosts=list(logins), outputs=[o.path for o in config.outputs]):
        (log.info if quiet else log.warning)(
            "entry_shadowed", host=shadow.host, path=str(shadow.path), reader=shadow.reader
        )
        problems.append(
            Problem(host=shadow.host, path=str(shadow.path), code=SHADOWED, message=shadow.message)
        )
    return problems


def _write_tokens(
    *,
    store: StateStore,
    config: Config,
    logins: Mapping[str, Credentials],
    now: datetime,
    survive_state_failure: bool,
) -> list[Problem]:
    """The consumers' copy: every managed host's login, whatever the outputs.

    Hosts of groups not fetched now keep theirs.

    Raises:
        StateError: the file could not be written, unless ``survive_state_failure``.
    """
    configured = {h for r in config.registries for h in r.hosts}
    try:
        store.tokens.write(tokens=logins, keep=configured - set(logins), now=now)
    except StateError as exc:
        if not survive_state_failure:
            raise
        return [_state_failed(exc, path=str(store.tokens.path))]
    return []


def _state_failed(exc: StateError, *, path: str) -> Problem:
    """The daemon's round goes on without its state (a full state file system, say).

    The outputs hold the new logins; only ecrd's own record of them (and the helpers' copy
    of the tokens) is behind, and the next round saves it again.
    """
    log.error(
        "state_failed",
        error=str(exc),
        effect="the outputs were written; ecrd saves its state again at the next round",
    )
    return Problem(host=None, path=path, code=STATE_FAILED, message=str(exc))


def _logins_for(group: Group, credentials: Sequence[Credentials]) -> dict[str, Credentials]:
    by_id = {c.registry_id: c for c in credentials}
    found: dict[str, Credentials] = {}
    for registry in group.registries:
        # One token serves every registry the identity reaches in the region: a registry
        # whose id the answer does not list (more than ECR takes in one call) uses the first.
        creds = by_id.get(registry.registry_id, credentials[0])
        for host in registry.hosts:
            found[host] = creds
    return found


def _record(
    *,
    config: Config,
    state: State,
    groups: Sequence[Group],
    fresh: Collection[GroupKey],
    logins: Mapping[str, Credentials],
    failures: Mapping[str, TokenError],
    hosts_by_output: Mapping[str, tuple[str, ...]],
    problems: Sequence[Problem],
    now: datetime,
) -> list[HostResult]:
    """Each host's state after the round: its fetch, its outputs, its problems."""
    configured = {h: r for r in config.registries for h in r.hosts}
    for host in [h for h in state.hosts if h not in configured]:
        del state.hosts[host]
    results: list[HostResult] = []
    for group in groups:
        for host in group.hosts:
            registry = configured[host]
            entry = state.hosts.get(host) or HostState(
                host=host, registry_id=None, region="", group=""
            )
            entry.registry_id, entry.region, entry.group = (
                registry.registry_id,
                registry.region,
                group.name,
            )
            if host in failures:
                entry.last_error, entry.error_code = str(failures[host]), failures[host].code
            else:
                # A login written again from memory is recorded too: its entry may be
                # missing (a round whose state could not be saved).
                entry.expires_at = logins[host].expires_at
                if group.key in fresh:
                    entry.refreshed_at = now
                entry.outputs = [p for p, hs in hosts_by_output.items() if host in hs]
                verdict = host_verdict(problems, host=host, outputs=entry.outputs)
                entry.warnings = list(verdict.warnings)
                entry.last_error, entry.error_code = verdict.error, verdict.code
            state.hosts[host] = entry
            results.append(
                HostResult(
                    host=host,
                    registry_id=registry.registry_id,
                    region=registry.region,
                    group=group.name,
                    expires_at=entry.expires_at,
                    refreshed_at=entry.refreshed_at,
                    outputs=() if host in failures else tuple(entry.outputs),
                    error=entry.last_error,
                    failing=entry.last_error is not None,
                )
            )
    return results
