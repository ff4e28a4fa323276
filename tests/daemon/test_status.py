"""`ecrd status`, run as another process next to the daemon: table, JSON and exit codes."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from ecrd.config.load import default_config_path
from ecrd.emulator.server import Emulator, Fault
from ecrd.state import StateStore
from tests.daemon.conftest import (
    EU,
    EU_HOST,
    LONG_LIFETIME,
    SLOW,
    WEST,
    WEST_HOST,
    config_yaml,
    ecrd_status,
    holding,
    parse_time,
)

HEADER = ["HOST", "REGISTRY", "REGION", "EXPIRES IN", "LAST REFRESH", "OUTPUTS", "LAST ERROR"]
JSON_KEYS = {
    "host",
    "registry_id",
    "region",
    "expires_at",
    "refreshed_at",
    "last_error",
    "outputs",
}
# Tokens live an hour but are refreshed every second: a failure comes while one is valid.
EVERY_SECOND = {**SLOW, "before_expiry": "3599s"}


class TestStatusCommand:
    def test_no_state_yet_exits_2_and_says_so(self):
        """Before any refresh: exit 2 and a message naming the state directory."""
        done = ecrd_status()

        assert 2 == done.returncode
        assert "" == done.stdout
        assert (
            f"No state yet in {StateStore.for_config(default_config_path()).directory}: run `ecrd refresh` or start `ecrd run`.\n"
            == done.stderr
        )

    def test_fresh_hosts_exit_0_as_a_table_and_as_json(
        self, start_daemon, slow_emulator, config_path, outputs
    ):
        """While the daemon runs: a row per host, the documented JSON, exit 0, no secret."""
        config_path.write_text(
            config_yaml(
                endpoint=slow_emulator.url,
                registries=[WEST_HOST, EU_HOST],
                outputs=outputs,
                refresh=SLOW,
            )
        )
        daemon = start_daemon(config_path)
        for host in (WEST_HOST, EU_HOST):
            daemon.wait_for("output_written", path=str(outputs.netrc), where=holding(host))

        table = ecrd_status()
        as_json = ecrd_status("--output", "json")
        now = datetime.now(timezone.utc)
        data = json.loads(as_json.stdout)
        lines = table.stdout.splitlines()
        rows = {line.split()[0]: line.split(None, 4) for line in lines[1:]}

        assert 0 == table.returncode, table.stdout
        assert HEADER == [h.strip() for h in _split_header(lines[0])]
        assert sorted([WEST_HOST, EU_HOST]) == sorted(rows)
        assert [WEST, "us-west-2"] == rows[WEST_HOST][1:3]
        assert [EU, "eu-west-1"] == rows[EU_HOST][1:3]
        assert re.fullmatch(r"59m[0-5][0-9]s", rows[WEST_HOST][3])
        assert lines[1].endswith(f"{outputs.docker}, {outputs.netrc}  -")
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
        self, start_daemon, config_path, outputs
    ):
        """Its token has an hour left, but the last refresh failed: exit 1, the error shown."""
        with Emulator(token_lifetime=LONG_LIFETIME) as emulator:
            config_path.write_text(
                config_yaml(
                    endpoint=emulator.url,
                    registries=[WEST_HOST],
                    outputs=outputs,
                    refresh=EVERY_SECOND,
                )
            )
            daemon = start_daemon(config_path)
            daemon.wait_for("output_written", path=str(outputs.netrc))
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
        assert table.stdout.splitlines()[1].endswith(failed["error"])

    def test_an_expired_host_exits_1(self, start_daemon, slow_emulator, config_path, outputs):
        """A token that expired (here: issued expired) makes the host failing: exit 1."""
        slow_emulator.inject(Fault(kind="past_expiry", count=None))
        config_path.write_text(
            config_yaml(
                endpoint=slow_emulator.url,
                registries=[WEST_HOST],
                outputs=outputs,
                refresh={**SLOW, "min_interval": "10m"},
            )
        )
        daemon = start_daemon(config_path)
        daemon.wait_for("output_written", path=str(outputs.netrc))

        done = ecrd_status()

        assert 1 == done.returncode
        assert "expired" == done.stdout.splitlines()[1].split()[3]


def _split_header(line: str) -> list[str]:
    """Column titles, which may hold one space each ("EXPIRES IN")."""
    return [title for title in line.split("  ") if title]
