"""The state directory: one per configuration, corrupt files moved aside, the daemon lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from ecrd import paths
from ecrd.errors import AlreadyRunningError, FileError, StateError
from ecrd.secret import Credentials, Secret
from ecrd.state import TOKENS_FILE, HostState, StateStore

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
HOST = "111111111111.dkr.ecr.us-west-2.amazonaws.com"
VALID = json.dumps({"version": 2, "hosts": {}, "owned": {}, "config_error": None}).encode()
CORRUPT = {
    "empty": b"",
    "truncated": VALID[: len(VALID) // 2],
    "garbage": b"\x00\xffPK\x03\x04 not json at all",
    "a list": b"[]\n",
    "hosts of the wrong type": b'{"version": 2, "hosts": [], "owned": {}}',
    "no version": b'{"hosts": {}, "owned": {}}',
    "a host without its name": b'{"version": 2, "hosts": {"h": {"region": "x"}}}',
}


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state", config=tmp_path / "ecrd.yaml")


def save_host(store: StateStore) -> None:
    with store.transaction() as state:
        state.hosts[HOST] = HostState(
            host=HOST, registry_id="111111111111", region="us-west-2", group="ecr:us-west-2"
        )


class TestPerConfiguration:
    def test_each_configuration_has_its_own_directory_recording_its_path(self, tmp_path):
        """for_config: ROOT/configs/<stem>-<digest>; the state names its configuration."""
        env = {"XDG_STATE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
        first = StateStore.for_config(tmp_path / "a" / "config.yaml", env=env)
        second = StateStore.for_config(tmp_path / "ci.yaml", env=env)

        save_host(first)

        root = str(tmp_path / "xdg" / "ecrd")
        assert Path(paths.config_state_dir(root=root, config=str(tmp_path / "ci.yaml"))) == (
            second.directory
        )
        assert first.directory != second.directory
        assert str(tmp_path / "a" / "config.yaml") == json.loads(first.path.read_text())["config"]
        assert None is second.read()

    def test_legacy_root_state_moves_once_into_the_default_configuration(self, tmp_path):
        """An older ecrd's ROOT/state.json and tokens.json move to the default config's dir."""
        default = tmp_path / "default.yaml"
        env = {"XDG_STATE_HOME": str(tmp_path / "xdg"), "ECRD_CONFIG": str(default)}
        root = tmp_path / "xdg" / "ecrd"
        root.mkdir(parents=True)
        (root / "state.json").write_bytes(VALID)
        (root / TOKENS_FILE).write_text('{"version": 1, "hosts": {}}')

        with capture_logs() as events:
            other = StateStore.for_config(tmp_path / "ci.yaml", env=env)
            adopted = StateStore.for_config(default, env=env)
            again = StateStore.for_config(default, env=env)

        assert not other.directory.exists()
        assert (VALID, False) == (adopted.path.read_bytes(), (root / "state.json").exists())
        assert (adopted.directory / TOKENS_FILE).exists()
        assert [str(adopted.directory)] == [
            e["path"] for e in events if e["event"] == "state_migrated"
        ]
        assert again.directory == adopted.directory

    def test_status_finds_the_only_configuration_when_its_own_has_none(self, tmp_path):
        """for_user: no state for the default file, one other configuration's: that one."""
        env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
        unit = StateStore.for_config(tmp_path / "jenkins.yaml", env=env)
        save_host(unit)

        found = StateStore.for_user(tmp_path / "config.yaml", env=env)
        save_host(StateStore.for_config(tmp_path / "ci.yaml", env=env))
        ambiguous = StateStore.for_user(tmp_path / "config.yaml", env=env)

        assert (unit.directory, tmp_path / "jenkins.yaml") == (found.directory, found.config)
        assert ambiguous.directory != unit.directory


