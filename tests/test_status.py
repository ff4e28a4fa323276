"""ecrd status rendering and exit codes, from a State value."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from ecrd.state import HostState, State
from ecrd.status import exit_code, render_json, render_table

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
HOST = "111111111111.dkr.ecr.us-west-2.amazonaws.com"


def host(**changes: object) -> HostState:
    values: dict[str, object] = {
        "host": HOST,
        "registry_id": "111111111111",
        "region": "us-west-2",
        "group": "ecr:us-west-2",
        "expires_at": NOW + timedelta(hours=11, minutes=30),
        "refreshed_at": NOW - timedelta(minutes=30),
        "outputs": ["/home/u/.docker/config.json"],
    }
    values.update(changes)
    return HostState(**values)  # type: ignore[arg-type]


class TestExitCode:
    def test_fresh_hosts_exit_0(self):
        """Every host fresh: 0."""
        assert 0 == exit_code(State(hosts={HOST: host()}), NOW)

    def test_expired_exit_1(self):
        """An expired token: 1."""
        assert 1 == exit_code(State(hosts={HOST: host(expires_at=NOW - timedelta(seconds=1))}), NOW)

    def test_failing_while_still_valid_exit_1(self):
        """A host whose last refresh failed is failing even while its token is valid."""
        assert 1 == exit_code(State(hosts={HOST: host(last_error="group x: access denied")}), NOW)

    def test_no_state_exit_2(self):
        """No state yet: 2."""
        assert 2 == exit_code(None, NOW)


class TestRender:
    def test_json_has_the_documented_keys(self):
        """hosts[] with host, registry_id, region, expires_at, refreshed_at, last_error, outputs."""
        state = State(hosts={HOST: host(warnings=["w1"])}, config_error=None)

        document = json.loads(render_json(state))

        (entry,) = document["hosts"]
        assert {"hosts", "config_error"} == set(document)
        assert {
            "host": HOST,
            "registry_id": "111111111111",
            "region": "us-west-2",
            "expires_at": "2026-11-28T23:30:00+00:00",
            "refreshed_at": "2026-11-28T11:30:00+00:00",
            "last_error": None,
            "outputs": ["/home/u/.docker/config.json"],
            "needs_login": False,
            "warnings": ["w1"],
        } == {k: entry[k] for k in (*entry.keys() - {"group", "error_code"},)}

    def test_table_shows_expiry_login_needed_warnings_and_rejection(self):
        """A row per host; needs login spelled out; warnings and a rejected config below."""
        state = State(
            hosts={
                HOST: host(
                    last_error="group ecr:us-west-2 profile=dev: run: aws sso login --profile dev",
                    error_code="NeedsLogin",
                    warnings=["podman's auth.json shadows it"],
                )
            },
            config_error="/etc/ecrd/config.yaml:3:5: unknown key 'regoin'",
        )

        lines = render_table(state, NOW).splitlines()

        assert lines[0].split() == [
            "HOST",
            "REGISTRY",
            "REGION",
            "EXPIRES",
            "IN",
            "LAST",
            "REFRESH",
            "OUTPUTS",
            "LAST",
            "ERROR",
        ]
        assert "11h30m" in lines[1]
        assert "needs login: group ecr:us-west-2 profile=dev: run: aws sso login" in lines[1]
        assert "warning: podman's auth.json shadows it" in lines
        assert lines[-1].startswith(
            "configuration rejected, running on the last good one: /etc/ecrd/config.yaml:3:5"
        )
