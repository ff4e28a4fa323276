"""`ecrd demo`: the real daemon against a local ECR emulator, with no AWS account.

Tokens live about a minute, so refreshes, rewrites of the docker config and the netrc, and
the state shown by `ecrd status` can be watched as they happen.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ecrd.daemon.lifecycle import Daemon
from ecrd.emulator.server import Emulator
from ecrd.state import StateStore
from ecrd.tokens.source import EcrTokenSource

if TYPE_CHECKING:
    from collections.abc import Iterator
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
            _banner(root, config, emulator.url, token_lifetime)
            daemon = Daemon(
                config_path=config,
                source=EcrTokenSource(),
                store=StateStore(root / "state"),
            )
            return daemon.run()
    finally:
        if directory is None:
            shutil.rmtree(root, ignore_errors=True)


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


def _banner(root: Path, config: Path, endpoint: str, lifetime: timedelta) -> None:
    lines = (
        "ecrd demo: the real daemon against a local ECR emulator (no AWS account needed).",
        f"  emulator:      {endpoint} (tokens live {int(lifetime.total_seconds())} s)",
        f"  configuration: {config}  (edit it: ecrd reloads within a second)",
        f"  docker config: {root}/docker/config.json",
        f"  netrc:         {root}/netrc",
        f"  status:        STATE_DIRECTORY={root}/state ecrd status",
        "Press Ctrl-C to stop.",
        "",
    )
    for line in lines:
        click.echo(line, err=True)
