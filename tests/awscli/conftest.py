"""Fixtures to run the real AWS CLI (v1, from PyPI) and ecrd side by side on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from ecrd.cli import cli
from ecrd.emulator.server import Emulator

if TYPE_CHECKING:
    from collections.abc import Iterator

# The emulator's clock: expiresAt is this plus 12 h, the same for every call.
FIXED_NOW = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
REGION = "eu-west-1"


@dataclass(frozen=True)
class Run:
    """What one command printed and how it exited."""

    stdout: bytes
    stderr: bytes
    exit_code: int

    @property
    def first_error_line(self) -> str:
        """The first non-blank stderr line (AWS CLI v2 starts its messages with a blank line)."""
        lines = [line for line in self.stderr.decode().splitlines() if line.strip()]
        return lines[0] if lines else ""


def aws_executable() -> str:
    """The `aws` installed next to this Python (the awscli test dependency)."""
    found = shutil.which("aws", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("the AWS CLI is not installed in this virtualenv: pip install awscli")
    return found


def start_aws(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    """Start `aws ecr ARGS` with the environment as the test left it."""
    return subprocess.Popen(
        [aws_executable(), "ecr", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
        cwd=cwd,
    )


def finish(process: subprocess.Popen[bytes]) -> Run:
    """Wait for a started `aws` and return what it printed."""
    stdout, stderr = process.communicate(timeout=60)
    return Run(stdout, stderr, process.returncode)


def run_aws(*args: str, cwd: Path) -> Run:
    """Run `aws ecr ARGS` with the environment as the test left it."""
    return finish(start_aws(*args, cwd=cwd))


def run_ecrd(*args: str) -> Run:
    """Run `ecrd ARGS` in this process (file paths in ARGS are absolute)."""
    result = CliRunner().invoke(cli, list(args), prog_name="ecrd", catch_exceptions=False)
    return Run(result.stdout_bytes, result.stderr_bytes, result.exit_code)


@pytest.fixture
def fixed_emulator() -> Iterator[Emulator]:
    """The project's ECR endpoint giving the same answer to every call (stable passwords)."""
    with Emulator(stable_passwords=True, clock=lambda: FIXED_NOW) as emu:
        yield emu


@pytest.fixture(autouse=True)
def default_region(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A default region for both CLIs, as AWS_DEFAULT_REGION, in the isolated environment."""
    assert isolated_env.is_dir()
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return REGION


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local time zone with a half-hour offset, for this process and the AWS CLI alike."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield "+05:30"
    monkeypatch.undo()
    time.tzset()
