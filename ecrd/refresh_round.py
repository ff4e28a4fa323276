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
from ecrd.state_model import HostState

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from ecrd.config.model import Config, Group, GroupKey
    from ecrd.ecr.source import TokenSource
    from ecrd.outputs.apply import AppliedOutputs
    from ecrd.secret import Credentials
    from ecrd.state import StateStore
    from ecrd.state_model import State

log = get_logger("ecrd")

# HostState.error_code of a host whose login was not written where its clients read it.
NOT_READ = "NotRead"
OUTPUT_FAILED = "OutputFailed"


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
    """What a round did: per host, per output (path -> error), and warnings for users."""

    hosts: tuple[HostResult, ...]
    output_errors: Mapping[str, str]
    warnings: tuple[str, ...]
    written: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every group was fetched, every output written, every login readable."""
        return not self.output_errors and not any(h.failing for h in self.hosts)


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
    again as they were (into an output added by a reload, for instance).

    Raises:
        StateError: the state directory could not be locked or saved.
    """
    return _apply(
        config=config,
        store=store,
        groups=groups,
        fetched=fetched,
        fresh=set(fresh),
        now=now,
        quiet=False,
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
) -> RoundResult:
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

    configured = {h for r in config.registries for h in r.hosts}
    results: list[HostResult] | None = None
    try:
        with store.transaction() as state:
            results, warnings, applied = _write(
                config=config,
                store=store,
                state=state,
                groups=groups,
                fresh=fresh,
                logins=logins,
                failures=failures,
                configured=configured,
                now=now,
                quiet=quiet,
            )
    except StateError as exc:
        if results is None or quiet:
            raise
        _state_failed(exc)
        warnings = [*warnings, str(exc)]
    return RoundResult(
        hosts=tuple(results),
        output_errors=dict(applied.errors),
        warnings=tuple(dict.fromkeys(warnings)),
        written=applied.written,
    )


def _write(
    *,
    config: Config,
    store: StateStore,
    state: State,
    groups: Sequence[Group],
    fresh: Collection[GroupKey],
    logins: Mapping[str, Credentials],
    failures: Mapping[str, TokenError],
    configured: set[str],
    now: datetime,
    quiet: bool,
) -> tuple[list[HostResult], list[str], AppliedOutputs]:
    """The outputs, the tokens file and the state's record of them, in a transaction."""
    applied = apply_outputs(
        config=config,
        state=state,
        logins=logins,
        others_owned=store.others_owned(),
        quiet=quiet,
    )
    warnings = list(applied.warnings)
    host_warnings = {h: list(ws) for h, ws in applied.host_warnings.items()}
    for shadow in find_shadows(hosts=list(logins), outputs=[o.path for o in config.outputs]):
        (log.info if quiet else log.warning)(
            "entry_shadowed", host=shadow.host, path=str(shadow.path), reader=shadow.reader
        )
        warnings.append(shadow.message)
        host_warnings.setdefault(shadow.host, []).append(shadow.message)
    # The consumers' copy holds every managed host's login, whatever the outputs; hosts of
    # groups not fetched now keep theirs.
    try:
        store.tokens.write(tokens=logins, keep=configured - set(logins), now=now)
    except StateError as exc:
        if quiet:
            raise
        _state_failed(exc)
        warnings.append(str(exc))
    results = _record(
        config=config,
        state=state,
        groups=groups,
        fresh=fresh,
        logins=logins,
        failures=failures,
        applied=applied,
        host_warnings=host_warnings,
        now=now,
    )
    return results, warnings, applied


def _state_failed(exc: StateError) -> None:
    """The daemon's round goes on without its state (a full state file system, say).

    The outputs hold the new logins; only ecrd's own record of them (and the helpers' copy
    of the tokens) is behind, and the next round saves it again.
    """
    log.error(
        "state_failed",
        error=str(exc),
        effect="the outputs were written; ecrd saves its state again at the next round",
    )


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
    applied: AppliedOutputs,
    host_warnings: Mapping[str, list[str]],
    now: datetime,
) -> list[HostResult]:
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
                if group.key in fresh:
                    entry.expires_at = logins[host].expires_at
                    entry.refreshed_at = now
                entry.outputs = [p for p, hs in applied.hosts_by_output.items() if host in hs]
                entry.warnings = list(host_warnings.get(host, []))
                entry.last_error, entry.error_code = _write_error(host, entry, applied)
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


def _write_error(
    host: str, entry: HostState, applied: AppliedOutputs
) -> tuple[str | None, str | None]:
    """Why a fetched host is failing after the writes, and its code; ``None`` when it is not."""
    if host in applied.unread:
        return applied.unread[host], NOT_READ
    missing = [p for p in applied.errors if p not in entry.outputs]
    if missing:
        return "; ".join(applied.errors[p] for p in missing), OUTPUT_FAILED
    return None, None
