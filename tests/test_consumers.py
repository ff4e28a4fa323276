"""The consumers of tokens.json (docker-credential-ecrd, the kubelet provider), as processes.

Both answer every host a configuration manages, whatever its outputs, from tokens.json
alone; they read it as ecrd reads an output (no other user's link, no FIFO or device,
nothing over 16 MiB, never blocking), and say on stderr where they looked when they find no
tokens file. A hang would show as the subprocess timeout, never as a slow pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ecrd import paths
from ecrd.safe_read import MAX_SIZE, RefusedFileError, read_regular
from tests.registry import LocalRegistry, serving, skopeo, tools_missing

if TYPE_CHECKING:
    from ecrd.emulator.server import Emulator

REGISTRY_ID = "123456789012"
HOST = f"{REGISTRY_ID}.dkr.ecr.us-west-2.amazonaws.com"
OTHER = "210987654321.dkr.ecr.us-west-2.amazonaws.com"
IPV6 = "[::1]:5000"
HELPER = Path(sys.executable).parent / "docker-credential-ecrd"
NOT_FOUND = "credentials not found in native keychain\n"
NOBODY = 65534
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (lchown, mknod)")


def run(command: list[str], *, stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a consumer as its client does; a consumer that blocks fails at the timeout."""
    return subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **env},
    )


