"""`ecrd refresh` and `ecrd status` as processes, with tokens from the loopback emulator.

Several configurations on one HOME, a corrupt state, a credential store that refuses, and
the pid of a daemon.
"""

from __future__ import annotations

import base64
import json
import netrc
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.credstore.fakes import shell_helper
from tests.process import ecrd

if TYPE_CHECKING:
    from pathlib import Path

    from ecrd.emulator.server import Emulator

MINE = "111111111111.dkr.ecr.us-west-2.amazonaws.com"
THEIRS = "222222222222.dkr.ecr.eu-west-1.amazonaws.com"
SHARED = "333333333333.dkr.ecr.us-west-2.amazonaws.com"


def write_config(path: Path, emulator: Emulator, *hosts: str) -> Path:
    home = os.environ["HOME"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"aws: {{endpoint_url: {emulator.url}}}\n"
        f"outputs:\n  - {{type: docker, path: {home}/.docker/config.json}}\n"
        f"  - {{type: netrc, path: {home}/.netrc}}\n"
        "registries:" + "".join(f"\n  - {h}" for h in hosts) + (" []" if not hosts else "") + "\n"
    )
    return path


def docker_hosts(home: Path) -> set[str]:
    return set(json.loads((home / ".docker" / "config.json").read_text())["auths"])


def netrc_hosts(home: Path) -> set[str]:
    return set(netrc.netrc(str(home / ".netrc")).hosts)


def status_hosts(*args: str) -> list[str]:
    done = ecrd("status", "--output", "json", *args)
    return [h["host"] for h in json.loads(done.stdout)["hosts"]]


@pytest.fixture
def default_config(isolated_env: Path) -> Path:
    return isolated_env / ".config" / "ecrd" / "config.yaml"


class TestTwoConfigurations:
    def test_each_keeps_its_own_state_and_neither_removes_the_others_entries(
        self, emulator, isolated_env, default_config, tmp_path
    ):
        """Default and ci.yaml on one HOME: both configurations' entries survive each refresh.

        Each status lists only its own hosts; a host both manage stays while either still
        manages it (both own it); a configuration emptied removes only what it alone wrote.
        """
        write_config(default_config, emulator, MINE, SHARED)
        ci = write_config(tmp_path / "ci.yaml", emulator, THEIRS, SHARED)

        runs = [ecrd("refresh"), ecrd("refresh", "-c", str(ci)), ecrd("refresh")]
        both = (docker_hosts(isolated_env), netrc_hosts(isolated_env))
        mine, theirs = status_hosts(), status_hosts("-c", str(ci))
        write_config(ci, emulator, THEIRS)
        dropped_shared = ecrd("refresh", "-c", str(ci))
        after_drop = (docker_hosts(isolated_env), netrc_hosts(isolated_env))
        write_config(ci, emulator)
        emptied = ecrd("refresh", "-c", str(ci))

        assert [0, 0, 0] == [r.returncode for r in runs], [r.stderr for r in runs]
        everything = {MINE, THEIRS, SHARED}
        assert (everything, everything) == both
        assert ([MINE, SHARED], [THEIRS, SHARED]) == (mine, theirs)
        assert (0, (everything, everything)) == (dropped_shared.returncode, after_drop)
        assert 0 == emptied.returncode
        assert {MINE, SHARED} == docker_hosts(isolated_env) == netrc_hosts(isolated_env)
        assert [MINE, SHARED] == status_hosts()


class TestCorruptStateProcess:
    def test_refresh_after_a_truncated_state_file_exits_0(self, emulator, default_config):
        """A state.json cut in half (a power cut): ecrd refresh moves it aside and succeeds."""
        write_config(default_config, emulator, MINE)
        assert 0 == ecrd("refresh").returncode
        (state_dir,) = (p.parent for p in default_config.parents[2].glob("**/state.json"))
        state = state_dir / "state.json"
        state.write_bytes(state.read_bytes()[:37])

        done = ecrd("refresh")
        status = ecrd("status", "--output", "json")

        assert 0 == done.returncode, done.stderr
        assert 1 == len(list(state_dir.glob("state.json.corrupt-*")))
        assert '"event": "state_corrupt"' in done.stderr
        assert [MINE] == [h["host"] for h in json.loads(status.stdout)["hosts"]]


class TestBrokenCredentialStore:
    def test_refresh_and_status_exit_1_when_docker_cannot_read_the_login(
        self, emulator, isolated_env, default_config, tmp_path, monkeypatch
    ):
        """A credsStore that fails: auths gets the login, but docker reads the store.

        Refresh exits 1 and says so once (no per-host paragraph, no log line repeating it);
        status exits 1 and shows the host failing.
        """
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        shell_helper(bin_dir, "pass", 'echo "pass not initialized"; exit 1')
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        (isolated_env / ".docker").mkdir()
        (isolated_env / ".docker" / "config.json").write_text('{"credsStore": "pass"}')
        write_config(default_config, emulator, MINE)

        done = ecrd("refresh")
        status = ecrd("status", "--output", "json")

        assert 1 == done.returncode
        errors = [line for line in done.stderr.splitlines() if "docker-credential-pass" in line]
        assert 1 == len(errors), done.stderr
        assert errors[0].startswith("Error: ")
        assert done.stdout.rstrip().endswith("FAILING")
        (host,) = json.loads(status.stdout)["hosts"]
        assert (1, True, "NotRead") == (status.returncode, host["failing"], host["error_code"])
        auth = json.loads((isolated_env / ".docker" / "config.json").read_text())["auths"][MINE]
        assert base64.b64decode(auth["auth"]).startswith(b"AWS:")


HOLD_AND_SCHEDULE = """
import sys, datetime as d
from pathlib import Path
from ecrd.state import StateStore
store = StateStore.for_config(Path(sys.argv[1]))
with store.daemon_lock.hold():
    when = d.datetime.now(d.timezone.utc) + d.timedelta(hours=6)
    store.record_schedule(next_refresh={{"{host}": when}})
    print("held", flush=True)
    sys.stdin.read()
"""


class TestStatusProcess:
    @pytest.mark.usefixtures("default_config")
    def test_no_state_json_is_valid_and_exits_2(self):
        """Before any refresh `status --output json` still prints JSON, and exits 2."""
        done = ecrd("status", "--output", "json")

        assert 2 == done.returncode
        assert [] == json.loads(done.stdout)["hosts"]
        assert None is json.loads(done.stdout)["daemon"]

    def test_the_daemon_holding_the_lock_is_named_with_its_next_refresh(
        self, emulator, default_config
    ):
        """A process holding the configuration's daemon lock: its pid, and next refresh shown."""
        write_config(default_config, emulator, MINE)
        assert 0 == ecrd("refresh").returncode
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                HOLD_AND_SCHEDULE.format(host=MINE),
                str(default_config),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert "held\n" == holder.stdout.readline()
            table = ecrd("status")
            document = json.loads(ecrd("status", "--output", "json").stdout)
        finally:
            holder.communicate("")
        stopped = json.loads(ecrd("status", "--output", "json").stdout)

        lines = table.stdout.splitlines()
        assert f"daemon: running (pid {holder.pid}) for ~/.config/ecrd/config.yaml" == lines[0]
        assert "in 5h59m" in lines[2]
        assert {"pid": holder.pid} == document["daemon"]
        assert document["hosts"][0]["next_refresh_at"] is not None
        assert (None, None) == (stopped["daemon"], stopped["hosts"][0]["next_refresh_at"])
        assert all(len(line) <= 120 for line in lines)
