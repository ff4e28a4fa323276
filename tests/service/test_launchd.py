"""The launchd agent's property list, read back with plistlib: every key, its type, its value."""

from __future__ import annotations

import plistlib
from pathlib import Path
from typing import Any

from ecrd.service.launchd import LABEL, logs_directory, plist_name, render_plist

HOME = Path("/Users/ann")
ECRD = Path("/Users/ann/.local/pipx/venvs/ecrd/bin/ecrd")
CONFIG = Path("/Users/ann/.config/ecrd/config.yaml")


def agent() -> dict[str, Any]:
    data = plistlib.loads(render_plist(ecrd=ECRD, config=CONFIG, home=HOME))
    assert isinstance(data, dict)
    return data


class TestPlist:
    def test_every_key_and_value(self):
        """Runs `ecrd run --config CONFIG` at load, again after a failure, logs to ~/Library/Logs/ecrd."""
        log = "/Users/ann/Library/Logs/ecrd/ecrd.log"

        assert {
            "Label": "io.ecrd.agent",
            "ProgramArguments": [str(ECRD), "run", "--config", str(CONFIG)],
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ThrottleInterval": 30,
            "ProcessType": "Background",
            "StandardOutPath": log,
            "StandardErrorPath": log,
            "EnvironmentVariables": {
                "PATH": "/Users/ann/.docker/bin:/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
            },
        } == agent()

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
            "StandardOutPath": str,
            "StandardErrorPath": str,
            "EnvironmentVariables": dict,
        } == {key: type(value) for key, value in data.items()}
        assert [str, str, str, str] == [type(arg) for arg in data["ProgramArguments"]]
        assert {"SuccessfulExit": bool} == {
            key: type(value) for key, value in data["KeepAlive"].items()
        }

    def test_paths_are_absolute_without_tilde_or_variables(self):
        """Every path is absolute, without '~' or $VARIABLES, which launchd does not expand."""
        data = agent()
        paths = [
            data["ProgramArguments"][0],
            data["ProgramArguments"][3],
            data["StandardOutPath"],
            data["StandardErrorPath"],
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
