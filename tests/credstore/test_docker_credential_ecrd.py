"""docker-credential-ecrd: the protocol's get/list/store/erase/version, from the tokens files.

The installed console script runs as docker runs it: a process, the server URL on stdin,
the tokens files of several configurations under ``$STATE_DIRECTORY``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ecrd
from ecrd import docker_credential_ecrd as credential_helper
from ecrd import paths

HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
OTHER = "210987654321.dkr.ecr.eu-central-1.amazonaws.com"
LOCAL = "127.0.0.1:5000"
PASSWORD = "eyJwYXlsb2FkIjoiZmFrZSJ9" * 100
NEWER = "eyJuZXdlciI6InRva2VuIn0=" * 100
PROGRAM = Path(sys.executable).parent / "docker-credential-ecrd"
NOT_FOUND = "credentials not found in native keychain\n"

pytestmark = pytest.mark.skipif(
    not PROGRAM.exists(),
    reason=f"{PROGRAM} is not installed: run `.venv/bin/python -m pip install -e .`",
)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The state root, as systemd gives it: $STATE_DIRECTORY (its first path)."""
    directory = tmp_path / "state"
    monkeypatch.setenv("STATE_DIRECTORY", f"{directory}:{tmp_path / 'other'}")
    return directory


def write_tokens(
    root: Path,
    config: str,
    hosts: dict[str, float],
    *,
    secret: str = PASSWORD,
    directory: Path | None = None,
) -> dict[str, float]:
    """Write one configuration's tokens file as ecrd does: host -> seconds left.

    Returns host -> expires_at (Unix seconds, with milliseconds, as ecrd writes them).
    """
    directory = directory or root / paths.CONFIGS / f"{config}-0123456789ab"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    expiry = {h: round(time.time() + left, 3) for h, left in hosts.items()}
    document = {
        "version": 1,
        "hosts": {
            h: {"username": "AWS", "secret": secret, "expires_at": e, "refresh_at": None}
            for h, e in expiry.items()
        },
    }
    path = directory / paths.TOKENS_FILE
    path.write_text(json.dumps(document, indent=2) + "\n")
    path.chmod(0o600)
    return expiry


def helper(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the installed program; return its exit status, stdout and stderr."""
    done = subprocess.run(
        [str(PROGRAM), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stdout, done.stderr


class TestGet:
    def test_get_answers_with_the_login(self, root):
        """A get of a HOST prints the protocol's credentials JSON on one line and exits 0."""
        write_tokens(root, "ci", {HOST: 6 * 3600})

        code, out, err = helper("get", stdin=f"{HOST}\n")

        assert 0 == code
        assert f'{{"ServerURL":"{HOST}","Username":"AWS","Secret":"{PASSWORD}"}}\n' == out
        assert "" == err

    def test_two_configurations_one_expired(self, root):
        """Each configuration's hosts are served; a host in both gets the later expiry."""
        write_tokens(root, "build", {HOST: 3600, LOCAL: -60})
        write_tokens(root, "ci", {OTHER: 7200, LOCAL: 1800}, secret=NEWER)

        answers = {h: helper("get", stdin=h) for h in (HOST, OTHER, LOCAL)}

        for host, secret in ((HOST, PASSWORD), (OTHER, NEWER), (LOCAL, NEWER)):
            code, out, err = answers[host]
            assert (0, "") == (code, err)
            assert {"ServerURL": host, "Username": "AWS", "Secret": secret} == json.loads(out)

    def test_later_expiry_wins_whatever_the_order(self, root):
        """Of two live entries for one host, the one that expires last is served."""
        write_tokens(root, "a", {HOST: 7200}, secret=NEWER)
        write_tokens(root, "b", {HOST: 3600})

        code, out, _ = helper("get", stdin=HOST)

        assert (0, NEWER) == (code, json.loads(out)["Secret"])

    def test_expired_token_is_not_found_with_one_hint(self, root):
        """An expired token: docker's exact "not found", and one stderr line saying why."""
        write_tokens(root, "build", {HOST: 3600})
        expiry = write_tokens(root, "ci", {OTHER: -90})
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expiry[OTHER]))

        code, out, err = helper("get", stdin=f"https://{OTHER}")

        assert (1, NOT_FOUND) == (code, out)
        assert [
            f"ecrd: the token for {OTHER} expired at {when}; is ecrd running? see `ecrd status`"
        ] == err.splitlines()
        assert PASSWORD not in err

    def test_later_live_entry_beats_an_expired_one(self, root):
        """A host expired in one configuration but live in another is served."""
        write_tokens(root, "old", {HOST: -3600}, secret=NEWER)
        write_tokens(root, "new", {HOST: 600})

        code, out, err = helper("get", stdin=HOST)

        assert (0, PASSWORD, "") == (code, json.loads(out)["Secret"], err)

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
    def test_server_url_is_reduced_to_its_host_as_docker_does(self, root, server_url):
        """A scheme, a path and blanks around the URL do not matter; the URL is echoed."""
        write_tokens(root, "ci", {LOCAL: 3600})

        code, out, _ = helper("get", stdin=server_url)

        assert (0, server_url.strip(), PASSWORD) == (
            code,
            json.loads(out)["ServerURL"],
            json.loads(out)["Secret"],
        )

    def test_host_case_does_not_matter(self, root):
        """Host names are case-insensitive, as in DNS and docker."""
        write_tokens(root, "ci", {HOST: 3600})

        code, out, _ = helper("get", stdin=HOST.upper())

        assert (0, PASSWORD) == (code, json.loads(out)["Secret"])

    def test_unknown_host_is_not_found(self, root):
        """A host ecrd does not manage gets docker's own "not found" answer, exit 1, no hint."""
        write_tokens(root, "ci", {HOST: 3600})

        assert (1, NOT_FOUND, "") == helper("get", stdin="ghcr.io")

    def test_no_tokens_file_yet(self, root):
        """No tokens file where it looked: not found, list empty, one stderr line naming where."""
        get = helper("get", stdin=HOST)
        listed = helper("list")

        assert ((1, NOT_FOUND), (0, "{}\n")) == (get[:2], listed[:2])
        for _, _, err in (get, listed):
            (line,) = err.splitlines()
            assert line.startswith(f"ecrd: no tokens.json under {root} (from STATE_DIRECTORY)")

    @pytest.mark.usefixtures("root")
    def test_get_without_a_server_url(self):
        """An empty request gets the protocol's "no credentials server URL", exit 1."""
        assert (1, "no credentials server URL\n", "") == helper("get", stdin="\n")

    def test_tokens_of_an_ecrd_before_one_directory_per_configuration(self, root):
        """A tokens file in the root itself (a daemon started before an upgrade) is served."""
        write_tokens(root, "", {HOST: 3600}, directory=root)

        code, out, _ = helper("get", stdin=HOST)

        assert (0, PASSWORD) == (code, json.loads(out)["Secret"])


