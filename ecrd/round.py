"""One refresh round: fetch the groups' tokens, write every output once, record the state.

``ecrd refresh`` runs one round for every group; the daemon runs one per due group.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from ecrd.config.model import OutputSpec
from ecrd.errors import OutputError, TokenError
from ecrd.outputs import WriteResult, build_outputs
from ecrd.outputs.shadows import find_shadows
from ecrd.secret import Credentials
from ecrd.state import HostState, OwnedEntries, State, StateStore
from ecrd.tokens.source import TokenSource, fetch_all

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from ecrd.config.model import Config, Group, GroupKey, Registry

log = structlog.get_logger("ecrd")


@dataclass(frozen=True)
class HostResult:
    """What a round did for one registry host."""

    host: str
    registry_id: str | None
    region: str
    group: str
    expires_at: datetime | None
    refreshed_at: datetime | None = None
    outputs: tuple[str, ...] = ()
    error: str | None = None
    failing: bool = False


@dataclass(frozen=True)
class RoundResult:
    """What a round did: per host, per output, and the warnings users should read."""

    hosts: tuple[HostResult, ...]
    output_errors: Mapping[str, str]  # path -> message
    warnings: tuple[str, ...]
    written: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every group was fetched and every output written."""
        return not self.output_errors and all(h.error is None for h in self.hosts)


@dataclass(frozen=True)
class _HostLogin:
    registry: Registry
    login: Credentials
    expires_at: datetime


def run_round(
    *,
    config: Config,
    source: TokenSource,
    store: StateStore,
    groups: Sequence[Group] | None = None,
    now: Callable[[], datetime] | None = None,
) -> RoundResult:
    """Refresh ``groups`` (default: all), write every output at most once, save the state."""
    clock = now or (lambda: datetime.now(timezone.utc))
    groups = config.groups() if groups is None else groups
    fetched = fetch_all(source, groups)
    return write_round(config=config, store=store, groups=groups, fetched=fetched, now=clock())


