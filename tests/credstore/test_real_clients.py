"""`ecrd refresh` with real credential stores, proven by skopeo against a real registry.

docker-credential-pass (with pass and a throwaway GPG key) is the store; skopeo reads the
credentials back through it (``credHelpers`` in the docker file, or ``credential-helpers``
in a registries.conf for ``credsStore``, which skopeo ignores), and through
docker-credential-ecrd, which serves the tokens file ``ecrd refresh`` keeps.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ecrd.emulator.server import Emulator
from tests.process import ecrd
from tests.registry import REPOSITORY, TAG, LocalRegistry, serving, skopeo, tools_missing

if TYPE_CHECKING:
    from collections.abc import Iterator

REGISTRY_ID = "123456789012"
STANDARD = f"{REGISTRY_ID}.dkr.ecr.us-west-2.amazonaws.com"
FOREIGN = "ghcr.io"


def _pass_missing() -> str | None:
    for tool in ("pass", "gpg", "gpgconf", "docker-credential-pass"):
        if shutil.which(tool) is None:
            return (
                f"{tool} is not installed (apt-get install golang-docker-credential-helpers "
                "pass gnupg)"
            )
    return None


pytestmark = pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing()))
needs_pass = pytest.mark.skipif(_pass_missing() is not None, reason=str(_pass_missing()))


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """One ECR endpoint for the module, issuing the same password per registry id."""
    with Emulator(stable_passwords=True) as emu:
        yield emu


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, emulator: Emulator
) -> Iterator[LocalRegistry]:
    """A registry that accepts AWS with the emulator's password, holding one tiny image."""
    with serving(tmp_path_factory.mktemp("registry"), emulator.password_for(REGISTRY_ID)) as local:
        yield local


@pytest.fixture(scope="module")
def pass_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A GPG key without passphrase and a password store: GNUPGHOME and PASSWORD_STORE_DIR."""
    if _pass_missing():
        pytest.skip(str(_pass_missing()))
    root = tmp_path_factory.mktemp("pass")
    env = {
        "GNUPGHOME": str(root / "gnupg"),
        "PASSWORD_STORE_DIR": str(root / "store"),
    }
    Path(env["GNUPGHOME"]).mkdir(mode=0o700)
    full = {**os.environ, **env}
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            "ecrd test <t@example.invalid>",
            "default",
            "default",
            "never",
        ],
        env=full,
        capture_output=True,
        check=True,
        timeout=60,
    )
    listing = subprocess.run(
        ["gpg", "--list-keys", "--with-colons"],
        env=full,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    key = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
    subprocess.run(["pass", "init", key], env=full, capture_output=True, check=True, timeout=30)
    try:
        yield env
    finally:
        subprocess.run(
            ["gpgconf", "--kill", "gpg-agent"],
            env=full,
            capture_output=True,
            check=False,
            timeout=30,
        )


@pytest.fixture
def store(pass_home: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> PassStore:
    """The password store, emptied, with its variables in this test's environment."""
    for name, value in pass_home.items():
        monkeypatch.setenv(name, value)
    shutil.rmtree(Path(pass_home["PASSWORD_STORE_DIR"]) / "docker-credential-helpers", True)
    return PassStore()


class PassStore:
    """docker-credential-pass, run the way docker runs it."""

    def run(self, action: str, data: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker-credential-pass", action],
            input=data,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def store(self, server_url: str, username: str, secret: str) -> None:
        payload = {"ServerURL": server_url, "Username": username, "Secret": secret}
        done = self.run("store", json.dumps(payload))
        assert 0 == done.returncode, done.stdout

    def get(self, server_url: str) -> dict[str, str]:
        done = self.run("get", server_url)
        assert 0 == done.returncode, done.stdout
        answer: dict[str, str] = json.loads(done.stdout)
        return answer

    def list(self) -> dict[str, str]:
        listing: dict[str, str] = json.loads(self.run("list").stdout)
        return listing


def write_config(
    tmp_path: Path, emulator: Emulator, registry: LocalRegistry, *, loopback: bool = True
) -> Path:
    """An ecrd configuration with one registry (the standard host, plus the loopback one)."""
    config = tmp_path / "ecrd.yaml"
    hosts = f'\n    hosts: ["{registry.host}"]' if loopback else ""
    config.write_text(
        f"""\
aws:
  region: us-west-2
  endpoint_url: {emulator.url}
outputs:
  - type: docker
    path: {tmp_path}/out/docker/config.json
registries:
  - registry_id: "{REGISTRY_ID}"{hosts}
"""
    )
    return config


def docker_file(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "out" / "docker" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent="\t"))
    path.chmod(0o600)  # as docker leaves it: a file others can read is warned about
    return path