class TestCorruptState:
    @pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
    def test_moved_aside_logged_and_read_as_no_state(self, store, content):
        """A state.json that is not what ecrd wrote: moved aside whole, logged, no state."""
        store.directory.mkdir()
        store.path.write_bytes(content)

        with capture_logs() as events:
            state = store.read()

        (aside,) = store.directory.glob("state.json.corrupt-*")
        assert None is state
        assert content == aside.read_bytes()
        assert not store.path.exists()
        assert [(str(store.path), str(aside))] == [
            (e["path"], e["moved_to"]) for e in events if e["event"] == "state_corrupt"
        ]

    @pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
    def test_a_transaction_starts_afresh(self, store, content):
        """A round on a corrupt state.json saves a new one beside the moved-aside file."""
        store.directory.mkdir()
        store.path.write_bytes(content)

        save_host(store)

        state = store.read()
        assert state is not None
        assert [HOST] == list(state.hosts)
        assert 1 == len(list(store.directory.glob("state.json.corrupt-*")))

    @pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
    def test_a_corrupt_tokens_file_is_moved_aside(self, store, content):
        """tokens.json likewise: moved aside, then written anew with the round's tokens."""
        store.directory.mkdir()
        (store.directory / TOKENS_FILE).write_bytes(content)
        login = Credentials(
            username="AWS", password=Secret("pw"), expires_at=NOW + timedelta(hours=1)
        )

        with store.transaction():
            store.tokens.write(tokens={HOST: login}, keep=(), now=NOW)

        (aside,) = store.directory.glob(f"{TOKENS_FILE}.corrupt-*")
        assert content == aside.read_bytes()
        assert [HOST] == list(json.loads((store.directory / TOKENS_FILE).read_text())["hosts"])

    def test_a_save_that_finds_the_file_changed_is_an_error(self, store):
        """A program writing state.json inside ecrd's lock: the save refuses, and says so."""
        save_host(store)

        with (  # noqa: PT012
            pytest.raises(StateError, match="changed while ecrd held its lock"),
            store.transaction() as state,
        ):
            store.path.write_bytes(VALID)  # another program, which takes no lock
            state.config_error = "x"

        assert VALID == store.path.read_bytes()


class TestFileErrors:
    def test_a_state_file_the_file_layer_refuses_is_a_state_error(self, store):
        """state.json as a directory: StateError with the file layer's message, its cause kept."""
        store.path.mkdir(parents=True)

        with pytest.raises(StateError) as caught:
            store.read()

        cause = caught.value.__cause__
        assert isinstance(cause, FileError)
        assert (str(cause), store.path, "not_regular") == (
            str(caught.value),
            cause.path,
            cause.code,
        )

    def test_a_tokens_file_the_file_layer_refuses_is_a_state_error(self, store):
        """tokens.json as a directory: writing the round's tokens raises StateError."""
        store.tokens.path.mkdir(parents=True)
        login = Credentials(
            username="AWS", password=Secret("pw"), expires_at=NOW + timedelta(hours=1)
        )

        with pytest.raises(StateError, match="it is a directory"), store.transaction():
            store.tokens.write(tokens={HOST: login}, keep=(), now=NOW)


class TestTokensExpiries:
    def test_each_host_with_its_expiry_and_nothing_for_an_unreadable_file(self, store):
        """expiries(): host -> expiry as written; a corrupt file or none gives no host."""
        expires_at = NOW + timedelta(hours=1)
        login = Credentials(username="AWS", password=Secret("pw"), expires_at=expires_at)
        missing = store.tokens.expiries()
        with store.transaction():
            store.tokens.write(tokens={HOST: login}, keep=(), now=NOW)
        written = store.tokens.expiries()
        store.tokens.path.write_text("{")

        assert [{}, {HOST: expires_at}, {}] == [missing, written, store.tokens.expiries()]


class TestSchedule:
    def test_next_refresh_goes_into_the_state_and_the_tokens_file(self, store):
        """record_schedule: HostState.next_refresh_at and the tokens' refresh_at."""
        save_host(store)
        login = Credentials(
            username="AWS", password=Secret("pw"), expires_at=NOW + timedelta(hours=12)
        )
        with store.transaction():
            store.tokens.write(tokens={HOST: login}, keep=(), now=NOW)
        when = NOW + timedelta(hours=6)

        store.record_schedule(next_refresh={HOST: when, "unknown.example": None})

        state = store.read()
        assert state is not None
        assert when == state.hosts[HOST].next_refresh_at
        entry = json.loads((store.directory / TOKENS_FILE).read_text())["hosts"][HOST]
        assert when.timestamp() == entry["refresh_at"]


HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ecrd.state import StateStore

    with StateStore(Path(sys.argv[1])).daemon_lock.hold():
        print("held", flush=True)
        sys.stdin.read()
    """
)


class TestDaemonLock:
    def test_a_second_holder_is_refused_with_the_first_ones_pid(self, store):
        """Another process holds the lock: AlreadyRunningError names its pid; then it is free."""
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(store.directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert "held\n" == holder.stdout.readline()
            running = store.daemon_lock.holder()
            with pytest.raises(AlreadyRunningError) as refused:  # noqa: SIM117
                with store.daemon_lock.hold():
                    pass
        finally:
            holder.communicate("")

        assert holder.pid == running
        assert str(refused.value).startswith(f"already running (pid {holder.pid}) for ")
        assert 1 == refused.value.exit_code
        assert None is store.daemon_lock.holder()
        with store.daemon_lock.hold():
            assert os.getpid() == store.daemon_lock.holder()

    def test_holding_it_twice_in_one_process_is_not_a_deadlock(self, store):
        """The daemon and its command may both take it: the inner hold is a no-op."""
        with store.daemon_lock.hold(), store.daemon_lock.hold():
            held = store.daemon_lock.holder()

        assert (os.getpid(), None) == (held, store.daemon_lock.holder())
