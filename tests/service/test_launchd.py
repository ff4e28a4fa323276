"""The launchd agent's property list, read back with plistlib: every key, its type, its value."""

from __future__ import annotations

import os
import plistlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ecrd.service.launchd import LABEL, LOG_CAP, logs_directory, plist_name, render_plist

HOME = Path("/Users/ann")
ECRD = Path("/Users/ann/.local/pipx/venvs/ecrd/bin/ecrd")
CONFIG = Path("/Users/ann/.config/ecrd/config.yaml")


def agent() -> dict[str, Any]:
    data = plistlib.loads(render_plist(ecrd=ECRD, config=CONFIG, home=HOME))
    assert isinstance(data, dict)
    return data


class TestPlist:
    def test_every_key_and_value(self):
        """Runs `ecrd run --config CONFIG` at load (waiting for a valid file), logs text to ~/Library/Logs/ecrd.

        Through /bin/sh, which caps the log (issue 13: launchd never rotates it), so no
        StandardOutPath: the shell appends ecrd's output to the log itself.
        """
        log = "/Users/ann/Library/Logs/ecrd/ecrd.log"

        data = agent()
        script = data["ProgramArguments"][2]
        assert {
            "Label": "io.ecrd.agent",
            "ProgramArguments": [
                "/bin/sh",
                "-c",
                script,
                "ecrd",
                log,
                str(ECRD),
                "run",
                "--config",
                str(CONFIG),
                "--wait-for-valid-config",
                "--log-format",
                "console",
            ],
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ThrottleInterval": 30,
            "ProcessType": "Background",
            "EnvironmentVariables": {
                "PATH": "/Users/ann/.docker/bin:/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
            },
        } == data
        assert f"-size +{LOG_CAP}c" in script

    def test_every_value_has_the_type_launchd_expects(self):
        """Booleans are <true/> or <false/>, ThrottleInterval an integer, arguments strings."""
        data = agent()

        assert {
            "Label": str,
            "ProgramArguments": list,
            "RunAtLoad": bool,
            "KeepAlive": dict,
            "ThrottleInterval": int,
            "ProcessType": str,
            "EnvironmentVariables": dict,
        } == {key: type(value) for key, value in data.items()}
        assert [str] * 12 == [type(arg) for arg in data["ProgramArguments"]]
        assert {"SuccessfulExit": bool} == {
            key: type(value) for key, value in data["KeepAlive"].items()
        }

    def test_paths_are_absolute_without_tilde_or_variables(self):
        """Every path is absolute, without '~' or $VARIABLES, which launchd does not expand."""
        data = agent()
        arguments = data["ProgramArguments"]
        paths = [
            arguments[0],
            arguments[4],
            arguments[5],
            arguments[8],
            *data["EnvironmentVariables"]["PATH"].split(":"),
        ]

        assert [] == [p for p in paths if not str(p).startswith("/") or "~" in p or "$" in p]

    def test_file_name_and_logs_follow_the_label(self):
        """The file is ~/Library/LaunchAgents/LABEL.plist; logs go to ~/Library/Logs/ecrd."""
        assert ("io.ecrd.agent.plist", Path("/Users/ann/Library/Logs/ecrd")) == (
            plist_name(),
            logs_directory(home=HOME),
        )
        assert plist_name() == f"{LABEL}.plist"

    def test_xml_header(self):
        """The file is an XML property list, as launchd and plutil read it."""
        assert render_plist(ecrd=ECRD, config=CONFIG, home=HOME).startswith(
            b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist'
        )


class TestLogCap:
    """The agent's command line, run for real by /bin/sh with a stand-in for ecrd."""

    @pytest.fixture
    def start(self, tmp_path: Path):
        fake = tmp_path / "bin" / "ecrd"
        fake.parent.mkdir()
        fake.write_text('#!/bin/sh\necho "ecrd $*"\necho "to stderr" >&2\n')
        fake.chmod(0o755)
        home = tmp_path / "home"
        logs = logs_directory(home=home)
        logs.mkdir(parents=True)
        argv = plistlib.loads(render_plist(ecrd=fake, config=CONFIG, home=home))["ProgramArguments"]

        def start() -> Path:
            subprocess.run(argv, check=True, env={"PATH": "/usr/bin:/bin"})
            return logs / "ecrd.log"

        return start

    def test_first_start_creates_the_log_with_both_streams(self, start):
        """Ecrd's stdout and stderr go to ~/Library/Logs/ecrd/ecrd.log; ecrd gets its arguments."""
        log = start()

        assert (
            f"ecrd run --config {CONFIG} --wait-for-valid-config --log-format console\nto stderr\n"
            == log.read_text()
        )

    def test_a_log_under_the_cap_is_appended_to(self, start):
        """A log within the cap is kept and appended to; no old generation is made."""
        log = start()
        start()

        assert (2, False) == (
            log.read_text().count("to stderr"),
            log.with_name("ecrd.log.1").exists(),
        )

    def test_a_log_over_the_cap_is_moved_aside_once(self, start):
        """Over the cap: moved to ecrd.log.1 (replacing the former), ecrd writes a fresh log."""
        log = start()
        os.truncate(log, LOG_CAP + 1)
        old = log.with_name("ecrd.log.1")
        old.write_text("the generation before\n")

        start()

        assert ("ecrd run", LOG_CAP + 1) == (log.read_text()[:8], old.stat().st_size)
