"""Files podman and helm read first: entries there for managed hosts are reported."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from ecrd.outputs.shadows import find_shadows, shadow_files

if TYPE_CHECKING:
    from pathlib import Path

HOST = "111111111111.dkr.ecr.us-west-2.amazonaws.com"


def write_auths(path: Path, *keys: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": {k: {"auth": "QVdTOnB3"} for k in keys}}))
    return path


class TestShadowFiles:
    def test_podman_runtime_file_and_helm_config(self, tmp_path: Path):
        """Without overrides: podman's runtime and config auth.json, helm's registry config."""
        env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "run")}

        files = shadow_files(env)

        assert [
            (tmp_path / "run" / "containers" / "auth.json", "podman"),
            (tmp_path / ".config" / "containers" / "auth.json", "podman"),
            (tmp_path / ".config" / "helm" / "registry" / "config.json", "helm"),
        ] == files

    def test_overrides_from_the_environment(self, tmp_path: Path):
        """$REGISTRY_AUTH_FILE and $HELM_REGISTRY_CONFIG replace the defaults."""
        env = {
            "HOME": str(tmp_path),
            "XDG_RUNTIME_DIR": str(tmp_path / "run"),
            "REGISTRY_AUTH_FILE": "/x/auth.json",
            "HELM_REGISTRY_CONFIG": "/y/config.json",
        }

        files = [str(p) for p, _ in shadow_files(env)]

        assert "/x/auth.json" == files[0]
        assert "/y/config.json" == files[-1]
        assert str(tmp_path / "run" / "containers" / "auth.json") not in files


class TestFindShadows:
    def test_entry_for_a_managed_host_is_reported_with_the_fix(self, tmp_path: Path):
        """A podman login for a managed host is named with its file and the fix."""
        env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
        podman = write_auths(
            tmp_path / "run" / "containers" / "auth.json", f"https://{HOST}", "ghcr.io"
        )

        (shadow,) = find_shadows(hosts=[HOST, "other.example"], outputs=[], env=env)

        assert (podman, HOST, "podman") == (shadow.path, shadow.host, shadow.reader)
        assert f"add {podman} to outputs (type: containers)" in shadow.message

    def test_a_file_that_is_an_output_is_not_a_shadow(self, tmp_path: Path):
        """When the helm config is itself an output, its entries are ecrd's own."""
        env = {"HOME": str(tmp_path)}
        helm = write_auths(tmp_path / ".config" / "helm" / "registry" / "config.json", HOST)

        shadows = find_shadows(hosts=[HOST], outputs=[helm], env=env)

        assert [] == shadows

    def test_unparsable_or_missing_files_are_ignored(self, tmp_path: Path):
        """A file that is missing or not JSON shadows nothing."""
        env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
        broken = tmp_path / ".config" / "containers" / "auth.json"
        broken.parent.mkdir(parents=True)
        broken.write_text("{not json")

        assert [] == find_shadows(hosts=[HOST], outputs=[], env=env)


class TestShadowsFollowTheClientsRule:
    """A file shadows a host when its clients would find a login there that is not ecrd's."""

    @pytest.mark.parametrize(
        ("document", "shadowed"),
        [
            ({"credHelpers": {HOST: "pass"}}, True),
            ({"auths": {}, "credHelpers": {HOST: "ecrd"}}, False),
            ({"auths": {HOST: {"auth": "QVdTOnB3"}}, "credsStore": "pass"}, True),
            ({"auths": {HOST: {"auth": "QVdTOnB3"}}, "credHelpers": {HOST: "ecrd"}}, False),
        ],
    )
    def test_podman_file(self, tmp_path: Path, document: dict[str, object], shadowed: bool):
        """For podman, a helper named for the host shadows, unless it is ecrd's own.

        Otherwise podman reads auths, credsStore or not.
        """
        env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
        podman = tmp_path / "run" / "containers" / "auth.json"
        podman.parent.mkdir(parents=True)
        podman.write_text(json.dumps(document))

        found = find_shadows(hosts=[HOST], outputs=[], env=env)

        assert ([(podman, HOST)] if shadowed else []) == [(s.path, s.host) for s in found]

    def test_helm_file_with_a_store_does_not_read_auths(self, tmp_path: Path):
        """Helm follows docker's rule: with credsStore, its auths entry is not read."""
        env = {"HOME": str(tmp_path)}
        helm = tmp_path / ".config" / "helm" / "registry" / "config.json"
        helm.parent.mkdir(parents=True)
        helm.write_text(json.dumps({"auths": {HOST: {"auth": "QVdTOnB3"}}, "credsStore": "pass"}))

        assert [] == find_shadows(hosts=[HOST], outputs=[], env=env)

    def test_helm_shadow_is_fixed_by_a_docker_output(self, tmp_path: Path):
        """The fix named for helm's file is an output of type docker (podman's: containers)."""
        env = {"HOME": str(tmp_path)}
        helm = write_auths(tmp_path / ".config" / "helm" / "registry" / "config.json", HOST)

        (shadow,) = find_shadows(hosts=[HOST], outputs=[], env=env)

        assert f"add {helm} to outputs (type: docker)" in shadow.message
