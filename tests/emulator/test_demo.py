"""`ecrd demo` as a process: several token lifetimes, then what it wrote, then Ctrl-C."""

from __future__ import annotations

import base64
import json
import netrc
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ecrd.emulator.demo import DEMO_REGISTRIES


def start_demo(*args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecrd",
            "demo",
            "--token-lifetime",
            "3s",
            "--log-format",
            "json",
            *args,
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=os.environ.copy(),
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

        proc.stderr.close()

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def wait_for_refreshes(lines: queue.Queue[str], count: int) -> list[str]:
    seen: list[str] = []
    refreshed = 0
    while refreshed < count:
        line = lines.get(timeout=30)
        seen.append(line)
        if line.startswith("{") and json.loads(line)["event"] == "token_refreshed":
            refreshed += 1
    return seen


class TestDemo:
    def test_refreshes_over_several_lifetimes_and_writes_both_outputs(self, tmp_path: Path):
        """Several lifetimes of 2 s tokens: every demo host in docker's file and the netrc."""
        proc, lines = start_demo("--directory", str(tmp_path))
        try:
            # Two groups, refreshed at start and then every second: 8 events span
            # several token lifetimes.
            wait_for_refreshes(lines, 8)
            auths = json.loads((tmp_path / "docker" / "config.json").read_text())["auths"]
            machines = netrc.netrc(str(tmp_path / "netrc")).hosts
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=10)

        assert 0 == code
        assert sorted(DEMO_REGISTRIES) == sorted(auths)
        for entry in auths.values():
            assert base64.b64decode(entry["auth"]).startswith(b"AWS:")
        assert sorted(DEMO_REGISTRIES) == sorted(machines)
        assert 0o600 == (tmp_path / "netrc").stat().st_mode & 0o777

    def test_temporary_directory_is_removed_on_ctrl_c(self):
        """Without --directory, the demo's files are gone after Ctrl-C."""
        proc, lines = start_demo()
        try:
            banner = wait_for_refreshes(lines, 2)
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=10)
        (config_line,) = [line for line in banner if "configuration:" in line]
        directory = Path(config_line.split()[1]).parent

        assert 0 == code
        assert directory.name.startswith("ecrd-demo-")
        assert not directory.exists()
