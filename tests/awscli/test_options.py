"""Parsing the AWS CLI's options: argparse's list options and abbreviations, the settings."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ecrd.awscli.inputs import load_cli_input
from ecrd.awscli.options import (
    AwsUsageError,
    GlobalOptions,
    ParameterError,
    SettingError,
    resolve_presentation,
    rewrite_args,
    unpack_list,
)
from ecrd.cli import cli

NAMES = {"--registry-ids", "--region", "--query", "--output", "--no-verify-ssl", "--help"}
TAKES_VALUE = {"--registry-ids", "--region", "--query", "--output"}


def rewrite(*args: str) -> list[str]:
    return rewrite_args(args, names=NAMES, takes_value=TAKES_VALUE)


class TestRewriteArgs:
    def test_list_option_takes_values_up_to_the_next_option(self):
        """`--registry-ids A B --region R` packs A and B; --region keeps its value."""
        expected = ["--registry-ids", json.dumps(["1", "2"]), "--region", "r"]

        assert expected == rewrite("--registry-ids", "1", "2", "--region", "r")

    def test_list_option_without_values_is_an_empty_list(self):
        """A bare --registry-ids gives [] (botocore then rejects it, as for the AWS CLI)."""
        assert ["--registry-ids", "[]"] == rewrite("--registry-ids")

    def test_equals_form_takes_one_value(self):
        """--registry-ids=A takes A alone; what follows is not its value."""
        assert ["--registry-ids", '["1"]', "2"] == rewrite("--registry-ids=1", "2")

    def test_unique_prefix_is_expanded(self):
        """--reg is --region, --registry... ambiguous; --no-v is --no-verify-ssl."""
        assert ["--registry-ids", '["1"]', "--no-verify-ssl"] == rewrite(
            "--registry", "1", "--no-v"
        )

    def test_ambiguous_prefix_is_a_usage_error(self):
        """A prefix of two options names both, in argparse's words."""
        with pytest.raises(
            AwsUsageError, match="ambiguous option: --re could match --region, --registry-ids"
        ):
            rewrite("--re", "x")

    def test_value_of_an_option_is_left_alone(self):
        """A value that looks like an option stays the value (`--query --registry-ids`)."""
        assert ["--query", "--registry", "--output", "json"] == rewrite(
            "--query", "--registry", "--output", "json"
        )

    def test_unknown_option_and_negative_numbers_pass_through(self):
        """Unknown options reach click untouched; -1 is a value of a list option."""
        assert ["--registry-ids", '["-1"]', "--bogus", "x"] == rewrite(
            "--registry-ids", "-1", "--bogus", "x"
        )


class TestUnpackList:
    def test_values_as_given(self):
        """Each value is an item; commas are not separators (as the AWS CLI)."""
        assert ["1,2", "3"] == unpack_list(json.dumps(["1,2", "3"]), option="--registry-ids")

    def test_one_json_list(self):
        """One value written as a JSON list is that list."""
        assert ["1", "2"] == unpack_list(json.dumps(['["1", "2"]']), option="--registry-ids")

    def test_bad_json_list(self):
        """A value that starts like a JSON list but is not one: the AWS CLI's message."""
        with pytest.raises(
            ParameterError, match="Error parsing parameter '--registry-ids': Invalid JSON"
        ):
            unpack_list(json.dumps(["[1,"]), option="--registry-ids")


class TestPresentation:
    @pytest.mark.parametrize(
        ("flag", "env", "profile", "expected"),
        [
            ("table", "text", "yaml", "table"),
            (None, "text", "yaml", "text"),
            (None, None, "yaml", "yaml"),
            (None, None, None, "json"),
        ],
    )
    def test_output_precedence(self, flag, env, profile, expected):
        """--output, then AWS_DEFAULT_OUTPUT, then the profile's output, then json."""
        environ = {"AWS_DEFAULT_OUTPUT": env} if env else {}
        settings = {"output": profile} if profile else {}

        presentation = resolve_presentation(
            GlobalOptions(output=flag), profile_settings=settings, environ=environ
        )

        assert expected == presentation.output

    @pytest.mark.parametrize(
        ("flag", "profile", "expected"),
        [("iso8601", "wire", True), ("wire", "iso8601", False), (None, "iso8601", True), (None, "none", False), (None, None, False)],
    )  # fmt: skip
    def test_timestamp_precedence(self, flag, profile, expected):
        """--cli-timestamp-format, then cli_timestamp_format, then wire (epoch seconds)."""
        settings = {"cli_timestamp_format": profile} if profile else {}

        presentation = resolve_presentation(
            GlobalOptions(timestamp_format=flag), profile_settings=settings, environ={}
        )

        assert expected == presentation.iso8601

    @pytest.mark.parametrize(
        ("environ", "settings", "message"),
        [
            ({"AWS_DEFAULT_OUTPUT": "xml"}, {}, "Unknown output type: xml"),
            ({}, {"cli_timestamp_format": "epoch"}, "Unknown cli_timestamp_format value: epoch"),
        ],
    )
    def test_unknown_settings_are_named(self, environ, settings, message):
        """A bad output or timestamp format in the environment or profile is named."""
        with pytest.raises(SettingError, match=message):
            resolve_presentation(GlobalOptions(), profile_settings=settings, environ=environ)