def list_tags(
    registry: LocalRegistry, tmp_path: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """Run `skopeo list-tags`; global options (--registries-conf) go before the command."""
    global_options = [o for o in options if o.startswith("--registries-conf")]
    command_options = [o for o in options if o not in global_options]
    return skopeo(
        *global_options,
        "list-tags",
        "--tls-verify=false",
        *command_options,
        f"docker://{registry.host}/{REPOSITORY}",
        policy=tmp_path,
    )


@needs_pass
class TestPassStore:
    def test_cred_helpers_pass_serves_skopeo(self, tmp_path, emulator, registry, store):
        """credHelpers[host] = "pass": stored through pass, no auths entry, skopeo gets in."""
        path = docker_file(tmp_path, {"credHelpers": {registry.host: "pass"}})

        done = ecrd("refresh", "-c", str(write_config(tmp_path, emulator, registry)))
        tags = list_tags(registry, tmp_path, f"--authfile={path}")

        assert 0 == done.returncode, done.stderr
        assert "" == done.stderr
        assert 0 == tags.returncode, tags.stderr
        assert [TAG] == json.loads(tags.stdout)["Tags"]
        document = json.loads(path.read_text())
        assert [STANDARD] == list(document["auths"])
        assert {registry.host: "AWS"} == store.list()

    def test_creds_store_pass_is_read_back_by_pass_and_skopeo(
        self, tmp_path, emulator, registry, store
    ):
        """With credsStore "pass", every host is stored through pass; skopeo reads it via pass."""
        path = docker_file(tmp_path, {"credsStore": "pass"})
        conf = tmp_path / "registries.conf"
        conf.write_text('credential-helpers = ["pass"]\n')

        done = ecrd("refresh", "-c", str(write_config(tmp_path, emulator, registry)))
        held = store.get(registry.host)
        tags = list_tags(registry, tmp_path, f"--registries-conf={conf}")

        assert 0 == done.returncode, done.stderr
        assert {"credsStore": "pass"} == json.loads(path.read_text())
        assert ("AWS", emulator.password_for(REGISTRY_ID)) == (held["Username"], held["Secret"])
        assert {registry.host: "AWS", STANDARD: "AWS"} == store.list()
        assert 0 == tags.returncode, tags.stderr
        assert [TAG] == json.loads(tags.stdout)["Tags"]

    def test_removed_host_leaves_the_store_and_others_stay(
        self, tmp_path, emulator, registry, store
    ):
        """A host that leaves the configuration is erased from pass; a foreign entry stays."""
        store.store(FOREIGN, "me", "my-own-token")
        docker_file(tmp_path, {"credsStore": "pass"})
        ecrd("refresh", "-c", str(write_config(tmp_path, emulator, registry)))

        done = ecrd(
            "refresh", "-c", str(write_config(tmp_path, emulator, registry, loopback=False))
        )

        assert 0 == done.returncode, done.stderr
        assert {FOREIGN: "me", STANDARD: "AWS"} == store.list()
        assert "my-own-token" == store.get(FOREIGN)["Secret"]

    @pytest.mark.usefixtures("store")
    def test_second_refresh_stores_nothing(self, tmp_path, emulator, registry):
        """The same token again: the entries pass holds are not rewritten (same files)."""
        docker_file(tmp_path, {"credsStore": "pass"})
        config = write_config(tmp_path, emulator, registry)
        ecrd("refresh", "-c", str(config))
        files = sorted(Path(os.environ["PASSWORD_STORE_DIR"]).rglob("*.gpg"))
        before = [(f, f.stat().st_ino, f.stat().st_mtime_ns) for f in files]

        ecrd("refresh", "-c", str(config))

        assert before == [(f, f.stat().st_ino, f.stat().st_mtime_ns) for f in files]


class TestEcrdHelper:
    def test_skopeo_gets_in_through_docker_credential_ecrd(
        self, tmp_path, emulator, registry, monkeypatch
    ):
        """credHelpers[host] = "ecrd": no auths entry; skopeo runs docker-credential-ecrd."""
        program = Path(sys.executable).parent / "docker-credential-ecrd"
        if not program.exists():
            pytest.skip(f"{program} is not installed: run `.venv/bin/python -m pip install -e .`")
        monkeypatch.setenv("PATH", f"{program.parent}{os.pathsep}{os.environ['PATH']}")
        path = docker_file(tmp_path, {"credHelpers": {registry.host: "ecrd"}})

        before = list_tags(registry, tmp_path, f"--authfile={path}")
        done = ecrd("refresh", "-c", str(write_config(tmp_path, emulator, registry)))
        tags = list_tags(registry, tmp_path, f"--authfile={path}")

        assert 1 == before.returncode
        assert 0 == done.returncode, done.stderr
        assert "" == done.stderr
        assert 0 == tags.returncode, tags.stderr
        assert [TAG] == json.loads(tags.stdout)["Tags"]
        assert [STANDARD] == list(json.loads(path.read_text())["auths"])

    @pytest.mark.skipif(
        shutil.which("docker-credential-ecr-login") is None,
        reason="docker-credential-ecr-login is not installed (apt-get install amazon-ecr-credential-helper)",
    )
    def test_ecr_login_helper_is_reported_and_auths_written(self, tmp_path, emulator, registry):
        """credHelpers[host] = "ecr-login": it cannot store; refresh fails, says what to change.

        Docker asks ecr-login, not auths, for the host: the login is not read (exit 1).
        """
        path = docker_file(tmp_path, {"credHelpers": {registry.host: "ecr-login"}})

        done = ecrd("refresh", "-c", str(write_config(tmp_path, emulator, registry)))

        assert 1 == done.returncode, done.stderr
        assert 1 == done.stderr.count("could not store")
        assert (
            f"Error: {registry.host}: ecrd could not store the credentials through "
            f"docker-credential-ecr-login (credHelpers in {path}): docker-credential-ecr-login "
            'cannot store credentials (it answers "not implemented"); '
        ) in done.stderr
        assert f'set credHelpers["{registry.host}"] to "ecrd"' in done.stderr
        assert {STANDARD, registry.host} == set(json.loads(path.read_text())["auths"])
