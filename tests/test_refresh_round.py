"""One refresh round with a fake token source and the real output writers."""

from __future__ import annotations

import base64
import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from ecrd import files as _atomic
from ecrd.config.model import Config, OutputSpec, Registry
from ecrd.errors import TokenError
from ecrd.problems import OUTPUT_FAILED, SHADOWED, messages
from ecrd.refresh_round import apply_round, run_round
from ecrd.state import StateStore
from tests.fakes import FakeTokenSource

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
WEST = Registry(
    registry_id="111111111111",
    region="us-west-2",
    hosts=("111111111111.dkr.ecr.us-west-2.amazonaws.com", "registry.example.internal:5000"),
)
EAST = Registry(
    registry_id="222222222222",
    region="us-east-1",
    hosts=("222222222222.dkr.ecr.us-east-1.amazonaws.com",),
)


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    return {
        "docker": tmp_path / "docker" / "config.json",
        "netrc": tmp_path / "netrc",
        "state": tmp_path / "state",
    }


def make_config(
    paths: dict[str, Path], *registries: Registry, outputs: tuple[str, ...] = ("docker", "netrc")
) -> Config:
    return Config(
        path=paths["state"].parent / "config.yaml",
        outputs=tuple(OutputSpec(type=t, path=paths[t]) for t in outputs),  # type: ignore[arg-type]
        registries=registries,
    )


def auths(path: Path) -> dict[str, str]:
    document = json.loads(path.read_text())
    return {h: base64.b64decode(e["auth"]).decode() for h, e in document["auths"].items()}