def write_round(
    *,
    config: Config,
    store: StateStore,
    groups: Sequence[Group],
    fetched: Mapping[GroupKey, Sequence[Credentials] | TokenError],
    now: datetime,
    fresh: Collection[GroupKey] | None = None,
) -> RoundResult:
    """Write what ``fetched`` holds into every output and record it in the state.

    ``fresh`` names the groups whose credentials were just fetched (default: all of them);
    the others' are written again, into a new output for instance, as they were.
    """
    fresh = set(fetched) if fresh is None else set(fresh)
    logins: dict[str, _HostLogin] = {}
    failures: dict[str, TokenError] = {}
    for group in groups:
        result = fetched[group.key]
        if isinstance(result, TokenError):
            log.error(
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
        if group.key not in fresh:
            continue
        expiry = min(h.expires_at for h in group_logins.values())
        log.info(
            "token_refreshed",
            group=group.name,
            hosts=list(group_logins),
            expires_at=expiry.isoformat(),
        )

    with store.transaction() as state:
        # First: a state directory that cannot be written fails the round before any output.
        store.write_tokens(
            tokens={
                host: Credentials(
                    username=h.login.username, password=h.login.password, expires_at=h.expires_at
                )
                for host, h in logins.items()
            },
            hosts={h for r in config.registries for h in r.hosts},
            now=now,
        )
        written_to, output_errors, warnings, written, host_warnings = _write_outputs(
            config, state, logins
        )
        for shadow in find_shadows(hosts=list(logins), outputs=[o.path for o in config.outputs]):
            log.warning(
                "entry_shadowed", host=shadow.host, path=str(shadow.path), reader=shadow.reader
            )
            warnings.append(shadow.message)
            host_warnings.setdefault(shadow.host, []).append(shadow.message)
        results = _record(
            config=config,
            state=state,
            groups=groups,
            fresh=fresh,
            logins=logins,
            failures=failures,
            written_to=written_to,
            output_errors=output_errors,
            host_warnings=host_warnings,
            now=now,
        )
    return RoundResult(
        hosts=tuple(results),
        output_errors=dict(output_errors),
        warnings=tuple(warnings),
        written=tuple(written),
    )


def _logins_for(group: Group, credentials: Sequence[Credentials]) -> dict[str, _HostLogin]:
    by_id = {c.registry_id: c for c in credentials}
    found: dict[str, _HostLogin] = {}
    for registry in group.registries:
        # One token serves every registry the identity reaches in the region: a registry
        # whose id the answer does not list (more than ECR takes in one call) uses the first.
        creds = by_id.get(registry.registry_id, credentials[0])
        for host in registry.hosts:
            found[host] = _HostLogin(registry=registry, login=creds, expires_at=creds.expires_at)
    return found


def _write_outputs(
    config: Config, state: State, logins: Mapping[str, _HostLogin]
) -> tuple[dict[str, list[str]], dict[str, str], list[str], list[str], dict[str, list[str]]]:
    """Apply logins and removals to every output.

    Returns hosts per path, errors per path, warnings, the paths written, warnings per host.
    """
    configured_hosts = {h for r in config.registries for h in r.hosts}
    plain = {host: h.login for host, h in logins.items()}
    written_to: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    warnings: list[str] = []
    host_warnings: dict[str, list[str]] = {}
    written: list[str] = []
    configured_paths = {str(s.path) for s in config.outputs}
    jobs: list[tuple[OutputSpec, Mapping[str, Credentials], set[str]]] = [
        (spec, plain, configured_hosts) for spec in config.outputs
    ]
    # Outputs that left the configuration lose ecrd's entries, and nothing else.
    jobs.extend(
        (OutputSpec(type=o.type, path=Path(p)), {}, set())  # type: ignore[arg-type]
        for p, o in state.owned.items()
        if p not in configured_paths and o.type in ("docker", "netrc")
    )
    for spec, wanted, keep in jobs:
        path = str(spec.path)
        owned = state.owned.setdefault(path, OwnedEntries(type=spec.type)).entries
        # Entries of hosts that left, and of hosts written now: what ecrd wrote before (the
        # docker output skips a credential helper's store when it holds that token already).
        remove = {h: f for h, f in owned.items() if h not in keep or h in wanted}
        (output,) = build_outputs([spec])
        try:
            result = output.apply(logins=wanted, remove=remove)
        except OutputError as exc:
            errors[path] = str(exc)
            continue
        for host in remove:
            owned.pop(host, None)
        owned.update(result.fingerprints)
        owned.update(result.retained)
        written_to[path] = [*result.fingerprints, *result.delegated]
        warnings.extend(result.warnings)
        for host, messages in result.host_warnings.items():
            host_warnings.setdefault(host, []).extend(messages)
        if result.written:
            written.append(path)
        _log_result(result)
        if not owned:
            del state.owned[path]
    for path, error in errors.items():
        log.error("output_failed", path=path, error=error)
        if not state.owned[path].entries:
            del state.owned[path]
    return written_to, errors, warnings, written, host_warnings


def _log_result(result: WriteResult) -> None:
    path = str(result.path)
    by_host = {m for ms in result.host_warnings.values() for m in ms}
    for host, messages in result.host_warnings.items():
        for message in messages:
            log.warning("output_shadowed", path=path, host=host, message=message)
    for warning in result.warnings:
        if warning not in by_host:
            log.warning("output_shadowed", path=path, message=warning)
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


def _record(
    *,
    config: Config,
    state: State,
    groups: Sequence[Group],
    fresh: Collection[GroupKey],
    logins: Mapping[str, _HostLogin],
    failures: Mapping[str, TokenError],
    written_to: Mapping[str, list[str]],
    output_errors: Mapping[str, str],
    host_warnings: Mapping[str, list[str]],
    now: datetime,
) -> list[HostResult]:
    configured = {h: r for r in config.registries for h in r.hosts}
    for host in list(state.hosts):
        if host not in configured:
            del state.hosts[host]
    results: list[HostResult] = []
    for group in groups:
        for host in group.hosts:
            registry = configured[host]
            previous = state.hosts.get(host)
            entry = previous or HostState(
                host=host,
                registry_id=registry.registry_id,
                region=registry.region,
                group=group.name,
            )
            entry.registry_id, entry.region, entry.group = (
                registry.registry_id,
                registry.region,
                group.name,
            )
            error: str | None
            if host in failures:
                error = str(failures[host])
                entry.last_error, entry.error_code = error, failures[host].code
            else:
                if group.key in fresh:
                    entry.expires_at = logins[host].expires_at
                    entry.refreshed_at = now
                entry.outputs = [p for p, hosts in written_to.items() if host in hosts]
                entry.warnings = list(host_warnings.get(host, []))
                missing = [p for p in output_errors if p not in entry.outputs]
                error = "; ".join(output_errors[p] for p in missing) or None
                entry.last_error, entry.error_code = error, ("OutputFailed" if error else None)
            state.hosts[host] = entry
            results.append(
                HostResult(
                    host=host,
                    registry_id=registry.registry_id,
                    region=registry.region,
                    group=group.name,
                    expires_at=entry.expires_at,
                    refreshed_at=entry.refreshed_at,
                    # Outputs written in this round: none when the fetch failed.
                    outputs=() if host in failures else tuple(entry.outputs),
                    error=error,
                    failing=error is not None,
                )
            )
    return results
