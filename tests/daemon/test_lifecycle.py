"""`ecrd run` stops on SIGTERM/SIGINT, talks to systemd, and restarts without calling AWS."""

from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta, timezone

import pytest

from ecrd.emulator.server import Fault
from tests.daemon.conftest import (
    EU_HOST,
    FAST,
    SLOW,
    WEST_HOST,
    config_yaml,
    ecrd_status,
    parse_time,
    wait_for_fault,
)

STOP_SIGNALS = [
    pytest.param(signal.SIGTERM, id="SIGTERM"),
    pytest.param(signal.SIGINT, id="SIGINT"),
]


class TestStop:
    @pytest.mark.parametrize("signum", STOP_SIGNALS)
    def test_a_stop_signal_ends_the_daemon_with_exit_0(
        self, signum, start_written, slow_emulator, outputs
    ):
        """SIGTERM or SIGINT: daemon_stopping, exit 0 within 2 s, only the outputs left."""
        daemon = start_written(slow_emulator, WEST_HOST, refresh=SLOW)

        code = daemon.stop(signum)

        assert 0 == code
        assert 1 == len(daemon.find("daemon_stopping"))
        assert [] == daemon.stray
        assert {
            str(outputs.docker.parent): ["config.json"],
            str(outputs.netrc.parent): ["netrc"],
        } == outputs.directory_listing()

    @pytest.mark.parametrize("signum", STOP_SIGNALS)
    def test_a_stop_in_the_middle_of_a_refresh_is_prompt_and_leaves_the_files(
        self, signum, write_config, start_daemon, fast_emulator, config_path, outputs
    ):
        """The endpoint hangs mid-refresh: the daemon still stops within 2 s; files intact."""
        write_config(fast_emulator, WEST_HOST, refresh=FAST)
        daemon = start_daemon(config_path)
        refreshed = daemon.wait_for("token_refreshed")
        daemon.wait_for("refresh_scheduled", since=daemon.index(refreshed) + 1)
        docker, netrc = outputs.docker.read_bytes(), outputs.netrc.read_bytes()
        fast_emulator.inject(Fault(kind="hang", count=None))
        wait_for_fault(fast_emulator, "hang")

        code = daemon.stop(signum)

        assert 0 == code
        assert docker == outputs.docker.read_bytes()
        assert netrc == outputs.netrc.read_bytes()
        assert {
            str(outputs.docker.parent): ["config.json"],
            str(outputs.netrc.parent): ["netrc"],
        } == outputs.directory_listing()

    def test_a_stop_during_a_first_round_that_hangs_is_prompt(
        self, write_config, start_daemon, fast_emulator, config_path, outputs
    ):
        """The very first call hangs: SIGTERM still ends the daemon within 2 s, exit 0."""
        fast_emulator.inject(Fault(kind="hang", count=None))
        write_config(fast_emulator, WEST_HOST, refresh=FAST)
        daemon = start_daemon(config_path)
        wait_for_fault(fast_emulator, "hang")

        code = daemon.stop()

        assert 0 == code
        assert {} == outputs.directory_listing()


