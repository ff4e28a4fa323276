"""One writer and one daemon per configuration: `ecrd refresh` and `ecrd run` beside a daemon.

The daemon is the real `ecrd run` as a process; `ecrd refresh` and the second `ecrd run`
are real processes too, run with an environment of their own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ecrd.daemon import control, serving
from ecrd.emulator.server import Fault
from ecrd.problems import NOT_READ, OUTPUT_FAILED, SHADOWED, WARNING, Problem
from ecrd.refresh_round import HostResult, RoundResult
from ecrd.state import StateStore
from tests.daemon.conftest import (
    EU_HOST,
    SLOW,
    WAIT,
    WEST_HOST,
    config_yaml,
    ecrd_status,
)
from tests.process import ecrd

# Holds an abstract socket's name (argv[1], without its leading NUL) until killed.
_SQUAT = (
    "import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(chr(0) + sys.argv[1]);"
    " s.listen(); print('bound', flush=True); s.accept(); s.accept()"
)
_SUCCESS = re.compile(
    r'^ecrd_refresh_attempts_total\{[^}]*result="success"[^}]*\} (\S+)$', re.MULTILINE
)


def successes(textfile: Path) -> float:
    """The sum of the success counters in a textfile."""
    return sum(float(v) for v in _SUCCESS.findall(textfile.read_text()))


def without_credentials(tmp_path: Path) -> dict[str, str]:
    """An environment in which no AWS identity is found: a manual run there fails."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-credentials")
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    return env


class TestRefreshBesideTheDaemon:
    def test_the_daemon_refreshes_with_its_environment_state_and_metrics(
        self, start_daemon, slow_emulator, config_path, outputs, tmp_path
    ):
        """`ecrd refresh` where no identity is found still exits 0 with the daemon's round.

        The daemon made the calls (two groups: two more calls), its state records no
        failure, and its textfile's success counter only grows.
        """
        textfile = tmp_path / "metrics" / "ecrd.prom"
        config_path.write_text(
            config_yaml(
                endpoint=slow_emulator.url,
                registries=[WEST_HOST, EU_HOST],
                outputs=outputs,
                refresh=SLOW,
            )
            + f"metrics:\n  textfile: {textfile}\n"
        )
        daemon = start_daemon(config_path)
        # Two at start, two once the first round (and its metrics) is written.
        daemon.wait_for("refresh_scheduled", count=4)
        before = successes(textfile)

        done = ecrd("refresh", "-c", str(config_path), env=without_credentials(tmp_path))
        status = ecrd_status("-c", str(config_path))

        assert (0, "") == (done.returncode, done.stderr)
        assert sorted([EU_HOST, WEST_HOST]) == sorted(
            line.split()[0] for line in done.stdout.splitlines()
        )
        assert 4 == len(slow_emulator.calls(api="ecr"))
        assert 1 == len(daemon.find("refresh_requested"))
        assert 0 == status.returncode, status.stdout + status.stderr
        assert before + 2 == successes(textfile)
        assert 0 == daemon.stop()

    def test_a_failure_in_the_daemon_s_round_exits_1(
        self, start_written, slow_emulator, config_path
    ):
        """The daemon's round fails (ECR refuses): `ecrd refresh` prints it and exits 1."""
        daemon = start_written(slow_emulator, WEST_HOST, refresh=SLOW)
        slow_emulator.inject(Fault(kind="access_denied", count=1))

        done = ecrd("refresh", "-c", str(config_path))

        assert 1 == done.returncode
        assert done.stdout.startswith(f"{WEST_HOST}  FAILED")
        assert 0 == daemon.stop()

    def test_without_a_daemon_refresh_refreshes_by_itself(
        self, slow_emulator, config_path, tmp_path, write_config
    ):
        """No daemon: the manual run uses its own environment (here: no identity, exit 1)."""
        write_config(slow_emulator, WEST_HOST, refresh=SLOW)

        done = ecrd("refresh", "-c", str(config_path), env=without_credentials(tmp_path))

        assert 1 == done.returncode
        assert 0 == len(slow_emulator.calls(api="ecr"))

    def test_a_bad_configuration_exits_2_without_asking_the_daemon(
        self, start_written, slow_emulator, config_path
    ):
        """The file turned invalid under a running daemon: exit 2, as without one."""
        daemon = start_written(slow_emulator, WEST_HOST, refresh=SLOW)
        bad = config_path.with_name("bad.yaml")
        bad.write_text("registries: [not a host\n")

        done = ecrd("refresh", "-c", str(bad))

        assert 2 == done.returncode
        assert 0 == len(daemon.find("refresh_requested"))
        assert 0 == daemon.stop()


