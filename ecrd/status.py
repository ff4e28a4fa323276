"""`ecrd status`: the state directory as a table or JSON, and the exit code it implies."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ecrd.errors import NEEDS_LOGIN

if TYPE_CHECKING:
    from datetime import datetime

    from ecrd.state import HostState, State

# Exit codes of `ecrd status`.
ALL_FRESH, SOME_FAILING, NO_STATE = 0, 1, 2


def is_failing(host: HostState, now: datetime) -> bool:
    """Expired, never refreshed, or its last refresh failed (even while its token is valid)."""
    return host.last_error is not None or host.expires_at is None or host.expires_at <= now


def exit_code(state: State | None, now: datetime) -> int:
    """0 when every host is fresh, 1 when any is expired or failing, 2 without state."""
    if state is None:
        return NO_STATE
    failing = any(is_failing(h, now) for h in state.hosts.values())
    return SOME_FAILING if failing or state.config_error else ALL_FRESH


def render_json(state: State) -> str:
    """The documented JSON shape: ``{"hosts": [...], "config_error": ...}``."""
    hosts = [
        {
            "host": h.host,
            "registry_id": h.registry_id,
            "region": h.region,
            "group": h.group,
            "expires_at": h.expires_at.isoformat() if h.expires_at else None,
            "refreshed_at": h.refreshed_at.isoformat() if h.refreshed_at else None,
            "last_error": h.last_error,
            "error_code": h.error_code,
            "needs_login": h.error_code == NEEDS_LOGIN,
            "outputs": list(h.outputs),
            "warnings": list(h.warnings),
        }
        for h in sorted(state.hosts.values(), key=lambda h: h.host)
    ]
    return json.dumps({"hosts": hosts, "config_error": state.config_error}, indent=2)


def render_table(state: State, now: datetime) -> str:
    """One row per host: host, registry, region, expires in, last refresh, outputs, error."""
    header = ("HOST", "REGISTRY", "REGION", "EXPIRES IN", "LAST REFRESH", "OUTPUTS", "LAST ERROR")
    rows = [header] + [
        (
            h.host,
            h.registry_id or "public",
            h.region,
            _expires_in(h, now),
            f"{h.refreshed_at:%Y-%m-%d %H:%M:%S}Z" if h.refreshed_at else "never",
            ", ".join(h.outputs) or "-",
            ("needs login: " if h.error_code == NEEDS_LOGIN else "") + (h.last_error or "-"),
        )
        for h in sorted(state.hosts.values(), key=lambda h: h.host)
    ]
    # The error, which can be long, comes last and unpadded.
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    warnings = [w for h in sorted(state.hosts.values(), key=lambda h: h.host) for w in h.warnings]
    if warnings:
        lines.append("")
        lines.extend(f"warning: {w}" for w in dict.fromkeys(warnings))
    if state.config_error:
        lines.append("")
        lines.append(f"configuration rejected, running on the last good one: {state.config_error}")
    return "\n".join(line.rstrip() for line in lines)


def _expires_in(host: HostState, now: datetime) -> str:
    if host.expires_at is None:
        return "-"
    seconds = int((host.expires_at - now).total_seconds())
    if seconds <= 0:
        return "expired"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
