"""An identity that needs a person: no hot loop, one instruction, one notice, retry on login."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING

from tests.daemon.conftest import ecrd_status, parse_time

if TYPE_CHECKING:
    from pathlib import Path

    from ecrd.emulator.server import Emulator

HOST = "111111111111.dkr.ecr.us-west-2.amazonaws.com"


def sso_profile(home: Path) -> None:
    """Profile `dev`: SSO, with no cached token (botocore raises without a request)."""
    aws = home / ".aws"
    aws.mkdir(exist_ok=True)
    (aws / "config").write_text(
        "[profile dev]\nsso_session = corp\nsso_account_id = 111111111111\n"
        "sso_role_name = ReadOnly\nregion = us-west-2\n\n"
        "[sso-session corp]\nsso_start_url = https://example.invalid/start\n"
        "sso_region = us-east-1\n"
    )


def recording_notify_send(directory: Path) -> Path:
    """A notify-send that appends one line per notification to a file."""
    directory.mkdir()
    calls = directory / "calls"
    script = directory / "notify-send"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    script.chmod(0o755)
    return calls


class TestNeedsLogin:
    def test_expired_sso_login_waits_for_the_person_and_retries_when_they_log_in(
        self, tmp_path, isolated_env, config_path, slow_emulator: Emulator, start_daemon
    ):
        """One instruction and one notice, no call; an SSO cache write brings the next try.

        Without the login the next try waits retry_max (an hour), not retry_initial.
        """
        sso_profile(isolated_env)
        bin_dir = tmp_path / "bin"
        notices = recording_notify_send(bin_dir)
        config_path.write_text(
            "refresh: {retry_initial: 1s, retry_max: 1h, min_interval: 1s, jitter: 0}\n"
            f"aws: {{profile: dev, endpoint_url: '{slow_emulator.url}'}}\n"
            f"outputs: [{{type: docker, path: {tmp_path}/docker.json}}]\n"
            f"registries: [{HOST}]\n"
        )
        daemon = start_daemon(
            config_path, env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        )

        needed = daemon.wait_for("login_needed")
        scheduled = daemon.wait_for("refresh_scheduled", since=daemon.index(needed))
        status = ecrd_status("--output", "json")
        cache = isolated_env / ".aws" / "sso" / "cache"
        cache.mkdir(parents=True)
        (cache / "0123456789abcdef.json").write_text("{}")
        daemon.wait_for("refresh_failed", count=2)

        assert "aws sso login --profile dev" in needed["error"]
        wait = parse_time(scheduled["at"]) - parse_time(needed["timestamp"])
        assert timedelta(minutes=47) < wait <= timedelta(hours=1)
        assert 1 == len(daemon.find("login_needed"))
        assert 1 == len(notices.read_text().splitlines())
        assert "AWS login needed" in notices.read_text()
        assert [] == slow_emulator.calls()
        assert '"needs_login": true' in status.stdout
        assert 1 == status.returncode