class TestEmptyOnMiss:
    """ECRD_HELPER_EMPTY_ON_MISS=1, for Nomad's one-helper-for-every-image set-up."""

    ON: ClassVar[dict[str, str]] = {credential_helper.EMPTY_ON_MISS: "1"}

    def test_unmanaged_host_gets_empty_credentials(self, root):
        """A host ecrd does not manage: empty user name and secret, exit 0 (anonymous pull)."""
        write_tokens(root, "ci", {HOST: 3600})

        code, out, err = helper("get", stdin="docker.io", env=self.ON)

        assert (0, "") == (code, err)
        assert '{"ServerURL":"docker.io","Username":"","Secret":""}\n' == out

    def test_managed_host_still_gets_its_login(self, root):
        """The switch changes only the answer for hosts ecrd does not manage."""
        write_tokens(root, "ci", {HOST: 3600})

        code, out, _ = helper("get", stdin=HOST, env=self.ON)

        assert (0, {"ServerURL": HOST, "Username": "AWS", "Secret": PASSWORD}) == (
            code,
            json.loads(out),
        )

    def test_expired_managed_host_is_still_not_found(self, root):
        """An expired login is an error worth seeing, not an anonymous pull that gets a 401."""
        write_tokens(root, "ci", {HOST: -5})

        code, out, err = helper("get", stdin=HOST, env=self.ON)

        assert (1, NOT_FOUND, 1) == (code, out, len(err.splitlines()))

    def test_without_the_switch_not_found_as_today(self, root):
        """Unset or 0: docker's not-found answer."""
        write_tokens(root, "ci", {HOST: 3600})

        assert (1, NOT_FOUND, "") == helper(
            "get", stdin="docker.io", env={credential_helper.EMPTY_ON_MISS: "0"}
        )

    def test_no_tokens_file_still_empty_but_says_where_it_looked(self, tmp_path):
        """A mistyped STATE_DIRECTORY: the same empty answer, and one line on stderr."""
        typo = tmp_path / "var" / "lib" / "ecdr" / "ci"

        code, out, err = helper(
            "get", stdin="docker.io", env={**self.ON, "STATE_DIRECTORY": str(typo)}
        )

        assert (0, '{"ServerURL":"docker.io","Username":"","Secret":""}\n') == (code, out)
        assert 1 == len(err.splitlines())
        assert f"under {typo} (from STATE_DIRECTORY)" in err