class TestOneDaemonPerConfiguration:
    def test_another_state_directory_does_not_make_a_second_daemon(
        self, start_written, slow_emulator, config_path, tmp_path
    ):
        """A second `ecrd run` with its own STATE_DIRECTORY exits 1: `already running (pid N)`."""
        first = start_written(
            slow_emulator, WEST_HOST, refresh=SLOW, env={"STATE_DIRECTORY": str(tmp_path / "one")}
        )

        second = ecrd(
            "run",
            "-c",
            str(config_path),
            "--log-format",
            "json",
            env={**os.environ, "STATE_DIRECTORY": str(tmp_path / "two")},
        )

        assert 1 == second.returncode
        assert f"Error: already running (pid {first.proc.pid})" in second.stderr
        assert "daemon_started" not in second.stderr
        assert 1 == len(slow_emulator.calls(api="ecr"))
        assert 0 == first.stop()

    def test_a_killed_daemon_leaves_no_lock_behind(
        self, start_written, start_daemon, slow_emulator, config_path
    ):
        """After SIGKILL, the next `ecrd run` starts: the lock died with the process."""
        first = start_written(slow_emulator, WEST_HOST, refresh=SLOW)
        first.stop(signal.SIGKILL)

        second = start_daemon(config_path)

        second.wait_for("daemon_started")
        assert 0 == second.stop()

    def test_a_name_taken_by_another_user_is_not_a_daemon(
        self, write_config, start_daemon, slow_emulator, config_path, outputs, tmp_path
    ):
        """Another uid holding the socket's name: the daemon runs on and says so in its log.

        `ecrd refresh` does not talk to that process: it refreshes by itself.
        """
        if os.geteuid() != 0:
            pytest.skip("needs root to hold the name as another uid")
        write_config(slow_emulator, WEST_HOST, refresh=SLOW)
        name = serving.address(config_path=config_path, state_dir=tmp_path)
        squatter = subprocess.Popen(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-c",
                _SQUAT,
                name.removeprefix("\0"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert squatter.stdout is not None
            assert "bound\n" == squatter.stdout.readline()
            daemon = start_daemon(config_path)
            unavailable = daemon.wait_for("control_unavailable")
            daemon.wait_for("output_written", path=str(outputs.netrc))

            done = ecrd("refresh", "-c", str(config_path))
        finally:
            squatter.kill()
            squatter.wait(timeout=WAIT)
            if squatter.stdout is not None:
                squatter.stdout.close()

        assert "uid 65534" in unavailable["error"]
        assert 0 == done.returncode
        assert 2 == len(slow_emulator.calls(api="ecr"))
        assert 0 == daemon.stop()


class TestWhoServesTheConfiguration:
    def test_status_with_another_state_directory_finds_the_daemon(
        self, write_config, start_daemon, slow_emulator, config_path, outputs, tmp_path
    ):
        """`ecrd status` finds the daemon by its configuration, not by its state directory.

        The daemon runs with STATE_DIRECTORY=A; `ecrd status` on the same configuration with
        STATE_DIRECTORY=B (holding a copy of A's state, whose daemon lock nobody holds) says
        the daemon runs, with its pid, in the table and in the JSON.
        """
        write_config(slow_emulator, WEST_HOST, refresh=SLOW)
        daemon = start_daemon(config_path, env={"STATE_DIRECTORY": str(tmp_path / "a")})
        daemon.wait_for("output_written", path=str(outputs.netrc))
        shutil.copytree(tmp_path / "a", tmp_path / "b")
        elsewhere = {**os.environ, "STATE_DIRECTORY": str(tmp_path / "b")}

        table = ecrd("status", "-c", str(config_path), env=elsewhere)
        document = ecrd("status", "-c", str(config_path), "--output", "json", env=elsewhere)

        assert f"daemon: running (pid {daemon.proc.pid}) for " in table.stdout.splitlines()[0]
        assert {"pid": daemon.proc.pid} == json.loads(document.stdout)["daemon"]
        assert 0 == daemon.stop()

    def test_status_without_a_daemon_says_not_running(self, config_path, tmp_path):
        """No `ecrd run` serves the configuration: the JSON's daemon is null."""
        config_path.write_text("registries: []\n")

        document = ecrd(
            "status",
            "-c",
            str(config_path),
            "--output",
            "json",
            env={**os.environ, "STATE_DIRECTORY": str(tmp_path / "state")},
        )

        assert None is json.loads(document.stdout)["daemon"]


class TestControlSocket:
    def test_the_state_directory_socket_elsewhere_than_linux(self, config_path, monkeypatch):
        """Without an abstract namespace the socket is a file in the 0700 state directory.

        A dead daemon's socket file is replaced; the file goes when the daemon stops.
        """
        # A unix socket's path is short (108 bytes): a state directory of its own.
        short = Path(tempfile.mkdtemp(prefix="ecrd-"))
        monkeypatch.setenv("STATE_DIRECTORY", str(short))
        config_path.write_text("registries: []\n")
        store = StateStore.for_config(config_path)
        store.directory.mkdir(parents=True)
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(str(store.directory / serving.SOCKET_FILE))
        stale.close()

        with control.serve_configuration(
            store=store, config_path=config_path, abstract=False
        ) as listener:
            assert listener is not None
            bound = listener.getsockname()

        assert str(store.directory / serving.SOCKET_FILE) == bound
        assert not (store.directory / serving.SOCKET_FILE).exists()
        shutil.rmtree(short)


class TestRoundOnTheWire:
    """The round the daemon sends `ecrd refresh`: problems as records, old readers served."""

    HOST = HostResult(
        host=WEST_HOST,
        registry_id="111111111111",
        region="us-west-2",
        group="ecr:us-west-2",
        expires_at=datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc),
        refreshed_at=datetime(2026, 11, 28, 0, 0, tzinfo=timezone.utc),
        outputs=("/home/me/.docker/config.json",),
        error="not read",
        failing=True,
    )
    PROBLEMS = (
        Problem(
            host=WEST_HOST, path="/home/me/.docker/config.json", code=NOT_READ, message="not read"
        ),
        Problem(host=None, path="/home/me/.netrc", code=OUTPUT_FAILED, message="cannot write"),
        Problem(host=WEST_HOST, path="/run/auth.json", code=SHADOWED, message="shadowed"),
    )

    def test_records_cross_the_socket_unchanged(self):
        """A round encoded, sent as JSON and decoded has the same hosts and problem records."""
        result = RoundResult(hosts=(self.HOST,), problems=self.PROBLEMS, written=("/a",))

        actual = control.decode_result(json.loads(json.dumps(control.encode_result(result))))

        assert result == actual

    def test_an_earlier_refresh_reads_its_fields(self):
        """An `ecrd refresh` of an earlier version still finds per output errors and warnings."""
        result = RoundResult(hosts=(self.HOST,), problems=self.PROBLEMS, written=())

        encoded = control.encode_result(result)

        assert ({"/home/me/.netrc": "cannot write"}, ["shadowed"], "not read") == (
            encoded["output_errors"],
            encoded["warnings"],
            encoded["hosts"][0]["error"],
        )

    def test_an_earlier_daemon_s_round_is_read_as_records(self):
        """A round without problems: output errors, the unread host and warnings as records."""
        encoded = control.encode_result(
            RoundResult(hosts=(self.HOST,), problems=self.PROBLEMS, written=())
        )
        del encoded["problems"]

        actual = control.decode_result(encoded).problems

        assert (
            Problem(host=WEST_HOST, path=None, code=NOT_READ, message="not read"),
            Problem(host=None, path="/home/me/.netrc", code=OUTPUT_FAILED, message="cannot write"),
            Problem(host=None, path=None, code=WARNING, message="shadowed"),
        ) == actual

    def test_a_code_this_ecrd_does_not_know_is_a_warning(self):
        """A later daemon's new code is read as a warning, its message kept."""
        encoded = control.encode_result(RoundResult(hosts=(), problems=(), written=()))
        encoded["problems"] = [{"host": None, "path": "/p", "code": "Brand-new", "message": "m"}]

        actual = control.decode_result(encoded).problems

        assert (Problem(host=None, path="/p", code=WARNING, message="m"),) == actual
