"""ecrd status rendering and exit codes, from a State value."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from ecrd.state import HostState, State
from ecrd.status import Report, exit_code, render_json, render_table

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
HOST = "111111111111.dkr.ecr.us-west-2.amazonaws.com"
OTHER = "222222222222.dkr.ecr.ap-southeast-2.amazonaws.com"
HOME = "/home/u"
CONFIG = "/home/u/.config/ecrd/config.yaml"
OUTPUTS = ["/home/u/.docker/config.json", "/home/u/.netrc"]


def host(**changes: object) -> HostState:
    values: dict[str, object] = {
        "host": HOST,
        "registry_id": "111111111111",
        "region": "us-west-2",
        "group": "ecr:us-west-2",
        "expires_at": NOW + timedelta(hours=11, minutes=30),
        "refreshed_at": NOW - timedelta(minutes=30),
        "next_refresh_at": NOW + timedelta(hours=5, minutes=30),
        "outputs": list(OUTPUTS),
    }
    values.update(changes)
    return HostState(**values)  # type: ignore[arg-type]


def report(*hosts: HostState, pid: int | None = 4242, config_error: str | None = None) -> Report:
    state = State(hosts={h.host: h for h in hosts}, config_error=config_error, config=CONFIG)
    return Report(state=state, config=CONFIG, daemon_pid=pid, now=NOW)


class TestExitCode:
    def test_fresh_hosts_exit_0(self):
        """Every host fresh: 0."""
        assert 0 == exit_code(report(host()))

    def test_expired_exit_1(self):
        """An expired token: 1."""
        assert 1 == exit_code(report(host(expires_at=NOW - timedelta(seconds=1))))

    def test_failing_while_still_valid_exit_1(self):
        """A host whose last refresh failed is failing even while its token is valid."""
        assert 1 == exit_code(report(host(last_error="group x: access denied")))

    def test_login_not_read_exit_1(self):
        """A login written where docker does not read it makes its host failing."""
        unread = host(last_error="could not store it", error_code="NotRead")

        assert 1 == exit_code(report(unread))

    def test_no_state_exit_2(self):
        """No state yet: 2."""
        assert 2 == exit_code(Report(state=None, config=CONFIG, daemon_pid=None, now=NOW))


class TestJson:
    def test_documented_keys_with_the_daemon_and_next_refresh(self):
        """hosts[] with next_refresh_at and failing; daemon {"pid"}; config; config_error."""
        document = json.loads(render_json(report(host(warnings=["w1"]))))

        (entry,) = document["hosts"]
        assert {"pid": 4242} == document["daemon"]
        assert (CONFIG, None) == (document["config"], document["config_error"])
        assert {
            "host": HOST,
            "registry_id": "111111111111",
            "region": "us-west-2",
            "expires_at": "2026-11-28T23:30:00+00:00",
            "refreshed_at": "2026-11-28T11:30:00+00:00",
            "next_refresh_at": "2026-11-28T17:30:00+00:00",
            "last_error": None,
            "failing": False,
            "outputs": OUTPUTS,
            "needs_login": False,
            "warnings": ["w1"],
        } == {k: entry[k] for k in (*entry.keys() - {"group", "error_code"},)}

    def test_without_a_daemon_no_next_refresh(self):
        """No daemon holds the lock: "daemon" is null and so is every next_refresh_at."""
        document = json.loads(render_json(report(host(), pid=None)))

        assert (None, None) == (document["daemon"], document["hosts"][0]["next_refresh_at"])

    def test_no_state_is_still_valid_json(self):
        """Before any refresh the JSON has an empty host list."""
        document = json.loads(
            render_json(Report(state=None, config=CONFIG, daemon_pid=None, now=NOW))
        )

        assert {
            "hosts": [],
            "config": CONFIG,
            "config_error": None,
            "metrics_error": None,
            "daemon": None,
        } == document


class TestTable:
    def test_daemon_line_then_a_row_per_host_with_relative_times(self):
        """The first line names the daemon's pid; rows show expiry, next and last refresh."""
        lines = render_table(report(host()), home=HOME).splitlines()

        assert "daemon: running (pid 4242) for ~/.config/ecrd/config.yaml" == lines[0]
        assert ["HOST", "EXPIRES IN", "NEXT REFRESH", "LAST REFRESH", "OUTPUTS"] == [
            c for c in lines[1].split("  ") if c
        ]
        assert [HOST, "11h30m", "in 5h30m", "30m00s ago", "~/.docker/config.json, ~/.netrc"] == [
            c.strip() for c in lines[2].split("  ") if c
        ]

    def test_no_daemon_says_nothing_refreshes_and_shows_no_next_refresh(self):
        """Without a daemon the first line says so, and NEXT REFRESH is "-"."""
        lines = render_table(report(host(), pid=None), home=HOME).splitlines()

        assert lines[0].startswith(
            "daemon: not running for ~/.config/ecrd/config.yaml: nothing refreshes these logins"
        )
        assert "-" == [c.strip() for c in lines[2].split("  ") if c][2]

    def test_fits_120_columns_with_long_hosts_errors_and_warnings(self):
        """Long hosts and four outputs: no line of the table is wider than 120."""
        outputs = [f"{HOME}/some/long/directory/name/{i}/config.json" for i in range(4)]
        state = report(
            host(outputs=outputs),
            host(host=OTHER, region="ap-southeast-2", outputs=outputs),
            host(host="x" * 52 + ".example.com", outputs=outputs),  # 64: ECR hosts are 51 at most
        )

        lines = render_table(state, home=HOME).splitlines()

        assert [] == [line for line in lines if len(line) > 120]
        assert "4 outputs" in lines[2]

    def test_each_problem_once_below_the_table(self):
        """A group's error shared by two hosts appears once; needs login is spelled out."""
        error = "group ecr:us-west-2: AccessDeniedException: not authorized"
        state = report(
            host(last_error=error),
            host(host=OTHER, last_error=error),
            host(
                host="333333333333.dkr.ecr.eu-west-1.amazonaws.com",
                last_error="run: aws sso login --profile dev",
                error_code="NeedsLogin",
                warnings=["podman's auth.json shadows it"],
            ),
        )

        lines = render_table(state, home=HOME).splitlines()

        assert 1 == sum(error in line for line in lines)
        assert f"error: {error}" in lines
        assert "error: needs login: run: aws sso login --profile dev" in lines
        assert "warning: podman's auth.json shadows it" in lines
        assert ["failed", "failed", "needs login"] == [
            [c.strip() for c in line.split("  ") if c][3] for line in lines[2:5]
        ]

    def test_a_rejected_configuration_is_described_as_it_is(self):
        """Rejected while a daemon runs on the last good one; with no daemon, not claimed."""
        error = "/etc/ecrd/config.yaml:3:5: unknown key 'regoin'"

        running = render_table(report(host(), config_error=error), home=HOME).splitlines()
        stopped = render_table(report(host(), pid=None, config_error=error), home=HOME)
        missing = render_table(report(config_error="config.yaml does not exist"), home=HOME)

        assert (
            f"configuration rejected, the daemon runs on the last good one: {error}"
            == (running[-1])
        )
        assert "last good one" not in stopped
        assert stopped.endswith(f"configuration error when last read: {error}")
        assert missing.endswith(
            "configuration error, the daemon waits for a valid file: config.yaml does not exist"
        )
