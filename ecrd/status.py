"""`ecrd status`: one configuration's state as a table or JSON, and the exit code it implies.

The table fits 120 columns: times are relative, paths are shortened to ``~/``, and each
problem is written once, below the table, however many hosts it touches.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ecrd.config.durations import format_duration
from ecrd.errors import NEEDS_LOGIN
from ecrd.paths import CONFIGS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from ecrd.state_model import HostState, State

# Exit codes of `ecrd status`.
ALL_FRESH, SOME_FAILING, NO_STATE = 0, 1, 2
WIDTH = 120


@dataclass(frozen=True)
class Report:
    """What `ecrd status` shows: the state (``None``: none yet), its configuration, the daemon."""

    state: State | None
    config: str | None
    daemon_pid: int | None
    now: datetime

    @property
    def hosts(self) -> list[HostState]:
        """The hosts, sorted by name."""
        return sorted(self.state.hosts.values(), key=lambda h: h.host) if self.state else []


def is_failing(host: HostState, now: datetime) -> bool:
    """Expired, never refreshed, or its last refresh failed (even while its token is valid)."""
    return host.last_error is not None or host.expires_at is None or host.expires_at <= now


def exit_code(report: Report) -> int:
    """0 when every host is fresh, 1 when any is expired or failing, 2 without state."""
    if report.state is None:
        return NO_STATE
    failing = any(is_failing(h, report.now) for h in report.hosts)
    return SOME_FAILING if failing or report.state.config_error else ALL_FRESH


def render_json(report: Report) -> str:
    """The documented JSON: ``{"hosts": [...], "config_error", "metrics_error", "daemon", "config"}``."""
    hosts = [
        {
            "host": h.host,
            "registry_id": h.registry_id,
            "region": h.region,
            "group": h.group,
            "expires_at": _iso(h.expires_at),
            "refreshed_at": _iso(h.refreshed_at),
            # The daemon's schedule: nothing refreshes the host while no daemon runs.
            "next_refresh_at": _iso(h.next_refresh_at) if report.daemon_pid else None,
            "last_error": h.last_error,
            "error_code": h.error_code,
            "failing": is_failing(h, report.now),
            "needs_login": h.error_code == NEEDS_LOGIN,
            "outputs": list(h.outputs),
            "warnings": list(h.warnings),
        }
        for h in report.hosts
    ]
    document = {
        "hosts": hosts,
        "config": report.config,
        "config_error": report.state.config_error if report.state else None,
        "metrics_error": report.state.metrics_error if report.state else None,
        "daemon": {"pid": report.daemon_pid} if report.daemon_pid else None,
    }
    return json.dumps(document, indent=2)


def render_table(report: Report, *, home: str | None = None) -> str:
    """The daemon line, one row per host, then each problem and warning once."""
    home = os.path.expanduser("~") if home is None else home  # noqa: PTH111
    lines = [_daemon_line(report, home)]
    header = ("HOST", "EXPIRES IN", "NEXT REFRESH", "LAST REFRESH", "OUTPUTS")
    rows = [
        (
            h.host,
            _expires_in(h, report.now),
            _next_refresh(h, report),
            _last_refresh(h, report.now),
            ", ".join(shorten(p, home) for p in h.outputs) or "-",
        )
        for h in report.hosts
    ]
    if _width([header, *rows]) > WIDTH:
        rows = [(*r[:-1], _count(h.outputs)) for r, h in zip(rows, report.hosts, strict=True)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines += [
        "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in [header, *rows]
    ]
    errors = [_error_text(h) for h in report.hosts if h.last_error]
    warnings = [w for h in report.hosts for w in h.warnings]
    notes = [f"error: {e}" for e in dict.fromkeys(errors)]
    notes += [f"warning: {w}" for w in dict.fromkeys(warnings)]
    config_error = report.state.config_error if report.state else None
    if config_error:
        notes.append(_config_error_line(report, config_error))
    metrics_error = report.state.metrics_error if report.state else None
    if metrics_error:
        notes.append(f"metrics: not written, alerts cannot see these hosts: {metrics_error}")
    if notes:
        lines.append("")
        lines += [shorten(n, home) for n in notes]
    return "\n".join(lines)


def shorten(text: str, home: str) -> str:
    """``text`` with the home directory written ``~`` (as `ecrd refresh` prints paths)."""
    home = home.rstrip(os.sep)
    if not home:
        return text
    return text.replace(home + os.sep, "~" + os.sep)


def _daemon_line(report: Report, home: str) -> str:
    config = shorten(report.config, home) if report.config else "this configuration"
    if report.daemon_pid:
        return f"daemon: running (pid {report.daemon_pid}) for {config}"
    return (
        f"daemon: not running for {config}: nothing refreshes these logins "
        "(start it: ecrd service install, or ecrd run)"
    )


def _config_error_line(report: Report, error: str) -> str:
    if not report.daemon_pid:
        return f"configuration error when last read: {error}"
    if report.hosts:
        return f"configuration rejected, the daemon runs on the last good one: {error}"
    return f"configuration error, the daemon waits for a valid file: {error}"


def _error_text(host: HostState) -> str:
    prefix = "needs login: " if host.error_code == NEEDS_LOGIN else ""
    return prefix + (host.last_error or "")


def _expires_in(host: HostState, now: datetime) -> str:
    if host.expires_at is None:
        return "-"
    if host.expires_at <= now:
        return "expired"
    return format_duration(host.expires_at - now, rounded=True)


def _next_refresh(host: HostState, report: Report) -> str:
    if not report.daemon_pid or host.next_refresh_at is None:
        return "-"
    if host.next_refresh_at <= report.now:
        return "due"
    return "in " + format_duration(host.next_refresh_at - report.now, rounded=True)


def _last_refresh(host: HostState, now: datetime) -> str:
    if host.error_code == NEEDS_LOGIN:
        return "needs login"
    if host.last_error is not None:
        return "failed"
    if host.refreshed_at is None:
        return "never"
    return format_duration(now - host.refreshed_at, rounded=True) + " ago"


def _count(outputs: list[str]) -> str:
    return f"{len(outputs)} output{'s' if len(outputs) != 1 else ''}" if outputs else "-"


def _width(rows: list[tuple[str, ...]]) -> int:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return sum(widths) + 2 * (len(widths) - 1)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def no_state_message(
    *, directory: str, config: str, config_exists: bool, instances: Sequence[tuple[str, str]]
) -> str:
    """What `ecrd status` says when it finds no state: why, and where the state may be.

    ``instances`` are the template unit's ``(USER, state directory)`` pairs on this host.
    """
    if config_exists:
        lines = [f"No state yet in {directory}: run `ecrd refresh` or start `ecrd run`."]
    else:
        missing = (
            f"{config}: the configuration file does not exist, so there is no state for it;"
            " name the file with -c PATH (or $ECRD_CONFIG); `ecrd check-config` checks one."
        )
        lines = [missing]
    lines += [
        f"The state of ecrd@{user} is in {path}: run `ecrd status` as {user}"
        f" (sudo -u {user} ecrd status), or STATE_DIRECTORY={path} ecrd status."
        for user, path in instances
    ]
    return "\n".join(lines)


def template_instances(*, system_root: str, exclude: str) -> list[tuple[str, str]]:
    """The ``(USER, directory)`` of each ``ecrd@USER`` state under ``system_root``, sorted."""
    try:
        names = sorted(os.listdir(system_root))  # noqa: PTH208
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(system_root, name)  # noqa: PTH118
        if os.path.isdir(os.path.join(path, CONFIGS)) and os.path.realpath(  # noqa: PTH112, PTH118
            path
        ) != os.path.realpath(exclude):
            found.append((name, path))
    return found
