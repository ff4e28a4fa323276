"""Refresh rounds with credential helpers and the tokens file, with a fake token source."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from ecrd.config.model import Config, OutputSpec, Registry
from ecrd.problems import NOT_ERASED, NOT_READ, with_code
from ecrd.refresh_round import run_round
from ecrd.state import TOKENS_FILE, StateStore
from tests.credstore.fakes import FakeHelper, shell_helper
from tests.fakes import FakeTokenSource

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
WEST = Registry(
    registry_id="111111111111",
    region="us-west-2",
    hosts=("111111111111.dkr.ecr.us-west-2.amazonaws.com",),
)
EAST = Registry(
    registry_id="222222222222",
    region="us-east-1",
    hosts=("222222222222.dkr.ecr.us-east-1.amazonaws.com",),
)


@pytest.fixture
def docker(tmp_path: Path) -> Path:
    return tmp_path / "docker" / "config.json"


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def refresh(docker: Path, state_dir: Path, source: FakeTokenSource, *registries: Registry):
    config = Config(
        path=docker.parent / "ecrd.yaml",
        outputs=(OutputSpec(type="docker", path=docker),),
        registries=registries,
    )
    return run_round(config=config, source=source, store=StateStore(state_dir), now=lambda: NOW)


def docker_config(docker: Path, document: object) -> None:
    docker.parent.mkdir(parents=True, exist_ok=True)
    docker.write_text(json.dumps(document))
    docker.chmod(0o600)  # as docker leaves it: a file others can read is warned about


def tokens(state_dir: Path) -> dict[str, dict[str, str]]:
    hosts: dict[str, dict[str, str]] = json.loads((state_dir / TOKENS_FILE).read_text())["hosts"]
    return hosts


class TestRoundWithHelpers:
    def test_one_store_per_host_per_new_token_and_none_when_unchanged(
        self, docker, state_dir, bin_dir
    ):
        """Across rounds: a store per host per new token; the same token costs only a list."""
        fake = FakeHelper(bin_dir, "fake")
        docker_config(docker, {"credsStore": "fake"})
        source = FakeTokenSource(clock=lambda: NOW)

        refresh(docker, state_dir, source, WEST, EAST)
        first = fake.calls()
        fake.forget_calls()
        refresh(docker, state_dir, source, WEST, EAST)
        second = fake.calls()
        fake.forget_calls()
        source.generation = 1
        refresh(docker, state_dir, source, WEST, EAST)
        third = fake.calls()

        assert [("store", WEST.hosts[0]), ("store", EAST.hosts[0])] == first
        assert [("list", "")] == second
        assert [("store", WEST.hosts[0]), ("store", EAST.hosts[0])] == third
        assert ("AWS", source.password("us-east-1")) == fake.entries()[EAST.hosts[0]]
        assert {"credsStore": "fake"} == json.loads(docker.read_text())

    def test_state_records_helper_entries_and_outputs(self, docker, state_dir, bin_dir):
        """The docker file's owned map records the helper; the host lists the docker file."""
        FakeHelper(bin_dir, "fake")
        docker_config(docker, {"credHelpers": {WEST.hosts[0]: "fake"}})

        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST)

        state = StateStore(state_dir).read()
        assert state is not None
        (entry,) = state.owned[str(docker)].entries.values()
        assert entry.startswith("docker-credential-fake:")
        assert [str(docker)] == state.hosts[WEST.hosts[0]].outputs

    def test_removed_registry_is_erased_from_the_helper(self, docker, state_dir, bin_dir):
        """A registry leaving the configuration is erased from the helper; others stay."""
        fake = FakeHelper(bin_dir, "fake")
        fake.put("ghcr.io", "me", "mine")
        docker_config(docker, {"credsStore": "fake"})
        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST, EAST)

        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST)

        assert {"ghcr.io", WEST.hosts[0]} == set(fake.entries())
        state = StateStore(state_dir).read()
        assert state is not None
        assert [WEST.hosts[0]] == list(state.owned[str(docker)].entries)

    def test_erase_that_fails_is_retried_at_the_next_round(self, docker, state_dir, bin_dir):
        """While the helper is missing ecrd keeps the entry; once it is back, it is erased."""
        fake = FakeHelper(bin_dir, "fake")
        docker_config(docker, {"credsStore": "fake"})
        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST, EAST)
        fake.program.rename(bin_dir / "hidden")

        failed = refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST)
        (bin_dir / "hidden").rename(fake.program)
        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST)

        (erase,) = with_code(failed.problems, NOT_ERASED)
        assert (EAST.hosts[0], True) == (
            erase.host,
            erase.message.startswith(f"{EAST.hosts[0]} left ecrd's configuration"),
        )
        assert [WEST.hosts[0]] == list(fake.entries())

    def test_a_store_that_refuses_fails_the_host_until_the_round_that_works(
        self, docker, state_dir, bin_dir
    ):
        """A missing helper named in credHelpers fails the host (once, as its error) until fixed.

        Docker asks that helper, not auths, for the host: the login ecrd wrote into auths
        instead is not read, so the round is not ok and the host is failing, with one
        message and no warning repeating it.
        """
        docker_config(docker, {"credHelpers": {WEST.hosts[0]: "fake"}})

        with capture_logs() as events:
            result = refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST, EAST)
        broken = StateStore(state_dir).read()
        FakeHelper(bin_dir, "fake")
        healed = refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST, EAST)
        fixed = StateStore(state_dir).read()

        assert broken is not None
        assert fixed is not None
        assert not result.ok
        (west,) = [h for h in result.hosts if h.failing]
        assert west.host == WEST.hosts[0]
        assert (west.error or "").startswith(
            f"{WEST.hosts[0]}: ecrd could not store the credentials through docker-credential-fake"
        )
        assert [(west.host, str(docker), NOT_READ, west.error)] == [
            (p.host, p.path, p.code, p.message) for p in result.problems
        ]
        assert (west.error, "NotRead", []) == (
            broken.hosts[WEST.hosts[0]].last_error,
            broken.hosts[WEST.hosts[0]].error_code,
            broken.hosts[WEST.hosts[0]].warnings,
        )
        assert None is broken.hosts[EAST.hosts[0]].last_error
        assert healed.ok
        assert None is fixed.hosts[WEST.hosts[0]].last_error
        not_stored = [e for e in events if e["event"] == "credentials_not_stored"]
        assert [WEST.hosts[0]] == [e["host"] for e in not_stored]

    def test_a_broken_credsstore_fails_every_host_it_hides(self, docker, state_dir, bin_dir):
        """A credsStore that fails every call makes each host it hides from docker failing."""
        shell_helper(bin_dir, "broken", 'echo "pass not initialized" ; exit 1')
        docker_config(docker, {"credsStore": "broken"})

        result = refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST, EAST)

        assert not result.ok
        assert {WEST.hosts[0]: True, EAST.hosts[0]: True} == {
            h.host: h.failing for h in result.hosts
        }
        assert all("docker-credential-broken store failed" in (h.error or "") for h in result.hosts)

    def test_no_secret_in_any_log_event_or_state(self, docker, state_dir, bin_dir):
        """Stores through a helper log no password; the state file holds fingerprints only."""
        FakeHelper(bin_dir, "fake")
        docker_config(docker, {"credsStore": "fake"})
        source = FakeTokenSource(clock=lambda: NOW)

        with capture_logs() as events:
            refresh(docker, state_dir, source, WEST)

        password = source.password("us-west-2")
        assert "credentials_stored" in {e["event"] for e in events}
        assert password[:20] not in repr(events)
        assert password[:20] not in (state_dir / "state.json").read_text()


