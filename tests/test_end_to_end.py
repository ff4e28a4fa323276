"""`ecrd refresh` as a process, proven by real clients against a real registry on loopback.

The emulator issues the token, ecrd writes docker's config.json and a netrc, and then
skopeo (reading only that config.json) and curl (reading only that netrc) must get in to
Debian's docker-registry, whose htpasswd holds the emulator's password for user AWS.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from tests.process import ecrd
from tests.registry import REPOSITORY, TAG, LocalRegistry, serving, skopeo, tools_missing

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ecrd.emulator.server import Emulator

pytestmark = pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing()))

REGISTRY_ID = "123456789012"


@pytest.fixture
def registry(tmp_path: Path, stable_emulator: Emulator) -> Iterator[LocalRegistry]:
    """A registry that accepts AWS with the emulator's password, holding one tiny image."""
    root = tmp_path / "registry"
    root.mkdir()
    with serving(root, stable_emulator.password_for(REGISTRY_ID)) as local:
        yield local


def write_config(tmp_path: Path, emulator: Emulator, registry: LocalRegistry) -> Path:
    config = tmp_path / "ecrd.yaml"
    config.write_text(
        f"""\
aws:
  region: us-west-2
  endpoint_url: {emulator.url}
outputs:
  - type: docker
    path: {tmp_path}/out/docker/config.json
  - type: netrc
    path: {tmp_path}/out/netrc
registries:
  - registry_id: "{REGISTRY_ID}"
    hosts: ["{registry.host}"]
"""
    )
    return config


def list_tags(
    registry: LocalRegistry, tmp_path: Path, *auth: str
) -> subprocess.CompletedProcess[str]:
    return skopeo(
        "list-tags",
        "--tls-verify=false",
        *auth,
        f"docker://{registry.host}/{REPOSITORY}",
        policy=tmp_path,
    )


def curl_v2(registry: LocalRegistry, *auth: str) -> str:
    done = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            *auth,
            f"http://{registry.host}/v2/",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


class TestRealClients:
    def test_skopeo_and_curl_get_in_with_what_ecrd_wrote(
        self, tmp_path: Path, stable_emulator: Emulator, registry: LocalRegistry
    ):
        """After `ecrd refresh`, skopeo and curl authenticate; without the files, 401."""
        config = write_config(tmp_path, stable_emulator, registry)
        docker_config = tmp_path / "out" / "docker" / "config.json"
        netrc = tmp_path / "out" / "netrc"

        before_skopeo = list_tags(registry, tmp_path)
        before_curl = curl_v2(registry)
        done = ecrd("refresh", "-c", str(config))
        after_skopeo = list_tags(registry, tmp_path, "--authfile", str(docker_config))
        after_curl = curl_v2(registry, "--netrc-file", str(netrc))

        assert 1 == before_skopeo.returncode
        assert "401" in before_skopeo.stderr or "unauthorized" in before_skopeo.stderr.lower()
        assert "401" == before_curl
        assert 0 == done.returncode, done.stderr
        assert registry.host in done.stdout
        assert 0 == after_skopeo.returncode, after_skopeo.stderr
        assert [TAG] == json.loads(after_skopeo.stdout)["Tags"]
        assert "200" == after_curl
        assert [REGISTRY_ID] * 1 == [c.registry_ids[0] for c in stable_emulator.calls()]
        assert 0o600 == docker_config.stat().st_mode & 0o777
        assert 0o600 == netrc.stat().st_mode & 0o777
        assert 0o700 == docker_config.parent.stat().st_mode & 0o777

    def test_wrong_password_is_refused_by_the_registry(
        self, tmp_path: Path, stable_emulator: Emulator, registry: LocalRegistry
    ):
        """The proof can fail: once the registry expects another password, both get 401."""
        config = write_config(tmp_path, stable_emulator, registry)
        ecrd("refresh", "-c", str(config))

        registry.set_password("a-password-ecrd-never-saw-" + "z" * 60)
        refused_skopeo = list_tags(
            registry, tmp_path, "--authfile", str(tmp_path / "out" / "docker" / "config.json")
        )
        refused_curl = curl_v2(registry, "--netrc-file", str(tmp_path / "out" / "netrc"))

        assert 1 == refused_skopeo.returncode
        assert "401" == refused_curl

    def test_existing_docker_config_keeps_every_other_key_in_order(
        self, tmp_path: Path, stable_emulator: Emulator, registry: LocalRegistry
    ):
        """Other auths, credHelpers, proxies, HttpHeaders and unknown keys survive, in order."""
        config = write_config(tmp_path, stable_emulator, registry)
        docker_config = tmp_path / "out" / "docker" / "config.json"
        docker_config.parent.mkdir(parents=True)
        original: dict[str, Any] = {
            "auths": {
                "ghcr.io": {"auth": "dXNlcjpwYXNz"},
                "https://index.docker.io/v1/": {
                    "auth": "ZG9ja2VyOmh1Yg==",
                    "email": "x@example.com",
                },
            },
            "credHelpers": {"gcr.io": "gcloud"},
            "proxies": {"default": {"httpProxy": "http://127.0.0.1:3128"}},
            "HttpHeaders": {"User-Agent": "Docker-Client/24"},
            "experimental": "enabled",
            "x-unknown": {"nested": [1, 2, {"deep": True}]},
        }
        docker_config.write_text(json.dumps(original, indent="\t"))
        docker_config.chmod(0o644)

        done = ecrd("refresh", "-c", str(config))
        after = json.loads(docker_config.read_text())
        tags = list_tags(registry, tmp_path, "--authfile", str(docker_config))

        assert 0 == done.returncode, done.stderr
        assert list(original) == list(after)
        for key in list(original)[1:]:
            assert original[key] == after[key]
        standard = f"{REGISTRY_ID}.dkr.ecr.us-west-2.amazonaws.com"
        assert [*original["auths"], standard, registry.host] == list(after["auths"])
        assert original["auths"]["ghcr.io"] == after["auths"]["ghcr.io"]
        assert 0o644 == docker_config.stat().st_mode & 0o777
        assert 0 == tags.returncode, tags.stderr

    def test_netrc_keeps_other_machines_and_curl_reads_the_long_password(
        self, tmp_path: Path, stable_emulator: Emulator, registry: LocalRegistry
    ):
        """A netrc with other machines and a default: ours goes before default, curl uses it."""
        config = write_config(tmp_path, stable_emulator, registry)
        netrc = tmp_path / "out" / "netrc"
        netrc.parent.mkdir(parents=True)
        head = "# my machines\nmachine example.com login me password hunter2\n\n"
        tail = "default login anonymous password guest\n"
        netrc.write_text(head + tail)

        done = ecrd("refresh", "-c", str(config))
        text = netrc.read_text()

        assert 0 == done.returncode, done.stderr
        assert text.startswith(head)
        assert text.endswith(tail)
        assert "machine 127.0.0.1\nlogin AWS\npassword " in text
        assert "200" == curl_v2(registry, "--netrc-file", str(netrc))
