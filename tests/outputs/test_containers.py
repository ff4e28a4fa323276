"""ContainersOutput: the auth.json of podman, skopeo and buildah.

Written as docker's file, but routed as those tools read it: credHelpers honoured,
credsStore ignored.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from ecrd.config.model import OutputSpec
from ecrd.outputs import fingerprint
from ecrd.outputs.containers import ContainersOutput
from ecrd.outputs.docker import DockerOutput
from ecrd.problems import NOT_READ
from tests.logins import HOST, OTHER, auth, login
from tests.logins import read_json as read
from tests.logins import write_json as write
from tests.process import ecrd
from tests.registry import REPOSITORY, TAG, LocalRegistry, serving, skopeo, tools_missing

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator
    from pathlib import Path

    from ecrd.emulator.server import Emulator

FOREIGN = {"quay.io": {"auth": "cXVheTpx"}}


def output(path: Path) -> ContainersOutput:
    return ContainersOutput(OutputSpec(type="containers", path=path))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "run" / "containers" / "auth.json"


class TestContainersOutput:
    def test_auths_entries_are_set_and_every_other_key_kept_in_order(self, path):
        """Each host gets docker's auths entry; other keys and entries keep values and order."""
        before = {"auths": {**FOREIGN, HOST: {"auth": "b2xk"}}, "zzz": [1, "é"], "aaa": {}}
        write(path, before)

        result = output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})

        after = read(path)
        assert [("auths", {**FOREIGN, HOST: {"auth": auth()}, OTHER: {"auth": auth()}}),
                ("zzz", [1, "é"]), ("aaa", {})] == list(after.items())  # fmt: skip
        assert {HOST: fingerprint(auth()), OTHER: fingerprint(auth())} == dict(result.fingerprints)

    def test_creds_store_is_ignored(self, path, fake):
        """A credsStore is kept in the file but not followed: the hosts go to auths.

        The store gets no call (podman, skopeo and buildah ignore credsStore), and nothing is
        warned.
        """
        write(path, {"credsStore": "fake", "auths": FOREIGN})

        result = output(path).apply(logins={HOST: login()}, remove={})

        assert [] == fake.calls()
        assert {"credsStore": "fake", "auths": {**FOREIGN, HOST: {"auth": auth()}}} == read(path)
        assert ((), ()) == (result.problems, result.stored)

    def test_docker_output_follows_the_same_creds_store(self, path, fake):
        """The contrast: the docker writer, given the same file, stores through credsStore."""
        write(path, {"credsStore": "fake", "auths": FOREIGN})

        DockerOutput(OutputSpec(type="docker", path=path)).apply(logins={HOST: login()}, remove={})

        assert [("store", HOST)] == fake.calls()
        assert {"credsStore": "fake", "auths": FOREIGN} == read(path)

    def test_cred_helpers_host_is_stored_through_its_helper(self, path, fake):
        """credHelpers[host] = NAME: the host is stored through NAME, with no auths entry."""
        write(path, {"credsStore": "other", "credHelpers": {HOST: "fake"}})

        result = output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})

        assert [("store", HOST)] == fake.calls()
        assert {OTHER: {"auth": auth()}} == read(path)["auths"]
        assert ((HOST,), ()) == (result.stored, result.problems)

    def test_ecrd_helper_is_delegated(self, path, fake):
        """credHelpers[host] = "ecrd": nothing stored and no auths entry; ecrd serves it."""
        write(path, {"credsStore": "fake", "credHelpers": {HOST: "ecrd"}})

        result = output(path).apply(logins={HOST: login()}, remove={})

        assert ([], (HOST,), False) == (fake.calls(), result.delegated, result.written)

    def test_failing_cred_helper_names_the_tools_that_ask_it(self, path, tmp_path, monkeypatch):
        """A credHelpers helper that is missing: auths gets the login, with a warning.

        The warning says that podman, skopeo and buildah ask that helper.
        """
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        write(path, {"credHelpers": {HOST: "ecrd-test-missing"}})

        result = output(path).apply(logins={HOST: login()}, remove={})

        assert {HOST: {"auth": auth()}} == read(path)["auths"]
        assert ((HOST, NOT_READ),) == tuple((p.host, p.code) for p in result.problems)
        assert (
            "; podman, skopeo and buildah ask docker-credential-ecrd-test-missing for this host"
            in result.problems[0].message
        )

    def test_removed_host_loses_only_ecrd_entry(self, path):
        """A host that left: ecrd's own entry goes; another entry and credsStore stay."""
        write(path, {"credsStore": "fake", "auths": {**FOREIGN, HOST: {"auth": auth()}}})

        result = output(path).apply(logins={}, remove={HOST: fingerprint(auth())})

        assert {"credsStore": "fake", "auths": FOREIGN} == read(path)
        assert (HOST,) == result.removed