class TestOtherActions:
    def test_list_names_live_hosts_of_every_configuration(self, root):
        """A list maps every host with a live token, in any configuration, to its user name."""
        write_tokens(root, "build", {HOST: 3600, LOCAL: -5})
        write_tokens(root, "ci", {OTHER: 3600})

        code, out, _ = helper("list")

        assert (0, {HOST: "AWS", OTHER: "AWS"}) == (code, json.loads(out))

    @pytest.mark.parametrize("action", ["store", "erase"])
    def test_store_and_erase_are_accepted_and_ignored(self, root, action):
        """A `docker login` or `logout` through ecrd succeeds and changes nothing."""
        write_tokens(root, "ci", {HOST: 3600})
        path = root / paths.CONFIGS / "ci-0123456789ab" / paths.TOKENS_FILE
        before = path.read_bytes()

        result = helper(action, stdin='{"ServerURL":"x","Username":"u","Secret":"s"}')

        assert ((0, "", ""), before) == (result, path.read_bytes())

    def test_version(self):
        """The version action prints program, package and version, as docker's helpers do."""
        assert (0, f"docker-credential-ecrd (ecrd) {ecrd.__version__}\n", "") == helper("version")

    @pytest.mark.parametrize("flag", ["--help", "-h"])
    def test_help_is_a_usage_text_exit_0(self, flag):
        """--help and -h print the usage, the actions and the variables read, exit 0."""
        code, out, err = helper(flag)

        assert (0, "") == (code, err)
        assert credential_helper.USAGE == out.splitlines()[0]
        assert ("STATE_DIRECTORY" in out, "ECRD_HELPER_EMPTY_ON_MISS" in out) == (True, True)

    @pytest.mark.parametrize("flag", ["--version", "-v"])
    def test_version_flags(self, flag):
        """--version and -v answer as the version action does."""
        assert helper("version") == helper(flag)

    def test_unknown_action_and_usage(self):
        """A wrong action or argument count exits 1 with the helpers' usual messages."""
        assert (1, "Unknown credential action `fetch`\n", "") == helper("fetch")
        assert (1, "Usage: docker-credential-ecrd <store|get|erase|list|version>\n", "") == helper()

    def test_damaged_tokens_file_says_what_to_do(self, root):
        """A tokens file that cannot be parsed is an error naming it, not "not found"."""
        directory = root / paths.CONFIGS / "ci-0123456789ab"
        directory.mkdir(parents=True)
        (directory / paths.TOKENS_FILE).write_text("{")

        code, out, _ = helper("get", stdin=HOST)

        path = directory / paths.TOKENS_FILE
        assert (1, f"cannot parse {path}; run `ecrd refresh` to write it again\n") == (code, out)

    def test_damaged_file_of_one_configuration_does_not_hide_another(self, root):
        """A host found in a sound tokens file is served beside a damaged one."""
        write_tokens(root, "ci", {HOST: 3600})
        damaged = root / paths.CONFIGS / "build-0123456789ab"
        damaged.mkdir(parents=True)
        (damaged / paths.TOKENS_FILE).write_text('{"version": 1, "hosts": [')

        code, out, _ = helper("get", stdin=HOST)

        assert (0, PASSWORD) == (code, json.loads(out)["Secret"])


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
    def test_a_get_imports_the_standard_library_and_three_small_ecrd_modules(self, root):
        """A get loads no third-party module, no other ecrd module, and neither json nor re.

        ecrd.hostport (a host from a server URL, as the docker writer reads one) imports
        nothing.

        json (through re) would double the start-up docker pays on every pull.
        """
        write_tokens(root, "ci", {HOST: 3600})
        code = (
            "import io, sys; sys.stdin = io.StringIO(" + repr(HOST) + "); "
            "from ecrd.docker_credential_ecrd import main; main(['get'])"
        )

        loaded = imported_by(code) - imported_by("import io, sys")

        top = {name.split(".")[0] for name in loaded}
        assert {"ecrd"} == top - set(sys.stdlib_module_names)
        assert {
            "ecrd",
            "ecrd.paths",
            "ecrd.hostport",
            "ecrd.safe_read",
            "ecrd.docker_credential_ecrd",
        } == {n for n in loaded if n.startswith("ecrd")}
        assert set() == loaded & {"json", "re", "typing", "datetime", "importlib.metadata"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


class TestJsonWithoutJson:
    @given(value=json_values, indent=st.sampled_from([None, 2]))
    def test_loads_reads_what_json_writes(self, value, indent):
        """The helper's parser reads any JSON document as json.loads does."""
        assert value == credential_helper.loads(json.dumps(value, indent=indent) + "\n")

    @pytest.mark.parametrize("text", ["", "{", '{"a": 1} x', "[1,]", '"\\x"', "nul"])
    def test_loads_refuses_what_json_refuses(self, text):
        """Anything json.loads rejects is a ValueError."""
        with pytest.raises(ValueError):  # noqa: PT011 (json's errors are plain ValueErrors)
            json.loads(text)
        with pytest.raises(ValueError):  # noqa: PT011
            credential_helper.loads(text)

    @given(mapping=st.dictionaries(st.text(), st.text()))
    def test_dumps_writes_what_json_writes(self, mapping):
        """The helper's answers are byte for byte json.dumps's, compact."""
        assert json.dumps(mapping, separators=(",", ":")) == credential_helper.dumps(mapping)
