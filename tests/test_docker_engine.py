"""The real docker engine pulls with the logins ecrd keeps, and docker's own logins survive.

dockerd (tests/dockerd.py) pulls from a loopback docker-registry that lets AWS in with the
emulator's password: through the `auths` entry ecrd wrote, and through `credHelpers`
naming `ecrd` (docker-credential-ecrd on the CLI's PATH). Then `docker login` and
`docker logout` to another registry while `ecrd run` rewrites config.json every second.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ecrd.emulator.server import Emulator
from tests.registry import REPOSITORY, TAG, LocalRegistry, serving, tools_missing

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.dockerd import Dockerd

REGISTRY_ID = "123456789012"
MANAGED = f"{REGISTRY_ID}.dkr.ecr.us-west-2.amazonaws.com"
HELPER = Path(sys.executable).parent / "docker-credential-ecrd"

pytestmark = [
    pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing())),
    pytest.mark.xdist_group("dockerd"),  # one engine for every test here
]


@pytest.fixture(scope="module")
def stable() -> Iterator[Emulator]:
    """An ECR endpoint giving one password per registry id, for the registry to accept."""
    with Emulator(stable_passwords=True) as emu:
        yield emu


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, stable: Emulator) -> Iterator[LocalRegistry]:
    """A registry holding one tiny image, letting AWS in with the emulator's password."""
    with serving(tmp_path_factory.mktemp("registry"), stable.password_for(REGISTRY_ID)) as local:
        yield local


def client_env(tmp_path: Path, name: str, *, state: Path) -> dict[str, str]:
    """The CLI's whole environment: its own DOCKER_CONFIG and a PATH without `pass`.

    On PATH only docker-credential-ecrd, so the CLI picks no store of its own.
    """
    bin_dir = tmp_path / f"{name}-bin"
    bin_dir.mkdir()
    (bin_dir / HELPER.name).symlink_to(HELPER)
    config = tmp_path / f"{name}-docker"
    config.mkdir(mode=0o700)
    return {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path / "home"),
        "DOCKER_CONFIG": str(config),
        "STATE_DIRECTORY": str(state),
    }


def refresh(config: Path, outputs: str, registry: LocalRegistry, emulator: Emulator, state: Path):
    """A real `ecrd refresh` managing the registry's host (as an alias)."""
    config.write_text(
        f"""\
aws: {{region: us-west-2, endpoint_url: "{emulator.url}"}}
outputs:
{outputs}
registries:
  - registry_id: "{REGISTRY_ID}"
    hosts: ["{registry.host}"]
"""
    )
    done = subprocess.run(
        [sys.executable, "-m", "ecrd", "refresh", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "STATE_DIRECTORY": str(state)},
    )
    assert 0 == done.returncode, done.stderr


