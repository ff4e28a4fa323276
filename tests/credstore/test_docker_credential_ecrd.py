"""docker-credential-ecrd: the protocol's get/list/store/erase/version, from the tokens file."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import ecrd
from ecrd import docker_credential_ecrd as credential_helper
from ecrd.secret import Credentials, Secret
from ecrd.state import TOKENS_FILE, StateStore, default_state_dir

HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
LOCAL = "127.0.0.1:5000"
PASSWORD = "eyJwYXlsb2FkIjoiZmFrZSJ9" * 100
PROGRAM = Path(sys.executable).parent / "docker-credential-ecrd"


def save_tokens(directory: Path, hosts: dict[str, timedelta], password: str = PASSWORD) -> None:
    """Write the tokens file as a refresh does: host -> time left."""
    now = datetime.now(timezone.utc)
    store = StateStore(directory)
    with store.transaction():
        store.write_tokens(
            tokens={
                h: Credentials(username="AWS", password=Secret(password), expires_at=now + left)
                for h, left in hosts.items()
            },
            keep=list(hosts),
            now=now - timedelta(days=1),  # keep the expired ones, for the reader to refuse
        )


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, stdin: str = ""
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = credential_helper.main(list(args))
    return code, capsys.readouterr().out


@pytest.fixture
def state_dir() -> Path:
    """The state directory of the isolated environment (XDG_STATE_HOME/ecrd)."""
    return default_state_dir()


class TestCredentialHelperProgram:
    def test_get_answers_with_the_login(self, state_dir, monkeypatch, capsys):
        """A get of a HOST prints the protocol's credentials JSON on one line and exits 0."""
        save_tokens(state_dir, {HOST: timedelta(hours=6)})

        code, out = run(monkeypatch, capsys, "get", stdin=f"{HOST}\n")

        assert (0, f'{{"ServerURL":"{HOST}","Username":"AWS","Secret":"{PASSWORD}"}}\n') == (
            code,
            out,
        )

    @pytest.mark.parametrize(
        "server_url",
        [
            f"https://{LOCAL}",
            f"http://{LOCAL}/v2/",
            f"{LOCAL}/v2/",
            f"  {LOCAL}  ",
            f"https://{LOCAL}/v1/",
        ],
    )
    def test_server_url_is_reduced_to_its_host_as_docker_does(
        self, state_dir, monkeypatch, capsys, server_url
    ):
        """A scheme, a path and blanks around the URL do not matter; the URL is echoed."""
        save_tokens(state_dir, {LOCAL: timedelta(hours=6)})

        code, out = run(monkeypatch, capsys, "get", stdin=server_url)

        assert (0, server_url.strip(), PASSWORD) == (
            code,
            json.loads(out)["ServerURL"],
            json.loads(out)["Secret"],
        )

    def test_unknown_host_is_not_found(self, state_dir, monkeypatch, capsys):
        """A host ecrd does not manage gets docker's own "not found" answer, exit 1."""
        save_tokens(state_dir, {HOST: timedelta(hours=6)})

        code, out = run(monkeypatch, capsys, "get", stdin="ghcr.io")

        assert (1, "credentials not found in native keychain\n") == (code, out)

    def test_expired_token_is_not_served(self, state_dir, monkeypatch, capsys):
        """An expired token is "not found": docker then asks for a login, not a bad one."""
        save_tokens(state_dir, {HOST: timedelta(seconds=-1)})

        code, out = run(monkeypatch, capsys, "get", stdin=HOST)

        assert (1, "credentials not found in native keychain\n") == (code, out)

    def test_no_tokens_file_yet(self, monkeypatch, capsys):
        """Before ecrd's first refresh nothing is found, and list is empty."""
        get = run(monkeypatch, capsys, "get", stdin=HOST)
        listed = run(monkeypatch, capsys, "list")

        assert ((1, "credentials not found in native keychain\n"), (0, "{}\n")) == (get, listed)

    def test_get_without_a_server_url(self, monkeypatch, capsys):
        """An empty request gets the protocol's "no credentials server URL", exit 1."""
        assert (1, "no credentials server URL\n") == run(monkeypatch, capsys, "get", stdin="\n")

    def test_list_names_live_hosts(self, state_dir, monkeypatch, capsys):
        """A list maps every host with a live token to its user name."""
        save_tokens(state_dir, {HOST: timedelta(hours=6), LOCAL: timedelta(seconds=-5)})

        code, out = run(monkeypatch, capsys, "list")

        assert (0, {HOST: "AWS"}) == (code, json.loads(out))

    @pytest.mark.parametrize("action", ["store", "erase"])
    def test_store_and_erase_are_accepted_and_ignored(self, state_dir, monkeypatch, capsys, action):
        """A `docker login` or `logout` through ecrd succeeds and changes nothing."""
        save_tokens(state_dir, {HOST: timedelta(hours=6)})
        before = (state_dir / TOKENS_FILE).read_bytes()
        stdin = io.StringIO('{"ServerURL":"x","Username":"u","Secret":"s"}')
        monkeypatch.setattr(sys, "stdin", stdin)

        code = credential_helper.main([action])

        assert (0, "", before, "") == (
            code,
            capsys.readouterr().out,
            (state_dir / TOKENS_FILE).read_bytes(),
            stdin.read(),
        )

    def test_version(self, monkeypatch, capsys):
        """The version action prints program, package and version, as docker's helpers do."""
        assert (0, f"docker-credential-ecrd (ecrd) {ecrd.__version__}\n") == run(
            monkeypatch, capsys, "version"
        )

    def test_unknown_action_and_usage(self, monkeypatch, capsys):
        """A wrong action or argument count exits 1 with the helpers' usual messages."""
        unknown = run(monkeypatch, capsys, "fetch")
        usage = run(monkeypatch, capsys)

        assert (1, "Unknown credential action `fetch`\n") == unknown
        assert (1, "Usage: docker-credential-ecrd <store|get|erase|list|version>\n") == usage

    def test_damaged_tokens_file_says_what_to_do(self, state_dir, monkeypatch, capsys):
        """A tokens file that cannot be parsed is an error naming it, not "not found"."""
        state_dir.mkdir(parents=True)
        (state_dir / TOKENS_FILE).write_text("{")

        code, out = run(monkeypatch, capsys, "get", stdin=HOST)

        path = state_dir / TOKENS_FILE
        assert (1, f"cannot parse {path}; run `ecrd refresh` to write it again\n") == (code, out)

    def test_state_directory_of_systemd_is_used(self, tmp_path, monkeypatch, capsys):
        """Under systemd, $STATE_DIRECTORY (its first path) holds the tokens file."""
        save_tokens(tmp_path / "svc", {HOST: timedelta(hours=6)})
        monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path / 'svc'}:{tmp_path / 'other'}")

        code, _ = run(monkeypatch, capsys, "get", stdin=HOST)

        assert 0 == code