class TestCliInput:
    def test_yaml_from_a_file(self, tmp_path):
        """--cli-input-yaml file://PATH reads the parameters from YAML."""
        path = tmp_path / "in.yaml"
        path.write_text("registryIds:\n- '111111111111'\n")

        assert {"registryIds": ["111111111111"]} == load_cli_input(
            json_input=None, yaml_input=f"file://{path}"
        )

    def test_both_inputs_are_refused(self):
        """--cli-input-json and --cli-input-yaml together is an error."""
        with pytest.raises(
            ParameterError, match="Only one of --cli-input-json or --cli-input-yaml"
        ):
            load_cli_input(json_input="{}", yaml_input="{}")

    def test_input_must_be_a_mapping(self):
        """A JSON list is not a set of parameters."""
        with pytest.raises(ParameterError, match="Invalid JSON: the input is not a mapping"):
            load_cli_input(json_input="[1]", yaml_input=None)

    def test_missing_file_is_named(self, tmp_path):
        """A file:// that cannot be read: the AWS CLI's message, with the path."""
        with pytest.raises(ParameterError, match="Unable to load paramfile file://.*nope.json"):
            load_cli_input(json_input=f"file://{tmp_path}/nope.json", yaml_input=None)


class TestGlobalOptions:
    @pytest.mark.parametrize(
        ("options", "expected"),
        [
            (GlobalOptions(), None),
            (GlobalOptions(ca_bundle="/ca.pem"), "/ca.pem"),
            (GlobalOptions(verify_ssl=False, ca_bundle="/ca.pem"), False),
        ],
    )
    def test_verify(self, options, expected):
        """--no-verify-ssl wins over --ca-bundle; neither leaves it to AWS_CA_BUNDLE."""
        assert expected == options.verify()

    def test_region_precedence(self):
        """--region, then AWS_REGION, then None (botocore: AWS_DEFAULT_REGION, profile)."""
        environ = {"AWS_REGION": "eu-north-1"}

        assert ("us-east-2", "eu-north-1", None) == (
            GlobalOptions(region="us-east-2").region_name(environ),
            GlobalOptions().region_name(environ),
            GlobalOptions().region_name({}),
        )

    def test_endpoint_without_scheme(self):
        """An endpoint URL without a scheme: the AWS CLI's message."""
        with pytest.raises(
            ParameterError, match='Bad value for --endpoint-url "localhost:1": scheme is missing'
        ):
            GlobalOptions(endpoint_url="localhost:1").checked_endpoint_url()


class TestEcrdConfigRefused:
    @pytest.mark.parametrize(
        "args",
        [
            ["get-login-password", "-c", "ci.yaml"],
            ["get-login-password", "-cci.yaml"],
            ["get-authorization-token", "--config", "ci.yaml"],
            ["get-authorization-token", "--registry-ids", "111111111111", "--config=ci.yaml"],
        ],
    )
    def test_config_option_is_a_usage_error_that_says_why(self, args):
        """-c/--config given to an AWS CLI command: exit 252, saying it reads no ecrd configuration."""
        result = CliRunner().invoke(cli, args, prog_name="ecrd")

        assert 252 == result.exit_code
        assert "do not read ecrd's configuration (-c/--config)" in result.stderr
        assert "Traceback" not in result.stderr

    def test_a_value_that_looks_like_c_is_still_a_value(self):
        """`--query -c` is a query (a bad one), not ecrd's option."""
        assert ["--query", "-c"] == rewrite("--query", "-c")