def refresh(paths, source, *registries, outputs=("docker", "netrc")):
    config = make_config(paths, *registries, outputs=outputs)
    return run_round(
        config=config, source=source, store=StateStore(paths["state"]), now=lambda: NOW
    )


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file replacement, by path."""
    done: list[str] = []
    real = _atomic.replace_file

    def counting(path, data, **kwargs):
        done.append(str(path))
        return real(path, data, **kwargs)

    # Outputs and state write through ecrd.files.update_file, which calls this name.
    monkeypatch.setattr(_atomic, "replace_file", counting)
    return done


class TestRound:
    def test_every_host_and_alias_reaches_every_output(self, paths):
        """Each host of each group, aliases included, lands in docker's file and the netrc."""
        fake = FakeTokenSource(clock=lambda: NOW)

        result = refresh(paths, fake, WEST, EAST)

        assert result.ok
        west = f"AWS:{fake.password('us-west-2')}"
        assert {
            WEST.hosts[0]: west,
            WEST.hosts[1]: west,
            EAST.hosts[0]: f"AWS:{fake.password('us-east-1')}",
        } == auths(paths["docker"])
        netrc = paths["netrc"].read_text()
        assert "machine registry.example.internal\nlogin AWS\npassword " in netrc
        assert ["ecr:us-west-2", "ecr:us-east-1"] == fake.calls

    def test_one_write_per_output_and_none_when_unchanged(self, paths, writes):
        """Two groups cost one write per output; the same tokens again cost no write."""
        fake = FakeTokenSource(clock=lambda: NOW)

        refresh(paths, fake, WEST, EAST)
        first = [w for w in writes if "state" not in w]
        refresh(paths, fake, WEST, EAST)
        second = [w for w in writes if "state" not in w][len(first) :]

        assert sorted([str(paths["docker"]), str(paths["netrc"])]) == sorted(first)
        assert [] == second

    def test_a_failing_group_leaves_its_old_credentials_and_others_are_written(self, paths):
        """A group that fails keeps what was written before; the other group is refreshed."""
        fake = FakeTokenSource(clock=lambda: NOW)
        refresh(paths, fake, WEST, EAST)
        fake.generation, fake.failing = 1, {"us-east-1"}

        result = refresh(paths, fake, WEST, EAST)

        assert not result.ok
        written = auths(paths["docker"])
        assert f"AWS:{fake.password('us-west-2')}" == written[WEST.hosts[0]]
        assert written[EAST.hosts[0]].endswith("-0-" + "x" * 2100)
        (failed,) = [h for h in result.hosts if h.error]
        assert (EAST.hosts[0], ()) == (failed.host, failed.outputs)
        state = StateStore(paths["state"]).read()
        assert state is not None
        assert "access denied" in (state.hosts[EAST.hosts[0]].last_error or "")
        assert NOW + timedelta(hours=12) == state.hosts[EAST.hosts[0]].expires_at

    def test_removed_registry_loses_only_ecrd_entries(self, paths):
        """A registry that leaves the configuration is removed; entries of others stay."""
        paths["docker"].parent.mkdir()
        paths["docker"].write_text(json.dumps({"auths": {"ghcr.io": {"auth": "dXNlcjpwdw=="}}}))
        fake = FakeTokenSource(clock=lambda: NOW)
        refresh(paths, fake, WEST, EAST)

        refresh(paths, fake, WEST)

        assert ["ghcr.io", *WEST.hosts] == list(auths(paths["docker"]))
        assert EAST.hosts[0].split(":")[0] not in paths["netrc"].read_text()

    def test_entry_someone_else_rewrote_is_not_removed(self, paths):
        """After `docker login` over ecrd's entry, removing the registry keeps that login."""
        fake = FakeTokenSource(clock=lambda: NOW)
        refresh(paths, fake, WEST, EAST)
        document = json.loads(paths["docker"].read_text())
        document["auths"][EAST.hosts[0]] = {"auth": base64.b64encode(b"AWS:mine").decode()}
        paths["docker"].write_text(json.dumps(document))

        refresh(paths, fake, WEST)

        assert "AWS:mine" == auths(paths["docker"])[EAST.hosts[0]]

    def test_removed_output_loses_ecrd_entries(self, paths):
        """An output that leaves the configuration keeps everything but ecrd's entries."""
        fake = FakeTokenSource(clock=lambda: NOW)
        refresh(paths, fake, WEST)
        with paths["netrc"].open("a") as f:
            f.write("machine example.com login me password secret\n")

        refresh(paths, fake, WEST, outputs=("docker",))

        assert "machine example.com login me password secret\n" == paths["netrc"].read_text()
        state = StateStore(paths["state"]).read()
        assert state is not None
        assert [str(paths["docker"])] == list(state.owned)

    def test_unparsable_output_is_untouched_and_others_written(self, paths):
        """A docker file that is not JSON stays byte for byte; the netrc is still written."""
        paths["docker"].parent.mkdir()
        paths["docker"].write_bytes(b'{"auths": {')
        fake = FakeTokenSource(clock=lambda: NOW)

        result = refresh(paths, fake, WEST)

        assert not result.ok
        assert b'{"auths": {' == paths["docker"].read_bytes()
        assert [(None, str(paths["docker"]), OUTPUT_FAILED)] == [
            (p.host, p.path, p.code) for p in result.problems
        ]
        assert "cannot parse" in result.problems[0].message
        assert all(h.failing for h in result.hosts)
        assert all(h.outputs == (str(paths["netrc"]),) for h in result.hosts)
        assert "password " + fake.password("us-west-2") in paths["netrc"].read_text()

    def test_state_records_hosts_and_outputs(self, paths):
        """The state names each host's registry, expiry, refresh time and outputs."""
        refresh(paths, FakeTokenSource(clock=lambda: NOW), EAST)

        state = StateStore(paths["state"]).read()

        assert state is not None
        entry = state.hosts[EAST.hosts[0]]
        assert ("222222222222", "us-east-1", NOW) == (
            entry.registry_id,
            entry.region,
            entry.refreshed_at,
        )
        assert sorted([str(paths["docker"]), str(paths["netrc"])]) == sorted(entry.outputs)
        assert 0o600 == (paths["state"] / "state.json").stat().st_mode & 0o777

    def test_no_secret_in_any_log_event(self, paths):
        """No password, auth value or its base64 form appears in the events of a round."""
        fake = FakeTokenSource(clock=lambda: NOW, failing={"us-east-1"})
        paths["docker"].parent.mkdir()
        paths["docker"].write_text('{"credsStore": "desktop"}')

        with capture_logs() as events:
            refresh(paths, fake, WEST, EAST)

        text = repr(events)
        password = fake.password("us-west-2")
        assert {
            "token_refreshed",
            "refresh_failed",
            "output_written",
            "credentials_not_stored",
        } <= {e["event"] for e in events}
        assert password not in text
        assert base64.b64encode(f"AWS:{password}".encode()).decode() not in text


class TestShadowedEntries:
    def test_podman_login_for_a_managed_host_is_warned_and_kept_in_state(
        self, paths, tmp_path, monkeypatch
    ):
        """An entry in podman's runtime auth.json for a managed host: warned once, in state."""
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
        podman = tmp_path / "run" / "containers" / "auth.json"
        podman.parent.mkdir(parents=True)
        podman.write_text(json.dumps({"auths": {EAST.hosts[0]: {"auth": "QVdTOm9sZA=="}}}))
        podman.chmod(0o600)  # as podman leaves it: a file others can read is warned about

        with capture_logs() as events:
            result = refresh(paths, FakeTokenSource(clock=lambda: NOW), WEST, EAST)

        shadowed = [e for e in events if e["event"] == "entry_shadowed"]
        assert [(EAST.hosts[0], str(podman))] == [(e["host"], e["path"]) for e in shadowed]
        assert [(EAST.hosts[0], str(podman), SHADOWED)] == [
            (p.host, p.path, p.code) for p in result.problems
        ]
        state = StateStore(paths["state"]).read()
        assert state is not None
        assert [f"add {podman} to outputs (type: containers)"] == [
            w[w.index("add ") : w.index(")") + 1] for w in state.hosts[EAST.hosts[0]].warnings
        ]
        assert [] == state.hosts[WEST.hosts[0]].warnings

    def test_podman_file_as_an_output_is_written_and_not_warned(self, paths, tmp_path, monkeypatch):
        """Made an output of type docker, podman's file gets fresh entries and no warning."""
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
        podman = tmp_path / "run" / "containers" / "auth.json"
        podman.parent.mkdir(parents=True)
        podman.write_text(json.dumps({"auths": {EAST.hosts[0]: {"auth": "QVdTOm9sZA=="}}}))
        podman.chmod(0o600)  # as podman leaves it: a file others can read is warned about
        paths["docker"] = podman
        fake = FakeTokenSource(clock=lambda: NOW)

        result = refresh(paths, fake, EAST)

        assert () == result.problems
        assert f"AWS:{fake.password('us-east-1')}" == auths(podman)[EAST.hosts[0]]