class TestStateDir:
    @pytest.mark.parametrize(
        "env",
        [
            {"STATE_DIRECTORY": "/var/lib/ecrd:/var/lib/other", "HOME": "/h"},
            {"XDG_STATE_HOME": "/x/state", "HOME": "/h"},
            {"HOME": "/home/me"},
            {"STATE_DIRECTORY": "", "XDG_STATE_HOME": "", "HOME": "/home/me"},
        ],
    )
    def test_same_rule_as_ecrd_state(self, env):
        """The helper finds the state directory where ecrd.state puts it."""
        assert str(default_state_dir(env)) == credential_helper.state_dir(env)

    def test_same_file_name_as_ecrd_state(self):
        """The helper reads the file ecrd.state writes."""
        assert TOKENS_FILE == credential_helper.TOKENS_FILE


def imported_by(code: str) -> set[str]:
    """Modules a fresh interpreter imports to run ``code``, from ``-X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and not line.endswith("imported package")
    }


class TestImports:
    def test_only_the_standard_library_and_the_package(self):
        """The helper loads no third-party module (no boto3, pydantic, structlog, click)."""
        loaded = imported_by("import ecrd.docker_credential_ecrd") - imported_by("pass")

        top = {name.split(".")[0] for name in loaded}
        assert {"ecrd"} == top - set(sys.stdlib_module_names)
        assert {"ecrd", "ecrd.docker_credential_ecrd"} == {
            n for n in loaded if n.startswith("ecrd")
        }


@pytest.mark.skipif(
    not PROGRAM.exists(),
    reason=f"{PROGRAM} is not installed: run `.venv/bin/python -m pip install -e .`",
)
class TestConsoleScript:
    def test_installed_program_answers_get(self, state_dir):
        """The docker-credential-ecrd console script serves the tokens file."""
        save_tokens(state_dir, {HOST: timedelta(hours=6)})

        done = subprocess.run(
            [str(PROGRAM), "get"],
            input=HOST,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

        assert (0, "AWS", PASSWORD) == (
            done.returncode,
            json.loads(done.stdout)["Username"],
            json.loads(done.stdout)["Secret"],
        )