def pull(dockerd: Dockerd, image: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker pull` of ``image``, removed first so that every layer is fetched."""
    dockerd.cli("rmi", "--force", image, env=env)
    return dockerd.cli("pull", image, env=env)


class TestPull:
    def test_pull_with_the_login_ecrd_wrote_in_auths(self, dockerd, registry, stable, tmp_path):
        """The `auths` entry ecrd writes lets docker pull (without it, the same pull is refused)."""
        state = tmp_path / "state"
        env = client_env(tmp_path, "auths", state=state)
        image = f"{registry.host}/{REPOSITORY}:{TAG}"
        refused = pull(dockerd, image, env)
        docker_file = Path(env["DOCKER_CONFIG"]) / "config.json"
        refresh(
            tmp_path / "ecrd.yaml",
            f"  - {{type: docker, path: {docker_file}}}",
            registry,
            stable,
            state,
        )

        pulled = pull(dockerd, image, env)

        assert 0 != refused.returncode
        assert 0 == pulled.returncode, pulled.stderr
        assert registry.host in json.loads(docker_file.read_text())["auths"]

    def test_pull_through_cred_helpers_naming_ecrd(self, dockerd, registry, stable, tmp_path):
        """A `credHelpers` entry naming ecrd, in a file ecrd does not write: docker pulls."""
        state = tmp_path / "state"
        env = client_env(tmp_path, "helper", state=state)
        docker_file = Path(env["DOCKER_CONFIG"]) / "config.json"
        docker_file.write_text(json.dumps({"credHelpers": {registry.host: "ecrd"}}))
        refresh(
            tmp_path / "ecrd.yaml",
            f"  - {{type: netrc, path: {tmp_path}/netrc}}",
            registry,
            stable,
            state,
        )
        before = docker_file.read_bytes()

        pulled = pull(dockerd, f"{registry.host}/{REPOSITORY}:{TAG}", env)

        assert 0 == pulled.returncode, pulled.stderr
        assert before == docker_file.read_bytes()


@pytest.fixture
def other(tmp_path: Path) -> Iterator[LocalRegistry]:
    """Another registry, that `docker login` checks a password against."""
    root = tmp_path / "other"
    root.mkdir()
    with serving(root, "other-password") as local:
        yield local


def wait_for_rewrite(path: Path, after: str, *, timeout: float = 60) -> dict[str, Any]:
    """The docker file once ecrd has written a new token for MANAGED (not ``after``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        document: dict[str, Any]
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            document = {}
        auth = document.get("auths", {}).get(MANAGED, {}).get("auth")
        if auth and auth != after:
            return document
        # The daemon's next write is the event; the file is all there is to watch.
        time.sleep(0.05)
    msg = f"ecrd did not rewrite {path} within {timeout:.0f} s"
    raise AssertionError(msg)


class TestLoginBesideTheDaemon:
    def test_login_and_logout_survive_rewrites_every_second(self, dockerd, other, tmp_path):
        """`docker login`/`logout` beside `ecrd run` rewriting config.json every second.

        The other registry's login is never lost, and its logout never undone.
        """
        state = tmp_path / "state"
        env = client_env(tmp_path, "login", state=state)
        docker_file = Path(env["DOCKER_CONFIG"]) / "config.json"
        config = tmp_path / "ecrd.yaml"
        with Emulator(token_lifetime=timedelta(seconds=4)) as short:
            config.write_text(
                f"""\
refresh: {{before_expiry: 3s, jitter: 0, min_interval: 1s, retry_initial: 1s, retry_max: 1s}}
aws: {{region: us-west-2, endpoint_url: "{short.url}"}}
outputs:
  - {{type: docker, path: {docker_file}}}
registries:
  - {MANAGED}
"""
            )
            daemon = subprocess.Popen(
                [sys.executable, "-m", "ecrd", "run", "-c", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "STATE_DIRECTORY": str(state)},
            )
            try:
                rounds = self._login_logout(dockerd, other, env, docker_file)
            finally:
                daemon.terminate()
                daemon.wait(timeout=30)

        assert [("kept", "gone")] * 3 == rounds

    @staticmethod
    def _login_logout(
        dockerd: Dockerd, other: LocalRegistry, env: dict[str, str], docker_file: Path
    ) -> list[tuple[str, str]]:
        """Three times: log in, see ecrd rewrite, log out, see ecrd rewrite; what survived."""
        auth = ""
        rounds = []
        for _ in range(3):
            auth = str(wait_for_rewrite(docker_file, auth)["auths"][MANAGED]["auth"])
            login = dockerd.cli(
                "login",
                "--username",
                "AWS",
                "--password-stdin",
                other.host,
                env=env,
                stdin="other-password",
            )
            assert 0 == login.returncode, login.stderr
            document = wait_for_rewrite(docker_file, auth)
            auth = str(document["auths"][MANAGED]["auth"])
            kept = document["auths"].get(other.host)
            logout = dockerd.cli("logout", other.host, env=env)
            assert 0 == logout.returncode, logout.stderr
            document = wait_for_rewrite(docker_file, auth)
            auth = str(document["auths"][MANAGED]["auth"])
            back = document["auths"].get(other.host)
            expected = base64.b64encode(b"AWS:other-password").decode()
            rounds.append(
                (
                    "kept" if kept == {"auth": expected} else f"lost: {kept}",
                    "gone" if back is None else "brought back",
                )
            )
        return rounds
