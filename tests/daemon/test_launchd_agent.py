"""The launchd agent's command line, run for real, on a configuration invalid at start.

launchd starts an agent again whenever it fails: the agent's ecrd waits for a valid file
instead of exiting, and logs text. Under systemd (no such option) exit 2 stays.
"""

from __future__ import annotations

import os
import plistlib
import queue
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import pytest

from ecrd.service.launchd import LOG_FILE, logs_directory, render_plist
from tests.daemon.conftest import SLOW, WAIT, WEST_HOST, config_yaml
from tests.process import ecrd as run_ecrd

if TYPE_CHECKING:
    from pathlib import Path

BAD = "registries:\n  - not a registry host\n"


def read_lines(fifo: Path, lines: queue.Queue[str]) -> None:
    """Every line written to ``fifo`` until its writer closes it."""
    with fifo.open() as stream:
        for line in stream:
            lines.put(line)


def line_with(lines: queue.Queue[str], text: str) -> str:
    """The first line holding ``text`` (the ones before it are dropped)."""
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=WAIT)
        except queue.Empty:
            pytest.fail(f"no line with {text!r} within {WAIT} s; the log said:\n{''.join(seen)}")
        seen.append(line)
        if text in line:
            return line


class TestAgentOnABadConfiguration:
    def test_it_waits_for_a_valid_file_then_refreshes_and_logs_text(
        self, tmp_path, config_path, outputs, slow_emulator
    ):
        """Invalid at start: `config_rejected` in text, no exit; the fixed file is applied."""
        ecrd = tmp_path / "bin" / "ecrd"
        ecrd.parent.mkdir()
        ecrd.write_text(f'#!/bin/sh\nexec {sys.executable} -m ecrd "$@"\n')
        ecrd.chmod(0o755)
        home = tmp_path / "home"
        logs = logs_directory(home=home)
        logs.mkdir(parents=True)
        # The log as a FIFO: the test reads each line as the agent writes it.
        os.mkfifo(logs / LOG_FILE)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=read_lines, args=(logs / LOG_FILE, lines), daemon=True).start()
        config_path.write_text(BAD)
        argv = plistlib.loads(render_plist(ecrd=ecrd, config=config_path, home=home))[
            "ProgramArguments"
        ]

        agent = subprocess.Popen(argv, env=os.environ.copy())
        try:
            rejected = line_with(lines, "config_rejected")
            fixed = config_path.with_name("fixed.yaml")
            fixed.write_text(
                config_yaml(
                    endpoint=slow_emulator.url,
                    registries=[WEST_HOST],
                    outputs=outputs,
                    refresh=SLOW,
                )
            )
            fixed.replace(config_path)
            refreshed = line_with(lines, "token_refreshed")
            running = agent.poll()
        finally:
            agent.send_signal(signal.SIGTERM)
            code = agent.wait(timeout=WAIT)

        assert not rejected.startswith("{")
        assert "token_refreshed" in refreshed
        assert not refreshed.startswith("{")
        assert None is running
        assert 0 == code
        assert 1 == len(slow_emulator.calls(api="ecr"))
        assert [WEST_HOST] == list(outputs.auths())

    def test_without_the_agent_s_option_a_bad_file_still_exits_2(self, config_path):
        """`ecrd run` as systemd starts it: exit 2, which RestartPreventExitStatus=2 stops at."""
        config_path.write_text(BAD)

        done = run_ecrd("run", "-c", str(config_path), timeout=WAIT * 3)

        assert 2 == done.returncode
        assert "not a registry host" in done.stderr