class TestApplyRound:
    def test_groups_not_fresh_are_written_again_but_keep_their_refresh_time(self, paths):
        """The daemon's apply: a group handed over but not fresh keeps refreshed_at."""
        fake = FakeTokenSource(clock=lambda: NOW)
        config = make_config(paths, WEST, EAST)
        store = StateStore(paths["state"])
        fetched = {g.key: fake.fetch(g) for g in config.groups()}
        later = NOW + timedelta(hours=1)

        first = apply_round(
            config=config,
            store=store,
            groups=config.groups(),
            fetched=fetched,
            fresh=list(fetched),
            now=NOW,
        )
        again = apply_round(
            config=config,
            store=store,
            groups=config.groups(),
            fetched=fetched,
            fresh=[config.groups()[0].key],
            now=later,
        )

        assert first.ok
        assert again.ok
        assert {WEST.hosts[0]: later, EAST.hosts[0]: NOW} == {
            h.host: h.refreshed_at for h in again.hosts if h.host in (WEST.hosts[0], EAST.hosts[0])
        }

    def test_problems_are_errors_for_the_daemon_and_info_for_refresh(self, paths):
        """The daemon logs a failed group at error; `ecrd refresh`, which prints it, at info."""
        fake = FakeTokenSource(clock=lambda: NOW, failing={"us-east-1"})
        config = make_config(paths, EAST)
        (group,) = config.groups()

        with capture_logs() as daemon:
            apply_round(
                config=config,
                store=StateStore(paths["state"]),
                groups=[group],
                fetched={group.key: TokenError("group x: denied", code="AccessDenied")},
                fresh=[group.key],
                now=NOW,
            )
        with capture_logs() as one_shot:
            refresh(paths, fake, EAST)

        assert ["error"] == [e["log_level"] for e in daemon if e["event"] == "refresh_failed"]
        assert ["info"] == [e["log_level"] for e in one_shot if e["event"] == "refresh_failed"]

    def test_a_readable_output_is_logged_once_under_its_own_name(self, paths):
        """A docker file others may read: one output_readable_by_others, at info for refresh."""
        paths["docker"].parent.mkdir()
        paths["docker"].write_text("{}")
        paths["docker"].chmod(0o644)
        config = make_config(paths, EAST)
        (group,) = config.groups()
        fake = FakeTokenSource(clock=lambda: NOW)

        with capture_logs() as daemon:
            apply_round(
                config=config,
                store=StateStore(paths["state"]),
                groups=[group],
                fetched={group.key: fake.fetch(group)},
                fresh=[group.key],
                now=NOW,
            )
        with capture_logs() as one_shot:
            refresh(paths, fake, EAST)

        readable = "output_readable_by_others"
        assert [("warning", str(paths["docker"]))] == [
            (e["log_level"], e["path"]) for e in daemon if e["event"] == readable
        ]
        assert ["info"] == [e["log_level"] for e in one_shot if e["event"] == readable]
        assert [] == [e for e in daemon + one_shot if e["event"] == "output_shadowed"]


class TestPrivateTmp:
    @pytest.mark.parametrize("invocation", ["0123abcd", None])
    def test_an_output_under_tmp_is_warned_only_under_systemd(self, paths, monkeypatch, invocation):
        """Under systemd (INVOCATION_ID), PrivateTmp= hides /tmp: the warning says so."""
        if invocation is None:
            monkeypatch.delenv("INVOCATION_ID", raising=False)
        else:
            monkeypatch.setenv("INVOCATION_ID", invocation)
        paths["docker"] = Path("/tmp") / f"ecrd-round-{os.getpid()}" / "config.json"  # noqa: S108
        try:
            result = refresh(
                paths,
                FakeTokenSource(clock=lambda: NOW),
                WEST,
                outputs=("docker",),
            )
        finally:
            shutil.rmtree(paths["docker"].parent, ignore_errors=True)

        state = StateStore(paths["state"]).read()
        assert state is not None
        message = (
            f"{paths['docker']} is under a temporary directory that systemd (PrivateTmp=) "
            "makes private to ecrd: no other process sees it; choose a path outside /tmp"
        )
        expected = [message] if invocation else []
        assert expected == list(messages(result.problems))
        assert ([*WEST.hosts] if invocation else []) == [p.host for p in result.problems]
        assert expected == state.hosts[WEST.hosts[0]].warnings
