"""The command line: exit codes, what it prints, options before or after the command."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import click
import pytest
import yaml
from click.testing import CliRunner

from ecrd.cli import cli
from ecrd.cli_options import EcrdGroup
from ecrd.emulator.server import Emulator, Fault
from ecrd.errors import ConfigError, StateError

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

    def test_later_option_wins(self, runner, tmp_path, emulator):
        """An option given before and after the command's name keeps the later value."""
        path = config_file(tmp_path, emulator)

        result = runner.invoke(
            cli, [f"--config={tmp_path / 'nope.yaml'}", "check-config", "-c", str(path)]
        )

        assert 0 == result.exit_code, result.output
        assert f"# {path}: valid" == result.stdout.splitlines()[0]

    def test_region_unknown_to_botocore(self, runner, tmp_path):
        """check-config says what refresh would: an unknown region, the closest one, where."""
        path = tmp_path / "config.yaml"
        path.write_text("registries:\n  - 111111111111.dkr.ecr.us-wets-2.amazonaws.com\n")

        result = runner.invoke(cli, ["check-config", "-c", str(path)])

        assert 2 == result.exit_code
        assert result.stderr.startswith(
            f"Error: {path}:2:5: unknown region 'us-wets-2' (did you mean 'us-west-2'?)"
        )


class TestConfigOnlyWhereRead:
    @pytest.mark.parametrize("command", ["get-login-password", "get-authorization-token"])
    @pytest.mark.parametrize("option", [["-c", "x.yaml"], ["--config", "x.yaml"], ["-cx.yaml"]])
    def test_aws_cli_commands_refuse_config_before_their_name(self, runner, command, option):
        """-c before an AWS CLI command is the same usage error (252) as after it."""
        before = runner.invoke(cli, [*option, command])
        after = runner.invoke(cli, [command, *option])

        assert (252, 252) == (before.exit_code, after.exit_code)
        assert after.stderr == before.stderr
        assert option[0] in before.stderr

    @pytest.mark.parametrize("command", ["demo", "emulator"])
    @pytest.mark.parametrize("where", ["before", "after"])
    def test_demo_and_emulator_take_no_config(self, runner, command, where):
        """The demo and the emulator read no configuration: -c is a usage error, not ignored."""
        args = ["-c", "x.yaml", command] if where == "before" else [command, "-c", "x.yaml"]

        result = runner.invoke(cli, args)

        assert 2 == result.exit_code
        assert "No such option" in result.stderr

    def test_emulator_help_does_not_list_config(self, runner):
        """The emulator's --help shows the log options and not -c/--config."""
        result = runner.invoke(cli, ["emulator", "--help"])

        assert 0 == result.exit_code
        assert "--log-level" in result.stdout
        assert "--config" not in result.stdout


class TestHelp:
    def test_summaries_are_whole(self, runner):
        """The --help of ecrd shows each command's whole first sentence, never cut with "..."."""
        result = runner.invoke(cli, ["--help"])

        assert 0 == result.exit_code
        commands = result.stdout.partition("Commands:")[2]
        assert "..." not in commands
        shown = "".join(commands.split())  # wrapped lines, read as one
        for name in ("get-login-password", "get-authorization-token", "emulator", "run"):
            first = cli.get_command(click.Context(cli), name).help.split(".")[0]  # type: ignore[union-attr]
            assert f"{name}{''.join(first.split())}." in shown


class TestErrors:
    def test_ecrd_error_becomes_error_line_and_exit_code(self, runner):
        """An EcrdError from any command is 'Error: <message>' on stderr, with its exit code."""
        group = EcrdGroup("g")

        @group.command()
        def broken() -> None:
            raise StateError("cannot read /state/state.json: permission denied")

        result = runner.invoke(group, ["broken"])

        assert 1 == result.exit_code
        assert "Error: cannot read /state/state.json: permission denied\n" == result.stderr

    def test_config_error_prints_each_error(self, runner):
        """A ConfigError with several mistakes prints one 'Error:' line for each."""
        group = EcrdGroup("g")

        @group.command()
        def bad() -> None:
            raise ConfigError("a\nb", errors=("f:1:1: a", "f:2:1: b"))

        result = runner.invoke(group, ["bad"])

        assert 2 == result.exit_code
        assert "Error: f:1:1: a\nError: f:2:1: b\n" == result.stderr

    def test_other_exceptions_keep_their_traceback(self, runner):
        """Anything but an EcrdError is a bug: it is not turned into an error line."""
        group = EcrdGroup("g")

        @group.command()
        def bug() -> None:
            raise KeyError("x")

        result = runner.invoke(group, ["bug"])

        assert isinstance(result.exception, KeyError)


class TestStartCost:
    """What a command imports decides how fast it starts: count modules, not milliseconds."""

    @pytest.mark.parametrize(
        ("command", "absent"),
        [
            ("--version", ["yaml", "structlog", "botocore", "ecrd.config", "ecrd.awscli"]),
            ("check-config", ["structlog", "botocore", "boto3", "ecrd.awscli", "ecrd.service"]),
        ],
    )
    def test_imports_only_what_the_command_runs(self, tmp_path, command, absent):
        """--version and check-config load neither structlog, boto3, nor other commands.

        Nor importlib.metadata (for the version) or pydantic.
        """
        path = tmp_path / "config.yaml"
        path.write_text("registries:\n  - 111111111111.dkr.ecr.us-west-2.amazonaws.com\n")
        code = (
            "import json, sys\n"
            "from ecrd.cli import cli\n"
            "try:\n    cli()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
        )
        args = [command] if command == "--version" else [command, "-c", str(path)]

        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
        )

        loaded = json.loads(done.stderr.splitlines()[-1])
        unwanted = (*absent, "importlib.metadata", "pydantic")
        assert [] == [
            m for m in loaded if m in unwanted or m.startswith(tuple(f"{u}." for u in unwanted))
        ]
