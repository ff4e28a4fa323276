"""The table of output types: every type the configuration accepts is written by its writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecrd.config.load import load_config
from ecrd.config.model import OUTPUT_TYPES, OutputSpec
from ecrd.errors import ConfigError
from ecrd.outputs.containers import ContainersOutput
from ecrd.outputs.docker import DockerOutput
from ecrd.outputs.netrc import NetrcOutput
from ecrd.outputs.writers import WRITERS, build_outputs
from ecrd.secret import Credentials, Secret
from tests.fakes import EXPIRES_AT

HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
CONFIG = Path("/srv/ecrd/config.yaml")


class TestTable:
    def test_every_accepted_type_has_one_writer(self):
        """The table has one row per output type the configuration accepts, in its order."""
        assert list(OUTPUT_TYPES) == list(WRITERS)

    def test_each_spec_gets_its_types_writer(self, tmp_path: Path):
        """build_outputs picks each spec's writer from the table, in the specs' order."""
        specs = [OutputSpec(type=kind, path=tmp_path / kind) for kind in reversed(OUTPUT_TYPES)]

        built = build_outputs(specs)

        assert [ContainersOutput, NetrcOutput, DockerOutput] == [type(o) for o in built]
        assert specs == [o.spec for o in built]

    def test_containers_output_is_written_as_json(self, tmp_path: Path):
        """A containers output is docker-format JSON, never netrc lines."""
        path = tmp_path / "auth.json"
        (output,) = build_outputs([OutputSpec(type="containers", path=path)])
        login = Credentials(username="AWS", password=Secret("pw"), expires_at=EXPIRES_AT)

        output.apply(logins={HOST: login}, remove={})

        assert {"auths": {HOST: {"auth": "QVdTOnB3"}}} == json.loads(path.read_text())


class TestConfiguration:
    def test_containers_type_is_accepted(self):
        """type: containers with podman's default path, ${XDG_RUNTIME_DIR} expanded."""
        text = (
            "outputs:\n  - type: containers\n    path: ${XDG_RUNTIME_DIR}/containers/auth.json\n"
            "registries: []\n"
        )

        config = load_config(CONFIG, env={"XDG_RUNTIME_DIR": "/run/user/1000"}, text=text)

        assert (
            OutputSpec(type="containers", path=Path("/run/user/1000/containers/auth.json")),
        ) == config.outputs

    def test_unknown_type_names_every_type(self):
        """An unknown type is an error at its value that lists the types from the table."""
        text = "outputs:\n  - type: podman\n    path: /x/auth.json\nregistries: []\n"

        with pytest.raises(ConfigError) as info:
            load_config(CONFIG, env={}, text=text)

        assert [
            f"{CONFIG}:2:11: outputs[0].type: expected docker, netrc or containers, got 'podman'"
        ] == list(info.value.errors)

    def test_example_containers_output_loads_once_uncommented(self):
        """The example configuration's commented-out containers output is valid as written."""
        example = Path(__file__).parents[2] / "config" / "ecrd.example.yaml"
        text = example.read_text().replace("  # - type: containers", "  - type: containers")
        text = text.replace("  #   path: ${XDG_RUNTIME_DIR}", "    path: ${XDG_RUNTIME_DIR}")

        config = load_config(CONFIG, env={"HOME": "/h", "XDG_RUNTIME_DIR": "/run/u"}, text=text)

        assert OutputSpec(type="containers", path=Path("/run/u/containers/auth.json")) in (
            config.outputs
        )
