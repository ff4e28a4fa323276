"""`ecrd demo` as a process: several token lifetimes, then what it wrote, then Ctrl-C."""

from __future__ import annotations

import base64
import json
import netrc
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ecrd.demo import DEMO_REGISTRIES


def start_demo(
    *args: str, log_format: tuple[str, ...] = ("--log-format", "json")
) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecrd", "demo", "--token-lifetime", "3s", *log_format, *args],
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


def lines_until(lines: queue.Queue[str], predicate) -> list[str]:
    seen: list[str] = []
    while not seen or not predicate(seen[-1]):
        seen.append(lines.get(timeout=30))
    return seen


def status_pasted_from_the_banner(
    directory: Path, *options: str
) -> tuple[int, list[str], subprocess.CompletedProcess[str]]:
    """Run the `ecrd status` line a demo's banner prints, as a shell runs it pasted.

    The demo (its files in ``directory``) runs until its first round and the status are
    done. Returns its pid, the lines it printed by then, and the status run (``options``
    added to its command).
    """
    proc, lines = start_demo("--directory", str(directory), log_format=())
    try:
        seen = lines_until(lines, lambda line: "token_refreshed" in line and "2 hosts" in line)
        (status,) = [line.strip() for line in seen if " status -c " in line]
        done = subprocess.run(
            ["/bin/sh", "-c", " ".join([status, *map(shlex.quote, options)])],
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    return proc.pid, seen, done


def remaining(lines: queue.Queue[str]) -> list[str]:
    """What the process wrote until it exited (the pump stops with its stderr)."""
    rest: list[str] = []
    while True:
        try:
            rest.append(lines.get(timeout=2))
        except queue.Empty:  # noqa: PERF203 - the end of the stream is an exception here
            return rest


class TestDemoConsole:
    def test_one_short_line_per_refresh_and_commands_to_paste(self, tmp_path: Path):
        """By default: pasteable commands, then one short line per refresh, and a goodbye."""
        proc, lines = start_demo("--directory", str(tmp_path), log_format=())
        try:
            seen = lines_until(
                lines, lambda line: line.count("token_refreshed") and "2 hosts" in line
            )
            seen += lines_until(lines, lambda line: "token_refreshed" in line)
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=10)
        rest = remaining(lines)

        assert 0 == code
        (status,) = [line.split() for line in seen if " status -c " in line]
        ecrd = Path(status[1])
        assert (True, True) == (ecrd.is_absolute(), ecrd.exists())
        assert [f"STATE_DIRECTORY={tmp_path}/state", "status", "-c", f"{tmp_path}/config.yaml"] == [
            status[0],
            *status[2:],
        ]
        assert any(line.split() == ["cat", f"{tmp_path}/docker/config.json"] for line in seen)
        refreshed = [line for line in seen if "token_refreshed" in line]
        assert all(len(line) < 120 and "restored" not in line for line in refreshed)
        assert not any("output_written" in line or "refresh_scheduled" in line for line in seen)
        assert [f"ecrd demo: the files stay in {tmp_path}."] == [
            line.strip() for line in rest if line.startswith("ecrd demo:")
        ]

    def test_status_command_it_prints_works(self, tmp_path: Path):
        """The status line runs as printed, and finds the demo's hosts."""
        _, _, done = status_pasted_from_the_banner(tmp_path, "--output", "json")

        hosts = {h["host"] for h in json.loads(done.stdout)["hosts"]}
        assert {"123456789012.dkr.ecr.us-east-1.amazonaws.com"} <= hosts

    def test_status_pasted_from_the_banner_says_the_daemon_runs(self, tmp_path: Path):
        """The demo is its configuration's daemon: its banner and the pasted `ecrd status` say so.

        Both name the demo's pid, found the one way every command finds a configuration's
        daemon.
        """
        pid, seen, done = status_pasted_from_the_banner(tmp_path)

        first = done.stdout.splitlines()[0]
        banner = [line.split() for line in seen if line.strip().startswith("daemon:")]
        assert f"daemon: running (pid {pid})" in first
        assert [["daemon:", "pid", f"{pid},"]] == [line[:3] for line in banner]

    def test_ctrl_c_says_the_files_are_removed_and_how_to_keep_them(self):
        """Without --directory, the last line says what was removed and how to keep it."""
        proc, lines = start_demo(log_format=())
        try:
            lines_until(lines, lambda line: "token_refreshed" in line)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
        rest = remaining(lines)

        (goodbye,) = [line for line in rest if line.startswith("ecrd demo: removed")]
        assert "`ecrd demo --directory DIR` keeps the files" in goodbye

    def test_config_option_is_refused(self):
        """-c means nothing to the demo: a usage error, not silently ignored."""
        done = subprocess.run(
            [sys.executable, "-m", "ecrd", "demo", "-c", "x.yaml"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

        assert 2 == done.returncode
        assert "No such option '-c'" in done.stderr
