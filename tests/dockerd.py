"""The real docker engine (Debian's docker.io) on a private socket, for the tests that pull.

dockerd runs as root with no iptables, no bridge and vfs storage, in directories of its
own; the CLI (``/usr/bin/docker``) reaches it through ``DOCKER_HOST``. It pulls from the
loopback docker-registry over plain HTTP (127.0.0.0/8 is an insecure registry by default).
It is stopped with SIGTERM by its pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"
_START_TIMEOUT = 60.0


def why_not() -> str | None:
    """Why dockerd cannot run here, or None."""
    if os.geteuid() != 0:
        return "dockerd needs root"
    for program in (DOCKERD, DOCKER):
        if not os.access(program, os.X_OK):
            return f"{program} is missing (apt-get install docker.io; scripts/test installs it)"
    if shutil.which("containerd", path=f"{os.environ.get('PATH', '')}:/usr/bin:/usr/sbin") is None:
        return "containerd is missing (apt-get install docker.io)"
    return None


class Dockerd:
    """One dockerd in ``root``: its data, exec root, pid file, socket and log."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "docker.sock"
        self.pidfile = root / "dockerd.pid"
        self.log = root / "dockerd.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """The DOCKER_HOST value for the CLI."""
        return f"unix://{self.socket}"

    def start(self) -> str | None:
        """Start dockerd and wait until it answers; return why it did not, or None."""
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    DOCKERD,
                    "--iptables=false",
                    "--ip6tables=false",
                    "--bridge=none",
                    "--storage-driver=vfs",
                    "--data-root",
                    str(self.root / "data"),
                    "--exec-root",
                    str(self.root / "exec"),
                    "--pidfile",
                    str(self.pidfile),
                    "--host",
                    self.host,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self.log.read_text(errors="replace").splitlines()[-3:]
                return f"dockerd exited with {self._process.returncode}: {' | '.join(tail)}"
            answered = subprocess.run(
                [DOCKER, "--host", self.host, "version", "--format", "{{.Server.Version}}"],
                capture_output=True,
                check=False,
                timeout=30,
            )
            if answered.returncode == 0:
                return None
            # Nothing to wait on but the socket answering: poll it briefly.
            time.sleep(0.2)
        self.stop()
        return f"dockerd did not answer within {_START_TIMEOUT:.0f} s (log: {self.log})"

    def stop(self) -> None:
        """SIGTERM by pid, then wait for it to exit."""
        if self._process is None:
            return
        if self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=30)
        self._process = None

    def cli(
        self, *args: str, env: dict[str, str], stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this dockerd with exactly ``env`` (plus DOCKER_HOST)."""
        return subprocess.run(
            [DOCKER, *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={**env, "DOCKER_HOST": self.host},
        )
