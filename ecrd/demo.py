"""`ecrd demo`: the real daemon against a local ECR emulator, with no AWS account.

Tokens live about a minute, so refreshes, rewrites of the docker config and the netrc, and
the state shown by `ecrd status` can be watched as they happen.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import structlog

from ecrd.daemon.control import serve_configuration
from ecrd.daemon.lifecycle import Daemon
from ecrd.daemon.serving import serving_pid
from ecrd.ecr.source import EcrTokenSource
from ecrd.emulator.server import Emulator
from ecrd.logs import configure_logging
from ecrd.state import StateStore

if TYPE_CHECKING:
    from collections.abc import Iterator, MutableMapping
    from datetime import timedelta

DEMO_REGISTRIES = (
    "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
    "210987654321.dkr.ecr.eu-central-1.amazonaws.com",
)


def run_demo(*, token_lifetime: timedelta, directory: Path | None) -> int:
    """Run the emulator and the daemon until Ctrl-C; clean up a temporary directory."""
    root = directory or Path(tempfile.mkdtemp(prefix="ecrd-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        with Emulator(token_lifetime=token_lifetime) as emulator, _demo_environment(root):
            config = _write_config(root, emulator.url, token_lifetime)
            store = StateStore.for_config(config)  # under STATE_DIRECTORY, set above
            # The configuration's daemon, as `ecrd run` is: `ecrd status` says it runs, and
            # `ecrd refresh -c` has it refresh.
            with serve_configuration(store=store, config_path=config) as control:
                pid = serving_pid(config_path=config, store=store)
                _banner(root, config, emulator.url, token_lifetime, pid=pid)
                daemon = Daemon(
                    config_path=config, source=EcrTokenSource(), store=store, control=control
                )
                code = daemon.run()
    finally:
        if directory is None:
            shutil.rmtree(root, ignore_errors=True)
            click.echo(
                f"ecrd demo: removed {root}; `ecrd demo --directory DIR` keeps the files.",
                err=True,
            )
        else:
            click.echo(f"ecrd demo: the files stay in {root}.", err=True)
    return code


def _write_config(root: Path, endpoint: str, lifetime: timedelta) -> Path:
    seconds = max(int(lifetime.total_seconds()), 2)
    config = root / "config.yaml"
    hosts = "\n".join(f"  - {host}" for host in DEMO_REGISTRIES)
    config.write_text(
        f"""\
# ecrd demo: tokens from a local ECR emulator live {seconds} s; edit me and watch the reload.
refresh:
  before_expiry: {seconds // 2}s
  jitter: 0
  min_interval: 1s
  retry_initial: 1s
  retry_max: 10s
aws:
  endpoint_url: {endpoint}
outputs:
  - type: docker
    path: {root}/docker/config.json
  - type: netrc
    path: {root}/netrc
registries:
{hosts}
"""
    )
    return config


@contextlib.contextmanager
def _demo_environment(root: Path) -> Iterator[None]:
    """Dummy AWS keys for the emulator, and the state under the demo's directory."""
    values = {
        "AWS_ACCESS_KEY_ID": "AKIDECRDDEMO",
        "AWS_SECRET_ACCESS_KEY": "ecrd-demo",
        "AWS_EC2_METADATA_DISABLED": "true",
        "STATE_DIRECTORY": str(root / "state"),
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _banner(
    root: Path, config: Path, endpoint: str, lifetime: timedelta, *, pid: int | None
) -> None:
    """What the demo runs and writes, and what to paste; ``pid``: the configuration's daemon."""
    ecrd = _ecrd_command()
    state = shlex.quote(str(root / "state"))
    docker, netrc = shlex.quote(f"{root}/docker/config.json"), shlex.quote(f"{root}/netrc")
    lines = (
        "ecrd demo: the real daemon against a local ECR emulator (no AWS account needed).",
        f"  emulator:      {endpoint} (tokens live {int(lifetime.total_seconds())} s)",
        f"  configuration: {config}  (edit it: ecrd reloads within a second)",
        f"  written files: {docker} (docker, podman, skopeo) and {netrc} (curl)",
        f"  daemon:        pid {pid}, serving this configuration, as `ecrd status` says"
        if pid is not None
        else "  daemon:        none found for this configuration",
        "Paste in another terminal:",
        f"  STATE_DIRECTORY={state} {ecrd} status -c {shlex.quote(str(config))}",
        f"  cat {docker}",
        f"  grep -A1 machine {netrc}",
        "Press Ctrl-C to stop"
        + (f" (removes {root})." if root.name.startswith("ecrd-demo-") else "."),
        "",
    )
    for line in lines:
        click.echo(line, err=True)


def _ecrd_command() -> str:
    """The ``ecrd`` of this installation, by absolute path: a venv's bin is seldom on PATH."""
    beside = Path(sys.executable).parent / "ecrd"
    if beside.exists():
        return shlex.quote(str(beside.absolute()))
    return f"{shlex.quote(sys.executable)} -m ecrd"


# Events the demo shows at info level, one console line each; warnings and errors always.
_SHOWN = frozenset({"token_refreshed", "config_reloaded", "config_rejected", "daemon_started"})


def configure_demo_logs() -> None:
    """Log one short console line per refresh, reload or problem, whatever the stream."""
    configure_logging(level="info", log_format="console", lazy=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _keep_shown,
            _render_line,
        ]
    )


def _keep_shown(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if event.get("level") == "info" and event.get("event") not in _SHOWN:
        raise structlog.DropEvent
    return event


def _render_line(_logger: object, _method: str, event: MutableMapping[str, Any]) -> str:
    name = event.pop("event", "")
    level = event.pop("level", "info")
    parts = [datetime.now().astimezone().strftime("%H:%M:%S"), f"{name:<16}"]
    if level != "info":
        parts.insert(1, level.upper())
    group = str(event.pop("group", "")).split(" ", 1)[0]
    if group:
        parts.append(group)
    hosts = event.pop("hosts", None)
    if isinstance(hosts, list):
        parts.append(f"{len(hosts)} host{'s' if len(hosts) != 1 else ''}")
    expires_at = event.pop("expires_at", None)
    if isinstance(expires_at, str):
        expiry = datetime.fromisoformat(expires_at).astimezone()
        parts.append(f"token expires {expiry:%H:%M:%S}")
    parts.extend(f"{key}={event.pop(key)}" for key in ("error", "errors", "path") if key in event)
    return "  ".join(parts)