def get(host: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker-credential-ecrd get` with ``host`` on stdin, as docker runs it."""
    return run([str(HELPER), "get"], stdin=host, env=env)


def kubelet(image: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`ecrd kubelet-credential-provider` with a request for ``image``, as the kubelet runs it."""
    request = {
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": image,
    }
    return run(
        [sys.executable, "-m", "ecrd", "kubelet-credential-provider"],
        stdin=json.dumps(request),
        env=env,
    )


def refresh(config: Path, env: dict[str, str]) -> None:
    """A real `ecrd refresh` of ``config`` against the emulator."""
    done = run([sys.executable, "-m", "ecrd", "refresh", "-c", str(config)], stdin="", env=env)
    assert 0 == done.returncode, done.stderr


def write_config(path: Path, emulator: Emulator, outputs: str, hosts: str = "[]") -> Path:
    path.write_text(
        f"""\
aws:
  region: us-west-2
  endpoint_url: {emulator.url}
{outputs}
registries:
  - registry_id: "{REGISTRY_ID}"
    hosts: {hosts}
  - {OTHER}
"""
    )
    return path


def tokens_file(root: Path, entries: dict[str, object]) -> Path:
    """One configuration's tokens file holding ``entries`` as they are (host -> entry)."""
    directory = root / paths.CONFIGS / "ci-0123456789ab"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / paths.TOKENS_FILE
    path.write_text(json.dumps({"version": 1, "hosts": entries}))
    path.chmod(0o600)
    return path


def entry(secret: str, expires_at: object) -> dict[str, object]:
    return {"username": "AWS", "secret": secret, "expires_at": expires_at, "refresh_at": None}


class TestEveryManagedHost:
    def test_readme_default_docker_output_helper_answers(self, tmp_path, emulator, isolated_env):
        """With the README's docker `auths` output, docker-credential-ecrd answers the host."""
        env = {"STATE_DIRECTORY": str(tmp_path / "state")}
        config = write_config(
            tmp_path / "ecrd.yaml",
            emulator,
            f"outputs:\n  - {{type: docker, path: {isolated_env}/.docker/config.json}}",
        )
        refresh(config, env)

        done = get(HOST, env)

        assert (0, "") == (done.returncode, done.stderr)
        assert {
            "ServerURL": HOST,
            "Username": "AWS",
            "Secret": emulator.password_for(REGISTRY_ID),
        } == json.loads(done.stdout)

    def test_only_a_netrc_output_both_consumers_answer(self, tmp_path, emulator):
        """Only a netrc output: the helper and the kubelet provider answer every host.

        The IPv6 alias `[::1]:5000` included, keyed as configured.
        """
        env = {"STATE_DIRECTORY": str(tmp_path / "state")}
        config = write_config(
            tmp_path / "ecrd.yaml",
            emulator,
            f"outputs:\n  - {{type: netrc, path: {tmp_path}/netrc}}",
            hosts=f'["{IPV6}"]',
        )
        refresh(config, env)
        password = emulator.password_for(REGISTRY_ID)

        answers = {
            host: (get(url, env), kubelet(f"{host}/team/app:1", env))
            for host, url in ((HOST, f"https://{HOST}"), (IPV6, f"http://{IPV6}/v2/"))
        }

        for host, (helped, provided) in answers.items():
            assert (0, "", 0, "") == (
                helped.returncode,
                helped.stderr,
                provided.returncode,
                provided.stderr,
            )
            assert password == json.loads(helped.stdout)["Secret"]
            assert {host: {"username": "AWS", "password": password}} == json.loads(provided.stdout)[
                "auth"
            ]

    @pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing()))
    def test_cred_helpers_in_a_file_that_is_not_an_output(
        self, tmp_path, stable_emulator, isolated_env
    ):
        """Skopeo --authfile naming ecrd in credHelpers (the file is no output) logs in."""
        password = stable_emulator.password_for(REGISTRY_ID)
        (tmp_path / "registry").mkdir()
        with serving(tmp_path / "registry", password) as registry:
            env = {"STATE_DIRECTORY": str(tmp_path / "state")}
            config = write_config(
                tmp_path / "ecrd.yaml",
                stable_emulator,
                f"outputs:\n  - {{type: netrc, path: {tmp_path}/netrc}}",
                hosts=f'["{registry.host}"]',
            )
            refresh(config, env)
            authfile = tmp_path / "auth.json"
            authfile.write_text(json.dumps({"credHelpers": {registry.host: "ecrd"}}))

            inspected = inspect(registry, authfile, env, tmp_path)

        assert 0 == inspected.returncode, inspected.stderr
        assert not (isolated_env / ".docker").exists()


def inspect(
    registry: LocalRegistry, authfile: Path, env: dict[str, str], work: Path
) -> subprocess.CompletedProcess[str]:
    """Skopeo inspect of the registry's tiny image with ``authfile``, the helper on PATH."""
    path = f"{HELPER.parent}{os.pathsep}{os.environ['PATH']}"
    saved = {name: os.environ.get(name) for name in ("PATH", *env)}
    os.environ.update({"PATH": path, **env})
    try:
        return skopeo(
            "inspect",
            "--tls-verify=false",
            "--authfile",
            str(authfile),
            f"docker://{registry.host}/ecrd/tiny:v1",
            policy=work,
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def hostile(request: pytest.FixtureRequest, root: Path, tmp_path: Path) -> tuple[Path, str]:
    """tokens.json made into what the parameter names; yields its path and that name."""
    path = tokens_file(root, {HOST: entry("pw", 4102444800)})
    path.unlink()
    kind = request.param
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "dev-zero-link":
        path.symlink_to("/dev/zero")
    elif kind == "other-users-link":
        real = tokens_file(tmp_path / "elsewhere", {HOST: entry("stolen", 4102444800)})
        path.symlink_to(real)
        os.lchown(path, NOBODY, NOBODY)
    elif kind == "sparse-17-mib":
        with path.open("wb") as file:
            file.truncate(17 * 1024 * 1024)
    return path, kind


KINDS = {
    "fifo": "is a named pipe (FIFO), not a regular file",
    "dev-zero-link": "is a character device, not a regular file",
    "other-users-link": f"is a symlink owned by uid {NOBODY}",
    "sparse-17-mib": "is larger than 16 MiB",
}


@AS_ROOT
class TestRefusedWithoutBlocking:
    @pytest.mark.parametrize("hostile", list(KINDS), indirect=True)
    def test_helper_refuses_at_once(self, root, hostile):
        """docker-credential-ecrd (as root) refuses it with a message naming it, exit 1."""
        path, kind = hostile

        done = get(HOST, {"STATE_DIRECTORY": str(root)})

        assert 1 == done.returncode
        assert done.stdout.startswith(f"cannot read {path}: ")
        assert KINDS[kind] in done.stdout
        assert "stolen" not in done.stdout + done.stderr

    @pytest.mark.parametrize("hostile", list(KINDS), indirect=True)
    def test_kubelet_provider_refuses_at_once(self, root, hostile):
        """The kubelet provider (as root) answers an empty auth, exit 0, and says why on stderr."""
        path, kind = hostile

        done = kubelet(f"{HOST}/app", {"STATE_DIRECTORY": str(root)})

        assert (0, {}) == (done.returncode, json.loads(done.stdout)["auth"])
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"ecrd: cannot read {path}: ")
        assert KINDS[kind] in line

    def test_hostile_link_in_a_directory_on_the_way(self, root, tmp_path):
        """A link another user owns anywhere on the path is refused, not only the last one."""
        real = tokens_file(tmp_path / "elsewhere", {HOST: entry("stolen", 4102444800)})
        root.mkdir(mode=0o700)
        (root / paths.CONFIGS).symlink_to(real.parent.parent)
        os.lchown(root / paths.CONFIGS, NOBODY, NOBODY)

        with pytest.raises(RefusedFileError, match=f"owned by uid {NOBODY}"):
            read_regular(str(root / paths.CONFIGS / real.parent.name / paths.TOKENS_FILE))

    def test_roots_own_link_is_followed(self, root, tmp_path):
        """A link owned by root (the reading user) is followed, relative or absolute."""
        real = tokens_file(tmp_path / "elsewhere", {HOST: entry("pw", 4102444800)})
        root.mkdir(mode=0o700)
        (root / "absolute").symlink_to(real)
        (root / "relative").symlink_to(os.path.relpath(real, root))

        assert (real.read_bytes(), real.read_bytes()) == (
            read_regular(str(root / "absolute")),
            read_regular(str(root / "relative")),
        )


class TestSafeRead:
    def test_missing_and_dangling_give_none(self, tmp_path):
        """No file, a missing directory on the way, or a dangling link: nothing to read."""
        (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")

        assert [None, None, None] == [
            read_regular(str(tmp_path / "absent")),
            read_regular(str(tmp_path / "no" / "dir" / "file")),
            read_regular(str(tmp_path / "dangling")),
        ]

    def test_link_loop_is_refused(self, tmp_path):
        """Links that point at each other are refused, not followed forever."""
        (tmp_path / "a").symlink_to(tmp_path / "b")
        (tmp_path / "b").symlink_to(tmp_path / "a")

        with pytest.raises(RefusedFileError, match="loop"):
            read_regular(str(tmp_path / "a"))

    def test_exactly_the_limit_is_read(self, tmp_path):
        """A file of exactly 16 MiB is read whole; one byte more is refused."""
        path = tmp_path / "big"
        path.write_bytes(b"x" * MAX_SIZE)

        assert MAX_SIZE == len(read_regular(str(path)) or b"")
        path.write_bytes(b"x" * (MAX_SIZE + 1))
        with pytest.raises(RefusedFileError, match="larger than 16 MiB"):
            read_regular(str(path))


class TestAbsurdEntries:
    @pytest.mark.parametrize("expires_at", ["Infinity", "NaN", "-Infinity", "1e300", "1e400"])
    def test_entry_is_ignored_other_hosts_served(self, root, expires_at):
        """An absurd expiry makes that entry invalid; the other host's login still serves.

        Its absurd refresh time reads as unknown: cached no longer than a token lives.
        """
        path = tokens_file(root, {})
        path.write_text(
            '{"version": 1, "hosts": {'
            f'"{OTHER}": {{"username": "AWS", "secret": "bad", "expires_at": {expires_at}, '
            '"refresh_at": null},'
            f'"{HOST}": {{"username": "AWS", "secret": "good", "expires_at": 4102444800, '
            '"refresh_at": 1e300}'
            "}}"
        )
        env = {"STATE_DIRECTORY": str(root)}

        bad, good = get(OTHER, env), get(HOST, env)
        provided, absent = kubelet(f"{HOST}/app", env), kubelet(f"{OTHER}/app", env)

        assert (1, NOT_FOUND, "") == (bad.returncode, bad.stdout, bad.stderr)
        assert (0, "good") == (good.returncode, json.loads(good.stdout)["Secret"])
        assert (0, "", 0, "") == (
            provided.returncode,
            provided.stderr,
            absent.returncode,
            absent.stderr,
        )
        response = json.loads(provided.stdout)
        assert ("12h0m0s", "good") == (
            response["cacheDuration"],
            response["auth"][HOST]["password"],
        )
        assert {} == json.loads(absent.stdout)["auth"]

    def test_kubelet_request_nested_100000_deep(self, root):
        """A request nested 100,000 deep: a clear error on stderr, exit 1, no traceback."""
        done = run(
            [sys.executable, "-m", "ecrd", "kubelet-credential-provider"],
            stdin="[" * 100_000 + "]" * 100_000,
            env={"STATE_DIRECTORY": str(root)},
        )

        assert (1, "") == (done.returncode, done.stdout)
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith("Error: the request on stdin is nested too deep")


class TestSaysWhereItLooked:
    def test_kubelet_with_a_mistyped_state_directory(self, tmp_path):
        """No tokens file where it looked: `auth: {}`, exit 0, and one stderr line naming it."""
        typo = tmp_path / "var" / "lib" / "ecdr" / "ecrd"

        done = kubelet(f"{HOST}/app", {"STATE_DIRECTORY": str(typo)})

        assert (0, {}) == (done.returncode, json.loads(done.stdout)["auth"])
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"ecrd: no tokens.json under {typo} (from STATE_DIRECTORY)")

    def test_without_state_directory_it_names_the_default(self, isolated_env):
        """STATE_DIRECTORY omitted: the line names the directory used instead, and the uid."""
        done = kubelet(f"{HOST}/app", {})

        default = isolated_env / ".local" / "state" / "ecrd"
        assert f"under {default} (STATE_DIRECTORY is not set; running as uid {os.geteuid()})" in (
            done.stderr
        )
