"""The command line: exit codes, what it prints, options before or after the command."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import yaml
from click.testing import CliRunner

from ecrd.cli import cli
from ecrd.emulator.server import Emulator, Fault

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def config_file(tmp_path: Path, emulator: Emulator, *, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""\
aws:
  endpoint_url: {emulator.url}
outputs:
  - {{type: docker, path: {tmp_path}/docker.json}}
  - {{type: netrc, path: {tmp_path}/netrc}}
registries:
  - 111111111111.dkr.ecr.us-west-2.amazonaws.com
  - 222222222222.dkr.ecr.eu-west-1.amazonaws.com
{extra}"""
    )
    return path


class TestRefresh:
    def test_all_refreshed_exits_0_with_a_line_per_host(self, runner, tmp_path, emulator):
        """Every host gets a line with its expiry and the outputs written; exit 0."""
        path = config_file(tmp_path, emulator)

        result = runner.invoke(cli, ["refresh", "-c", str(path)])

        assert 0 == result.exit_code, result.output
        lines = result.stdout.splitlines()
        assert 2 == len(lines)
        assert lines[0].startswith("111111111111.dkr.ecr.us-west-2.amazonaws.com  expires ")
        assert "(in 11h59m)" in lines[0] or "(in 12h00m)" in lines[0]
        assert lines[0].endswith(f"{tmp_path}/docker.json, {tmp_path}/netrc")
        assert 2 == len(emulator.calls())

    def test_one_group_failing_exits_1_and_the_other_is_written(self, runner, tmp_path, emulator):
        """A failing group is reported on its line; the other group is still written."""
        path = config_file(tmp_path, emulator)
        emulator.inject(Fault(kind="access_denied", count=None, region="eu-west-1"))

        result = runner.invoke(cli, ["refresh", "-c", str(path)])

        assert 1 == result.exit_code
        failed = [line for line in result.stdout.splitlines() if "FAILED" in line]
        assert 1 == len(failed)
        assert failed[0].startswith(
            "222222222222.dkr.ecr.eu-west-1.amazonaws.com  FAILED  group ecr:eu-west-1"
        )
        assert "access denied" in failed[0]
        written = json.loads((tmp_path / "docker.json").read_text())["auths"]
        assert ["111111111111.dkr.ecr.us-west-2.amazonaws.com"] == list(written)

    def test_unparsable_output_exits_1_and_is_reported(self, runner, tmp_path, emulator):
        """A docker file that is not JSON is named on stderr, left as it was, exit 1."""
        path = config_file(tmp_path, emulator)
        (tmp_path / "docker.json").write_text("{oops")

        result = runner.invoke(cli, ["refresh", "-c", str(path)])

        assert 1 == result.exit_code
        assert f"Error: cannot parse {tmp_path}/docker.json" in result.stderr
        assert "{oops" == (tmp_path / "docker.json").read_text()
        assert (
            "machine 111111111111.dkr.ecr.us-west-2.amazonaws.com"
            in (tmp_path / "netrc").read_text()
        )

    def test_creds_store_is_reported(self, runner, tmp_path, emulator):
        """A credsStore that hides auths for managed hosts fails them: said on stderr, exit 1."""
        path = config_file(tmp_path, emulator)
        (tmp_path / "docker.json").write_text('{"credsStore": "desktop"}')

        result = runner.invoke(cli, ["refresh", "-c", str(path)])

        assert 1 == result.exit_code
        assert "Error: " in result.stderr
        assert "docker-credential-desktop" in result.stderr

    def test_bad_config_exits_2_naming_the_line(self, runner, tmp_path, emulator):
        """An invalid configuration is refused with FILE:LINE:COLUMN and exit 2; no call."""
        path = config_file(tmp_path, emulator, extra="refresh:\n  befor_expiry: 2h\n")

        result = runner.invoke(cli, ["refresh", "-c", str(path)])

        assert 2 == result.exit_code
        assert f"{path}:10:3: unknown key 'befor_expiry'" in result.stderr
        assert "did you mean 'before_expiry'" in result.stderr
        assert [] == emulator.calls()

    def test_missing_config_exits_2(self, runner, tmp_path):
        """A configuration file that does not exist is named; exit 2."""
        result = runner.invoke(cli, ["refresh", "-c", str(tmp_path / "nope.yaml")])

        assert 2 == result.exit_code
        assert str(tmp_path / "nope.yaml") in result.stderr

    def test_config_from_environment(self, runner, tmp_path, emulator, monkeypatch):
        """$ECRD_CONFIG names the configuration when -c is not given."""
        monkeypatch.setenv("ECRD_CONFIG", str(config_file(tmp_path, emulator)))

        result = runner.invoke(cli, ["refresh"])

        assert 0 == result.exit_code, result.output


class TestCheckConfig:
    def test_prints_the_normalized_configuration(self, runner, tmp_path, emulator):
        """A valid file is printed with its defaults filled in; exit 0."""
        path = config_file(tmp_path, emulator)

        result = runner.invoke(cli, ["check-config", "-c", str(path)])

        assert 0 == result.exit_code, result.output
        printed = yaml.safe_load(result.stdout)
        assert "6h" == printed["refresh"]["before_expiry"]
        assert ["docker", "netrc"] == [o["type"] for o in printed["outputs"]]
        assert "us-west-2" == printed["registries"][0]["region"]
        assert [] == emulator.calls()

    def test_every_error_is_listed(self, runner, tmp_path):
        """All mistakes of a file are reported, each with its line; exit 2."""
        path = tmp_path / "bad.yaml"
        path.write_text(
            "refresh:\n  jitter: soon\nregistries:\n  - not-a-registry\n  - registry_id: 12\n"
        )

        result = runner.invoke(cli, ["check-config", "--config", str(path)])

        assert 2 == result.exit_code
        errors = result.stderr.splitlines()
        assert 3 <= len(errors)
        assert [f"Error: {path}:2:", f"Error: {path}:4:", f"Error: {path}:5:"] == [
            e[: len(f"Error: {path}:2:")] for e in errors[:3]
        ]


class TestGlobalOptions:
    def test_options_before_the_command(self, runner, tmp_path, emulator):
        """-c and --log-level may come before the command's name."""
        path = config_file(tmp_path, emulator)

        result = runner.invoke(cli, ["-c", str(path), "--log-level", "debug", "check-config"])

        assert 0 == result.exit_code, result.output

    def test_version(self, runner):
        """--version prints the version."""
        result = runner.invoke(cli, ["--version"])

        assert 0 == result.exit_code
        assert result.stdout.startswith("ecrd, version ")