class TestSystemdNotify:
    def test_ready_comes_once_the_first_round_is_written(
        self, write_config, start_daemon, slow_emulator, config_path, outputs, notify_socket
    ):
        """READY=1 once both groups are written, STATUS= before it; STOPPING=1 at the end."""
        write_config(slow_emulator, WEST_HOST, EU_HOST, refresh=SLOW)
        daemon = start_daemon(config_path, env={"NOTIFY_SOCKET": str(notify_socket.path)})

        ready = notify_socket.wait_for("READY=1")
        written_at_ready = sorted(outputs.auths())
        before_ready = notify_socket.messages[:ready]
        message = notify_socket.messages[ready]
        daemon.stop()
        stopping = notify_socket.wait_for("STOPPING=1")

        assert sorted([WEST_HOST, EU_HOST]) == written_at_ready
        assert [] != [m for m in before_ready if m.startswith("STATUS=")]
        assert message.startswith("READY=1\nSTATUS=2 hosts in 2 groups, next refresh ")
        assert 1 == len(message.split("\n")[1].splitlines())
        assert ready < stopping
        assert 1 == len([m for m in notify_socket.messages if m.startswith("READY=1")])

    def test_ready_comes_also_when_the_first_round_failed(
        self, write_config, start_daemon, slow_emulator, config_path, outputs, notify_socket
    ):
        """Access denied everywhere: READY=1 anyway, its status naming the failing group."""
        slow_emulator.inject(Fault(kind="access_denied", count=None))
        write_config(slow_emulator, WEST_HOST, refresh=SLOW)
        daemon = start_daemon(config_path, env={"NOTIFY_SOCKET": str(notify_socket.path)})

        ready = notify_socket.wait_for("READY=1")
        failed = daemon.wait_for("refresh_failed")

        assert "1 failing" in notify_socket.messages[ready]
        assert [WEST_HOST] == failed["hosts"]
        assert {} == outputs.directory_listing()

    def test_status_follows_each_refresh(
        self, write_config, start_daemon, fast_emulator, config_path, notify_socket
    ):
        """Every refresh sends a one-line STATUS= summary."""
        write_config(fast_emulator, WEST_HOST, refresh=FAST)
        daemon = start_daemon(config_path, env={"NOTIFY_SOCKET": str(notify_socket.path)})

        ready = notify_socket.wait_for("READY=1")
        later = notify_socket.wait_for("STATUS=", since=ready + 1)
        refreshed = daemon.wait_for("token_refreshed", count=2)
        message = notify_socket.messages[later]

        # One STATUS= per refresh (the first also went out with READY=1).
        assert [WEST_HOST] == refreshed["hosts"]
        assert 2 == len([m for m in notify_socket.messages[: later + 1] if m.startswith("STATUS=")])
        assert message.startswith("STATUS=1 hosts in 1 groups, next refresh ")
        assert 1 == len(message.splitlines())

    def test_reloading_then_ready_around_a_reload_also_a_rejected_one(
        self, start_daemon, slow_emulator, config_path, outputs, notify_socket
    ):
        """RELOADING=1 (with MONOTONIC_USEC) then READY=1, for a good file and for a bad one."""
        text = config_yaml(
            endpoint=slow_emulator.url, registries=[WEST_HOST], outputs=outputs, refresh=SLOW
        )
        config_path.write_text(text)
        daemon = start_daemon(config_path, env={"NOTIFY_SOCKET": str(notify_socket.path)})
        notify_socket.wait_for("READY=1")
        good = notify_socket.mark()

        config_path.write_text(text.replace(f"  - {WEST_HOST}", f"  - {WEST_HOST}\n  - {EU_HOST}"))
        reloading = notify_socket.wait_for("RELOADING=1", since=good)
        ready = notify_socket.wait_for("READY=1", since=reloading)
        daemon.wait_for("config_reloaded")
        bad = notify_socket.mark()
        config_path.write_text("registries: [")
        rejected_reloading = notify_socket.wait_for("RELOADING=1", since=bad)
        rejected_ready = notify_socket.wait_for("READY=1", since=rejected_reloading)

        assert "MONOTONIC_USEC=" in notify_socket.messages[reloading]
        assert reloading < ready
        assert (
            "STATUS=configuration rejected, running on the last good one: "
            in (notify_socket.messages[rejected_ready])
        )
        assert str(config_path) in notify_socket.messages[rejected_ready]

    def test_watchdog_pings_at_half_the_interval(
        self, write_config, start_daemon, slow_emulator, config_path, notify_socket
    ):
        """WATCHDOG_USEC=400000: WATCHDOG=1 comes again and again."""
        write_config(slow_emulator, WEST_HOST, refresh=SLOW)
        start_daemon(
            config_path,
            env={"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "400000"},
        )

        third = notify_socket.wait_for("WATCHDOG=1", count=3)

        assert "WATCHDOG=1" == notify_socket.messages[third]

    def test_no_watchdog_pings_for_another_process(
        self, write_config, start_daemon, slow_emulator, config_path, notify_socket
    ):
        """WATCHDOG_PID naming another process: no WATCHDOG=1, READY=1 all the same."""
        write_config(slow_emulator, WEST_HOST, refresh=SLOW)
        daemon = start_daemon(
            config_path,
            env={
                "NOTIFY_SOCKET": str(notify_socket.path),
                "WATCHDOG_USEC": "200000",
                "WATCHDOG_PID": "1",
            },
        )
        notify_socket.wait_for("READY=1")
        daemon.stop()
        notify_socket.wait_for("STOPPING=1")

        assert [] == [m for m in notify_socket.messages if "WATCHDOG=1" in m]


class TestRestart:
    def test_a_restart_with_fresh_tokens_makes_no_call(
        self, write_config, start_daemon, slow_emulator, config_path, outputs
    ):
        """Stopped and started again: no call; each group scheduled from its recorded expiry."""
        write_config(slow_emulator, WEST_HOST, EU_HOST, refresh=SLOW)
        first = start_daemon(config_path)
        refreshed = [first.wait_for("token_refreshed", hosts=[h]) for h in (WEST_HOST, EU_HOST)]
        scheduled = [
            first.wait_for("refresh_scheduled", since=first.index(r) + 1, hosts=r["hosts"])
            for r in refreshed
        ]
        assert 0 == first.stop()
        files = outputs.docker.read_bytes(), outputs.netrc.read_bytes()

        second = start_daemon(config_path)
        restored = [
            second.wait_for("refresh_scheduled", hosts=[h], restored=True)
            for h in (WEST_HOST, EU_HOST)
        ]
        # A reload answered "unchanged" shows the daemon is past its (empty) first round.
        second.send(signal.SIGHUP)
        second.wait_for("config_unchanged")
        status = ecrd_status()

        assert 2 == len(slow_emulator.calls(api="ecr"))
        assert [s["at"] for s in scheduled] == [r["at"] for r in restored]
        assert [] == second.find("token_refreshed")
        assert files == (outputs.docker.read_bytes(), outputs.netrc.read_bytes())
        assert 0 == status.returncode, status.stdout

    def test_a_restart_with_expired_tokens_refreshes_at_once(
        self, write_config, start_daemon, slow_emulator, config_path
    ):
        """A token recorded as expired is fetched again at start, not scheduled later."""
        slow_emulator.token_lifetime = timedelta(seconds=1)
        write_config(slow_emulator, WEST_HOST, refresh={**SLOW, "min_interval": "10m"})
        first = start_daemon(config_path)
        refreshed = first.wait_for("token_refreshed")
        first.wait_for("refresh_scheduled", since=first.index(refreshed) + 1)
        assert 0 == first.stop()
        expires_at = parse_time(refreshed["expires_at"])
        # The event awaited is the expiry itself.
        time.sleep(max((expires_at - datetime.now(timezone.utc)).total_seconds(), 0) + 0.05)
        slow_emulator.token_lifetime = timedelta(hours=1)

        second = start_daemon(config_path)
        again = second.wait_for("token_refreshed")

        assert 2 == len(slow_emulator.calls(api="ecr"))
        assert [] == second.find("refresh_scheduled", restored=True)
        assert expires_at < parse_time(again["timestamp"])
        assert parse_time(again["expires_at"]) - parse_time(again["timestamp"]) > timedelta(
            minutes=59
        )
        assert 0 == second.stop()
