"""Faults met at start by a real `ecrd run`: a full state file system, an odd configuration.

The full file system is a small tmpfs mounted, and filled, in a private mount namespace
(``unshare -m``) just before ``ecrd run`` starts in it; the test reaches it through
``/proc/PID/root``, which shows the daemon's mounts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.daemon.conftest import (
    EU_HOST,
    SLOW,
    STOP_SECONDS,
    WAIT,
    WEST_HOST,
    holding,
)
from tests.process import ecrd

needs_mounts = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare(1) to mount a small tmpfs in a private mount namespace",
)

# Mounts a 64 KiB tmpfs at $STATE_DIRECTORY, fills it, then becomes `ecrd run` (same pid).
FULL_STATE = (
    'mount -t tmpfs -o size=64k tmpfs "$STATE_DIRECTORY" || exit 99\n'
    'dd if=/dev/zero of="$STATE_DIRECTORY/filler" bs=4k 2>/dev/null\n'
    'exec "$@"\n'
)


@needs_mounts
class TestFullStateFileSystem:
    def test_ecrd_run_starts_writes_the_outputs_and_saves_the_state_once_space_is_back(
        self, tmp_path, write_config, start_daemon, slow_emulator, config_path, outputs
    ):
        """A full state file system at start: the outputs are written, the daemon runs on.

        It says in its log that the state cannot be written, makes one call (no retry
        loop), saves the state once space is back, and stops on SIGTERM with exit 0.
        """
        state = tmp_path / "state"
        state.mkdir()
        write_config(slow_emulator, WEST_HOST, refresh=SLOW)
        daemon = start_daemon(
            config_path,
            env={"STATE_DIRECTORY": str(state)},
            prefix=["unshare", "-m", "--propagation", "private", "sh", "-c", FULL_STATE, "sh"],
        )
        daemon.wait_for("output_written", path=str(outputs.docker))
        # The first is the start's; the second follows the round: the token's refresh, far
        # ahead, not a retry of a round that could not save its state.
        after_round = daemon.wait_for("refresh_scheduled", count=2, where=holding(WEST_HOST))
        if daemon.proc.poll() == 99:
            pytest.skip("no tmpfs mount in a private mount namespace here")
        seen = Path(f"/proc/{daemon.proc.pid}/root{state}")
        unsaved = [
            e for e in daemon.find("state_failed") if "no space left on device" in e["error"]
        ]

        assert [WEST_HOST] == list(outputs.auths())
        assert None is daemon.proc.poll()
        assert (True, [], 1) == (
            bool(unsaved),
            daemon.find("round_failed"),
            len(slow_emulator.calls(api="ecr")),
        )
        assert timedelta(minutes=10) < datetime.fromisoformat(after_round["at"]) - datetime.now(
            timezone.utc
        )
        assert [] == list(seen.glob("configs/*/state.json"))

        (seen / "filler").unlink()
        mark = daemon.mark()
        write_config(slow_emulator, WEST_HOST, EU_HOST, refresh=SLOW)
        # Scheduled by the reload, then again after its round (outputs and state written).
        daemon.wait_for("refresh_scheduled", since=mark, count=2, where=holding(EU_HOST))
        saved = json.loads(next(seen.glob("configs/*/state.json")).read_text())
        tokens = json.loads(next(seen.glob("configs/*/tokens.json")).read_text())

        # The first round's login too, though its own group was not fetched again.
        assert {WEST_HOST, EU_HOST} == set(saved["hosts"])
        assert None is not saved["hosts"][WEST_HOST].get("expires_at")
        assert {WEST_HOST, EU_HOST} == set(tokens["hosts"])
        assert 0 == daemon.stop()

    def test_a_restart_on_a_full_state_file_system_still_records_the_daemons_pid(self, tmp_path):
        """A daemon restarted once the state file system is full still tells its pid.

        The lock keeps the bytes the last daemon wrote its pid in, so the next one writes
        over them without needing free space.
        """
        script = r"""
import json, os, subprocess, sys
from pathlib import Path
from ecrd.state import StateStore
directory = Path(sys.argv[1])
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory)], check=True)
store = StateStore(directory / "configs" / "c")
with store.daemon_lock.hold():
    pass
subprocess.run(f"dd if=/dev/zero of={directory}/filler bs=4k 2>/dev/null", shell=True)
with store.daemon_lock.hold():
    print(json.dumps([os.getpid(), store.daemon_lock.holder(), os.statvfs(directory).f_bavail]))
"""
        state = tmp_path / "state"
        state.mkdir()
        proc = subprocess.run(
            ["unshare", "-m", "--propagation", "private", sys.executable, "-c", script, str(state)],
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        )
        if proc.returncode != 0 and "mount" in proc.stderr:
            pytest.skip(f"no tmpfs mount in a private mount namespace here: {proc.stderr}")

        pid, recorded, free = json.loads(proc.stdout)

        assert (pid, 0, "") == (recorded, free, proc.stderr)


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _link_to_dev_zero(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


# How to make the odd file, and what ecrd calls it.
ODD_FILES = [
    pytest.param((_fifo, "a named pipe (FIFO)"), id="fifo"),
    pytest.param((_link_to_dev_zero, "a character device"), id="link-to-dev-zero"),
]


class TestConfigurationNotARegularFile:
    @pytest.mark.parametrize("odd", ODD_FILES)
    def test_swapped_in_while_running_it_is_rejected_and_a_stop_stays_prompt(
        self, odd, start_written, slow_emulator, config_path, outputs
    ):
        """A FIFO or a link to /dev/zero renamed over the configuration: config_rejected.

        The daemon neither blocks opening it nor reads it; SIGTERM still ends it with exit
        0 within two seconds.
        """
        daemon = start_written(slow_emulator, WEST_HOST, refresh=SLOW, written=outputs.docker)
        mark = daemon.mark()
        make, kind = odd

        make(config_path.with_name("odd")).rename(config_path)
        rejected = daemon.wait_for("config_rejected", since=mark)

        expected = (
            f"{config_path}: cannot read the configuration: it is {kind}, not a regular file;"
            " ecrd did not open it: name the YAML file itself with -c PATH (or ECRD_CONFIG)"
        )
        assert [expected] == rejected["errors"]
        assert 0 == daemon.stop(signal.SIGTERM, timeout=STOP_SECONDS)

    @pytest.mark.parametrize("odd", ODD_FILES)
    @pytest.mark.parametrize("command", ["run", "refresh", "check-config"])
    def test_at_start_it_is_a_configuration_error(self, odd, command, config_path):
        """`run`, `refresh` and `check-config` on a FIFO or a link to /dev/zero: exit 2 at once."""
        make, kind = odd
        make(config_path)

        proc = ecrd(command, "-c", str(config_path), timeout=WAIT)

        assert (2, f"it is {kind}, not a regular file") == (
            proc.returncode,
            proc.stderr.partition("configuration: ")[2].partition(";")[0],
        )
        assert "Traceback" not in proc.stderr