SERVED = {"credHelpers": {WEST.hosts[0]: "ecrd", EAST.hosts[0]: "ecrd"}}


class TestTokensFile:
    def test_every_managed_host_is_written_0600_whatever_the_outputs(self, docker, state_dir):
        """tokens.json holds every managed host's login, in `auths` or sent to a helper alike."""
        docker_config(docker, {"credHelpers": {WEST.hosts[0]: "ecrd"}})
        source = FakeTokenSource(clock=lambda: NOW)

        refresh(docker, state_dir, source, WEST, EAST)

        expiry = (NOW + timedelta(hours=12)).timestamp()
        assert {
            registry.hosts[0]: {
                "username": "AWS",
                "secret": source.password(registry.region),
                "expires_at": expiry,
                "refresh_at": None,
            }
            for registry in (WEST, EAST)
        } == tokens(state_dir)
        assert (0o600, 0o700) == (
            stat.S_IMODE((state_dir / TOKENS_FILE).stat().st_mode),
            stat.S_IMODE(state_dir.stat().st_mode),
        )

    def test_written_with_docker_auths_only_and_removed_when_no_host_is_left(
        self, docker, state_dir
    ):
        """The default docker output (no helper named) gets a tokens file; no host, no file."""
        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST)
        present = [*tokens(state_dir)]

        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW))

        assert ([WEST.hosts[0]], False) == (present, (state_dir / TOKENS_FILE).exists())

    def test_a_failing_group_keeps_its_last_token(self, docker, state_dir):
        """A group that fails this round keeps its entry; the others get their new token."""
        docker_config(docker, SERVED)
        source = FakeTokenSource(clock=lambda: NOW)
        refresh(docker, state_dir, source, WEST, EAST)
        source.generation, source.failing = 1, {"us-east-1"}

        refresh(docker, state_dir, source, WEST, EAST)

        written = tokens(state_dir)
        assert source.password("us-west-2") == written[WEST.hosts[0]]["secret"]
        assert "pw-us-east-1-0-" + "x" * 2100 == written[EAST.hosts[0]]["secret"]

    def test_hosts_no_longer_configured_are_dropped(self, docker, state_dir):
        """A registry that leaves the configuration leaves the tokens file."""
        docker_config(docker, SERVED)
        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST, EAST)

        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST)

        assert [WEST.hosts[0]] == list(tokens(state_dir))

    def test_expired_tokens_are_not_kept(self, docker, state_dir):
        """An entry whose token has expired by the round's time is dropped (so is the file)."""
        docker_config(docker, SERVED)
        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST, EAST)

        refresh(
            docker,
            state_dir,
            FakeTokenSource(clock=lambda: NOW, lifetime=timedelta(seconds=-1)),
            WEST,
            EAST,
        )

        assert not (state_dir / TOKENS_FILE).exists()

    def test_damaged_tokens_file_is_moved_aside_and_replaced(self, docker, state_dir):
        """A tokens file that is not JSON is moved aside (logged) and written anew."""
        docker_config(docker, SERVED)
        state_dir.mkdir()
        (state_dir / TOKENS_FILE).write_text("{not json")

        with capture_logs() as events:
            refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST)

        (aside,) = state_dir.glob(f"{TOKENS_FILE}.corrupt-*")
        assert "{not json" == aside.read_text()
        assert [str(state_dir / TOKENS_FILE)] == [
            e["path"] for e in events if e["event"] == "state_corrupt"
        ]
        assert [WEST.hosts[0]] == list(tokens(state_dir))

    def test_unchanged_tokens_file_is_not_rewritten(self, docker, state_dir):
        """The same tokens again leave the file as it was (same inode)."""
        docker_config(docker, SERVED)
        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST)
        before = (state_dir / TOKENS_FILE).stat().st_ino

        refresh(docker, state_dir, FakeTokenSource(clock=lambda: NOW), WEST)

        assert before == (state_dir / TOKENS_FILE).stat().st_ino