@pytest.fixture
def registry(tmp_path: Path, stable_emulator: Emulator) -> Iterator[LocalRegistry]:
    """A registry that accepts AWS with the emulator's password, holding one tiny image."""
    root = tmp_path / "registry"
    root.mkdir()
    with serving(root, stable_emulator.password_for("123456789012")) as local:
        yield local


def write_config(
    tmp_path: Path, emulator: Emulator, registry: LocalRegistry, *, podman: bool
) -> Path:
    config = tmp_path / "ecrd.yaml"
    outputs = "  - type: containers\n    path: ${XDG_RUNTIME_DIR}/containers/auth.json\n"
    config.write_text(
        f"aws:\n  region: us-west-2\n  endpoint_url: {emulator.url}\n"
        f"outputs:\n{outputs if podman else ''}"
        f"  - {{type: docker, path: {tmp_path}/docker/config.json}}\n"
        f"registries:\n  - registry_id: '123456789012'\n    hosts: ['{registry.host}']\n"
    )
    return config


def inspect(
    registry: LocalRegistry, tmp_path: Path, authfile: Path
) -> subprocess.CompletedProcess[str]:
    """Run `skopeo inspect` with ``authfile``; HOME holds no other auth file (isolated_env)."""
    return skopeo(
        "inspect",
        f"--authfile={authfile}",
        "--tls-verify=false",
        f"docker://{registry.host}/{REPOSITORY}:{TAG}",
        policy=tmp_path,
    )


@pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing()))
class TestRealSkopeo:
    def test_skopeo_reads_the_containers_output(self, tmp_path, stable_emulator, registry):
        """After `ecrd refresh`, skopeo gets in with the auth.json ecrd wrote; before, a 401.

        The file's credsStore names a store that does not exist: ecrd and skopeo both ignore it.
        """
        authfile = tmp_path / "run" / "containers" / "auth.json"
        write(authfile, {"credsStore": "ecrd-test-missing", "auths": FOREIGN})
        config = write_config(tmp_path, stable_emulator, registry, podman=True)

        before = inspect(registry, tmp_path, authfile)
        done = ecrd("refresh", "-c", str(config))
        after = inspect(registry, tmp_path, authfile)

        assert 1 == before.returncode
        assert (0, "") == (done.returncode, done.stderr)
        assert 0 == after.returncode, after.stderr
        assert f"{registry.host}/{REPOSITORY}" == json.loads(after.stdout)["Name"]
        document = read(authfile)
        assert ["credsStore", "auths"] == list(document)
        assert ["quay.io", HOST, registry.host] == list(document["auths"])  # type: ignore[call-overload]

    def test_output_that_leaves_loses_ecrd_entries_only(self, tmp_path, stable_emulator, registry):
        """A containers output dropped from the configuration loses ecrd's entry.

        At the next refresh; the other entries and keys stay, and skopeo no longer gets in.
        """
        authfile = tmp_path / "run" / "containers" / "auth.json"
        write(authfile, {"credsStore": "ecrd-test-missing", "auths": FOREIGN})
        ecrd("refresh", "-c", str(write_config(tmp_path, stable_emulator, registry, podman=True)))

        done = ecrd(
            "refresh", "-c", str(write_config(tmp_path, stable_emulator, registry, podman=False))
        )

        assert (0, "") == (done.returncode, done.stderr)
        assert {"credsStore": "ecrd-test-missing", "auths": FOREIGN} == read(authfile)
        assert 1 == inspect(registry, tmp_path, authfile).returncode
