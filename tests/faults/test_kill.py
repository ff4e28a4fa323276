"""Killed at any instant: readers see a whole file, and the killed writer's temporary files go.

A real ``python -m ecrd refresh`` of a few hundred registries, against the loopback
emulator, is SIGKILLed again and again at random moments around its writes, while a thread
parses both outputs (``json`` and Python's ``netrc``) as fast as it can.
"""

from __future__ import annotations

import json
import netrc
import os
import random
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

from tests.daemon.conftest import SLOW, config_yaml

if TYPE_CHECKING:
    from pathlib import Path

    from ecrd.emulator.server import Emulator

REGISTRIES = [
    f"{i:012d}.dkr.ecr.{'us-west-2' if i % 2 else 'eu-west-1'}.amazonaws.com" for i in range(1, 251)
]
ROUNDS = 18


def temporaries(*directories: Path) -> list[str]:
    return sorted(p.name for d in directories for p in d.iterdir() if p.name.startswith(".ecrd-"))


class Reader(threading.Thread):
    """Parses both outputs in a loop until stopped; records every failed parse."""

    def __init__(self, docker: Path, netrc_path: Path) -> None:
        super().__init__(daemon=True)
        self.docker = docker
        self.netrc_path = netrc_path
        self.parses = 0
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                document = json.loads(self.docker.read_bytes())
                if not isinstance(document.get("auths"), dict):
                    self.failures.append("docker: no auths")
                hosts = netrc.netrc(str(self.netrc_path)).hosts
                if not hosts:
                    self.failures.append("netrc: no hosts")
            except (ValueError, netrc.NetrcParseError, OSError) as exc:
                self.failures.append(f"{type(exc).__name__}: {str(exc)[:80]}")
            self.parses += 1


def start(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ecrd", "refresh", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )


def kill_when_writing(proc: subprocess.Popen[bytes], directory: Path, limit: float) -> None:
    """SIGKILL ``proc`` as soon as a temporary file of its shows in ``directory``."""
    end = time.monotonic() + limit
    while time.monotonic() < end and proc.poll() is None:
        if any(name.startswith(".ecrd-") for name in os.listdir(directory)):  # noqa: PTH208
            break
    proc.send_signal(signal.SIGKILL)


def test_sigkill_at_random_moments_never_shows_a_partial_file(emulator: Emulator, tmp_path):
    """Under repeated SIGKILLs no reader fails to parse; no temporary file outlives a write.

    Each refresh rewrites both files (tokens change every call), so the final, unkilled
    refresh is the next write to both directories.
    """
    docker = tmp_path / "docker" / "config.json"
    netrc_path = tmp_path / "netrc" / ".netrc"
    config = tmp_path / "config.yaml"
    config.write_text(
        config_yaml(
            endpoint=emulator.url,
            registries=REGISTRIES,
            outputs=[("docker", docker), ("netrc", netrc_path)],
            refresh=SLOW,
        )
    )
    began = time.monotonic()
    assert (
        0
        == subprocess.run(
            [sys.executable, "-m", "ecrd", "refresh", "-c", str(config)],
            env=os.environ.copy(),
            capture_output=True,
            check=False,
            timeout=120,
        ).returncode
    )
    whole = time.monotonic() - began
    reader = Reader(docker, netrc_path)
    reader.start()
    rng = random.Random(20261205)  # noqa: S311 (timing, not secrets)
    killed_mid_write = 0
    try:
        for round_ in range(ROUNDS):
            proc = start(config)
            if round_ % 3 == 0:
                kill_when_writing(proc, docker.parent, limit=whole * 3)
            else:
                time.sleep(rng.uniform(0.4, 1.1) * whole)
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            killed_mid_write += bool(temporaries(docker.parent, netrc_path.parent))
    finally:
        reader.done.set()
        reader.join(timeout=60)

    if not killed_mid_write:  # no kill landed mid-write this time: leave what one would
        for directory in (docker.parent, netrc_path.parent):
            (directory / f".ecrd-{proc.pid}-0badc0de.tmp").write_text("password")
    final = subprocess.run(
        [sys.executable, "-m", "ecrd", "refresh", "-c", str(config)],
        env=os.environ.copy(),
        capture_output=True,
        check=False,
        timeout=120,
    )

    assert (0, [], []) == (
        final.returncode,
        reader.failures,
        temporaries(docker.parent, netrc_path.parent),
    )
    assert reader.parses > 0
