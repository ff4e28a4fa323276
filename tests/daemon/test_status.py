"""`ecrd status`, run as another process next to the daemon: table, JSON and exit codes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from ecrd import paths
from ecrd.config import default_config_path
from ecrd.emulator.server import Emulator, Fault
from tests.daemon.conftest import (
    EU,
    EU_HOST,
    LONG_LIFETIME,
    SLOW,
    WEST,
    WEST_HOST,
    ecrd_status,
    parse_time,
)

HEADER = ["HOST", "EXPIRES IN", "NEXT REFRESH", "LAST REFRESH", "OUTPUTS"]
JSON_KEYS = {
    "host",
    "registry_id",
    "region",
    "expires_at",
    "refreshed_at",
    "last_error",
    "outputs",
    "next_refresh_at",
    "failing",
}
# Tokens live an hour but are refreshed every second: a failure comes while one is valid.
EVERY_SECOND = {**SLOW, "before_expiry": "3599s"}


class TestStatusCommand:
    def test_no_state_yet_exits_2_and_says_so(self):
        """Before any refresh: exit 2 and a message naming the configuration's state directory."""
        default_config_path().parent.mkdir(parents=True)
        default_config_path().write_text("registries: []\n")

        done = ecrd_status()

        directory = paths.config_state_dir(
            root=paths.state_root(), config=str(default_config_path())
        )
        assert 2 == done.returncode
        assert "" == done.stdout
        assert (
            f"No state yet in {directory}: run `ecrd refresh` or start `ecrd run`.\n" == done.stderr
        )

    def test_a_configuration_that_does_not_exist_is_named(self, tmp_path):
        """`-c` naming no file: exit 2, and the message says the file does not exist."""
        typo = tmp_path / "typo.yaml"

        done = ecrd_status("-c", str(typo))

        assert 2 == done.returncode
        assert "" == done.stdout
        assert done.stderr.startswith(f"{typo}: the configuration file does not exist")
        assert "No state yet" not in done.stderr

    def test_root_without_state_is_pointed_to_the_template_units_state(self, tmp_path):
        """/var/lib/ecrd/USER of ecrd@USER exists: `ecrd status` says where and how to read it.

        Run in a mount namespace of its own, with a tmpfs as /var/lib.
        """
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            pytest.skip("needs root and unshare(1) to mount a tmpfs on /var/lib")
        config = tmp_path / "config.yaml"
        config.write_text("registries: []\n")
        script = (
            "mount -t tmpfs tmpfs /var/lib && mkdir -p /var/lib/ecrd/jenkins/configs"
            f' && exec "$0" -m ecrd status -c {config}'
        )

        done = subprocess.run(
            ["unshare", "-m", "/bin/sh", "-c", script, sys.executable],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ.copy(),
            check=False,
        )

        assert 2 == done.returncode, done.stderr
        assert (
            "The state of ecrd@jenkins is in /var/lib/ecrd/jenkins: run `ecrd status` as jenkins"
            " (sudo -u jenkins ecrd status), or STATE_DIRECTORY=/var/lib/ecrd/jenkins ecrd status."
        ) == done.stderr.splitlines()[-1]

    def test_fresh_hosts_exit_0_as_a_table_and_as_json(
        self, start_written, slow_emulator, config_path, outputs
    ):
        """While the daemon runs: its pid, a row per host, the documented JSON, exit 0, no secret."""
        daemon = start_written(slow_emulator, WEST_HOST, EU_HOST, refresh=SLOW)

        table = ecrd_status()
        as_json = ecrd_status("--output", "json")
        now = datetime.now(timezone.utc)
        data = json.loads(as_json.stdout)
        lines = table.stdout.splitlines()
        rows = {line.split()[0]: _split_header(line) for line in lines[2:]}

        assert 0 == table.returncode, table.stdout
        assert f"daemon: running (pid {daemon.proc.pid}) for {config_path}" == lines[0]
        assert HEADER == [h.strip() for h in _split_header(lines[1])]
        assert sorted([WEST_HOST, EU_HOST]) == sorted(rows)
        assert re.fullmatch(r"59m[0-5][0-9]s", rows[WEST_HOST][1])
        # The outputs' full paths would not fit in 120 columns: their number instead.
        assert "2 outputs" == rows[WEST_HOST][4]
        assert {"pid": daemon.proc.pid} == data["daemon"]
        assert 0 == as_json.returncode
        assert None is data["config_error"]
        assert sorted([WEST_HOST, EU_HOST]) == [h["host"] for h in data["hosts"]]
        for host in data["hosts"]:
            assert JSON_KEYS <= set(host)
            assert [str(outputs.docker), str(outputs.netrc)] == host["outputs"]
            assert None is host["last_error"]
            assert timedelta(minutes=59) < parse_time(host["expires_at"]) - now
            assert timedelta(minutes=1) > now - parse_time(host["refreshed_at"])
        assert {WEST_HOST: WEST, EU_HOST: EU} == {
            h["host"]: h["registry_id"] for h in data["hosts"]
        }
        secrets = [entry["auth"] for entry in outputs.auths().values()]
        assert [] == [a for a in secrets if a in table.stdout + as_json.stdout]

    def test_a_host_whose_last_refresh_failed_is_failing_while_its_token_is_valid(
        self, start_written
    ):
        """Its token has an hour left, but the last refresh failed: exit 1, the error shown."""
        with Emulator(token_lifetime=LONG_LIFETIME) as emulator:
            daemon = start_written(emulator, WEST_HOST, refresh=EVERY_SECOND)
            emulator.inject(Fault(kind="access_denied", count=None))
            failed = daemon.wait_for("refresh_failed")
            daemon.wait_for("refresh_scheduled", since=daemon.index(failed) + 1)
            as_json = ecrd_status("--output", "json")
            table = ecrd_status()

        (host,) = json.loads(as_json.stdout)["hosts"]
        assert 1 == as_json.returncode
        assert failed["error"] == host["last_error"]
        assert parse_time(host["expires_at"]) - datetime.now(timezone.utc) > timedelta(minutes=59)
        assert 1 == table.returncode
        assert "failed" == _split_header(table.stdout.splitlines()[2])[3].strip()
        assert 1 == table.stdout.count(failed["error"])
        assert f"error: {failed['error']}" in table.stdout.splitlines()

    def test_an_expired_host_exits_1(
        self, write_config, start_daemon, slow_emulator, config_path, outputs
    ):
        """A token that expired (here: issued for one second, never refreshed) exits 1."""
        slow_emulator.token_lifetime = timedelta(seconds=1)
        write_config(slow_emulator, WEST_HOST, refresh={**SLOW, "min_interval": "10m"})
        daemon = start_daemon(config_path)
        refreshed = daemon.wait_for("token_refreshed")
        daemon.wait_for("output_written", path=str(outputs.netrc))
        expires_at = datetime.fromisoformat(refreshed["expires_at"])
        # The event awaited is the expiry itself.
        time.sleep(max((expires_at - datetime.now(timezone.utc)).total_seconds(), 0) + 0.05)

        done = ecrd_status()

        assert 1 == done.returncode
        assert "expired" == done.stdout.splitlines()[2].split()[1]


def _split_header(line: str) -> list[str]:
    """Column titles, which may hold one space each ("EXPIRES IN")."""
    return [title for title in line.split("  ") if title]
