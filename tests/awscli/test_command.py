"""ecrd's get-authorization-token and get-login-password where no AWS CLI v1 can compare.

yaml and yaml-stream (v2 only), v2's exit codes for the remaining failures, the knobs that
change the request, the options accepted for compatibility, and secrets in logs.
"""

from __future__ import annotations

import json
import logging
from typing import NamedTuple

import pytest
import yaml

from ecrd.emulator.server import DEFAULT_ACCOUNT, Emulator, Fault
from tests.awscli.conftest import run_ecrd

IDS = ("111111111111", "222222222222")


class FailureCase(NamedTuple):
    name: str
    args: list[str]
    env: dict[str, str]
    code: int
    first_line: str


def token_run(emulator: Emulator, *args: str):
    return run_ecrd("get-authorization-token", "--endpoint-url", emulator.url, *args)


class TestYamlOutput:
    def test_yaml_is_the_json_answer(self, fixed_emulator):
        """--output yaml parses to exactly what --output json prints."""
        as_json = token_run(fixed_emulator, "--registry-ids", *IDS)
        as_yaml = token_run(fixed_emulator, "--registry-ids", *IDS, "--output", "yaml")

        assert (0, 0) == (as_json.exit_code, as_yaml.exit_code)
        assert json.loads(as_json.stdout) == yaml.safe_load(as_yaml.stdout)
        assert as_yaml.stdout.startswith(b"authorizationData:\n- authorizationToken: ")

    def test_yaml_stream_is_a_list_of_the_answer(self, fixed_emulator):
        """--output yaml-stream parses to a list holding the json answer (one page)."""
        as_json = token_run(fixed_emulator)
        as_stream = token_run(fixed_emulator, "--output", "yaml-stream")

        assert [json.loads(as_json.stdout)] == yaml.safe_load(as_stream.stdout)

    def test_yaml_with_query_and_iso8601(self, fixed_emulator, local_tz):
        """--query and --cli-timestamp-format iso8601 apply to yaml as to json."""
        result = token_run(
            fixed_emulator,
            *("--output", "yaml", "--cli-timestamp-format", "iso8601"),
            *("--query", "authorizationData[0].expiresAt"),
        )

        assert f'"2025-01-02T20:34:05.678000{local_tz}"\n'.encode() == result.stdout

    def test_yaml_input_skeleton(self):
        """--generate-cli-skeleton yaml-input reads back as the JSON input skeleton."""
        as_yaml = run_ecrd("get-authorization-token", "--generate-cli-skeleton", "yaml-input")
        as_json = run_ecrd("get-authorization-token", "--generate-cli-skeleton", "input")

        assert json.loads(as_json.stdout) == yaml.safe_load(as_yaml.stdout)
        assert b"registryIds:  # A list of Amazon Web Services account IDs" in as_yaml.stdout

    def test_output_off_prints_nothing(self, fixed_emulator):
        """--output off (v2) makes the call and prints nothing; the exit code tells."""
        result = token_run(fixed_emulator, "--output", "off")

        assert (b"", 0, 1) == (result.stdout, result.exit_code, len(fixed_emulator.calls()))


class TestExitCodes:
    @pytest.mark.parametrize(
        "case",
        [
            FailureCase("empty-registry-ids", ["--registry-ids"], {}, 252, "Parameter validation failed:"),
            FailureCase("two-inputs", ["--cli-input-json", "{}", "--cli-input-yaml", "{}"], {}, 252, "Only one of --cli-input-json or --cli-input-yaml may be specified."),
            FailureCase("bad-timeout", ["--cli-read-timeout", "soon"], {}, 252, "usage: ecrd get-authorization-token [options]"),
            FailureCase("bad-output-setting", [], {"AWS_DEFAULT_OUTPUT": "xml"}, 253, "Unknown output type: xml"),
            FailureCase("bad-endpoint-setting", [], {"AWS_ENDPOINT_URL_ECR": "localhost:1"}, 255, "Invalid endpoint: localhost:1"),
        ],
        ids=lambda case: case.name,
    )  # fmt: skip
    def test_failures_before_the_call(self, monkeypatch, case):
        """Usage 252, configuration 253, anything else 255, each with a message on stderr."""
        for name, value in case.env.items():
            monkeypatch.setenv(name, value)

        result = run_ecrd("get-authorization-token", *case.args)

        assert (case.code, case.first_line, b"") == (
            result.exit_code,
            result.first_error_line,
            result.stdout,
        )

    def test_read_timeout(self, emulator, monkeypatch):
        """--cli-read-timeout bounds the wait for an answer: botocore's message, exit 255."""
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        emulator.inject(Fault(kind="hang", count=None))

        result = token_run(emulator, "--cli-read-timeout", "1")
        emulator.clear_faults()

        assert (255, f'Read timeout on endpoint URL: "{emulator.url}/"') == (
            result.exit_code,
            result.first_error_line,
        )

    def test_throttling_is_a_service_error(self, emulator, monkeypatch):
        """An error answer after retries is still the service's: exit 254, with the retries."""
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        monkeypatch.setenv("AWS_RETRY_MODE", "standard")
        emulator.inject(Fault(kind="throttle", count=None))

        result = token_run(emulator)

        assert 254 == result.exit_code
        assert result.first_error_line.startswith(
            "An error occurred (ThrottlingException) when calling the GetAuthorizationToken "
            "operation (reached max retries: 1): Rate exceeded"
        )
        assert 2 == len(emulator.calls())


class TestRequest:
    def test_no_sign_request_sends_no_signature(self, emulator):
        """--no-sign-request: the request carries no Authorization header (no access key)."""
        result = token_run(emulator, "--no-sign-request")

        (call,) = emulator.calls()
        assert (0, "", "") == (result.exit_code, call.access_key, call.region)

    def test_region_precedence(self, emulator, monkeypatch):
        """--region beats AWS_REGION, which beats AWS_DEFAULT_REGION (as AWS CLI v2)."""
        monkeypatch.setenv("AWS_REGION", "eu-north-1")

        token_run(emulator)
        token_run(emulator, "--region", "us-east-2")

        assert ["eu-north-1", "us-east-2"] == [c.region for c in emulator.calls()]

    def test_profile_credentials_sign_the_call(self, emulator, isolated_env):
        """--profile picks the credentials that sign the request."""
        aws = isolated_env / ".aws"
        aws.mkdir()
        (aws / "credentials").write_text(
            "[pull]\naws_access_key_id = AKIDPROFILEPULL1\naws_secret_access_key = s\n"
        )

        result = token_run(emulator, "--profile", "pull")

        assert (0, ["AKIDPROFILEPULL1"]) == (
            result.exit_code,
            [c.access_key for c in emulator.calls()],
        )

    def test_cli_input_yaml_gives_the_registry_ids(self, emulator, tmp_path):
        """--cli-input-yaml file://PATH sends its registryIds in one call."""
        path = tmp_path / "in.yaml"
        path.write_text("registryIds: ['111111111111', '222222222222']\n")

        result = token_run(emulator, "--cli-input-yaml", f"file://{path}")

        assert (0, [IDS]) == (result.exit_code, [c.registry_ids for c in emulator.calls()])

    @pytest.mark.parametrize(
        ("flags", "error"),
        [
            ([], "[Errno 2] No such file or directory"),
            (["--ca-bundle", "CERTIFI"], "wrong version number"),
            (["--no-verify-ssl"], "wrong version number"),
        ],
        ids=["AWS_CA_BUNDLE", "ca-bundle-wins", "no-verify-ssl-wins"],
    )
    def test_tls_verification_settings(self, emulator, monkeypatch, flags, error):
        """AWS_CA_BUNDLE is read; --ca-bundle and --no-verify-ssl take its place.

        The emulator speaks plain HTTP, so an https URL fails either way: loading the
        missing bundle first, or at the handshake once the bundle is good or unused.
        """
        certifi = pytest.importorskip("certifi")
        monkeypatch.setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        https = emulator.url.replace("http://", "https://")
        flags = [certifi.where() if f == "CERTIFI" else f for f in flags]

        result = run_ecrd("get-authorization-token", "--endpoint-url", https, *flags)

        assert 255 == result.exit_code
        assert result.first_error_line.startswith(f"SSL validation failed for {https}/ ")
        assert error in result.first_error_line


class TestAcceptedOptions:
    def test_compatibility_options_change_nothing(self, fixed_emulator):
        """--no-paginate, --no-cli-pager, --cli-binary-format, --cli-connect-timeout 0 ..."""
        plain = token_run(fixed_emulator)
        accepted = token_run(
            fixed_emulator,
            *("--no-paginate", "--no-cli-pager", "--no-cli-auto-prompt"),
            *("--cli-binary-format", "raw-in-base64-out", "--color", "off"),
            *("--cli-connect-timeout", "0", "--cli-read-timeout", "0"),
        )

        assert (plain.stdout, 0, b"") == (accepted.stdout, accepted.exit_code, accepted.stderr)

    def test_auto_prompt_is_not_offered(self, fixed_emulator):
        """--cli-auto-prompt says that ecrd has none, then runs the command as given."""
        result = token_run(fixed_emulator, "--cli-auto-prompt")

        assert 0 == result.exit_code
        assert "does not offer the AWS CLI's auto-prompt" in result.stderr.decode()
        assert 1 == len(fixed_emulator.calls())

    def test_abbreviated_option(self, fixed_emulator):
        """A unique prefix of an option works, as with argparse."""
        result = token_run(fixed_emulator, "--registry", IDS[0], "--out", "text")

        assert (0, 1) == (result.exit_code, result.stdout.count(b"AUTHORIZATIONDATA"))


class TestHelpAndVersion:
    def test_help_lists_every_option_of_the_reference_page(self):
        """--help shows each option of `aws ecr get-authorization-token` with a description."""
        options = [
            "--registry-ids", "--cli-input-json", "--cli-input-yaml", "--generate-cli-skeleton",
            "--debug", "--endpoint-url", "--no-verify-ssl", "--no-paginate", "--output", "--query",
            "--profile", "--region", "--version", "--color", "--no-sign-request", "--ca-bundle",
            "--cli-read-timeout", "--cli-connect-timeout", "--cli-binary-format", "--no-cli-pager",
            "--cli-auto-prompt", "--cli-timestamp-format",
        ]  # fmt: skip

        text = run_ecrd("get-authorization-token", "--help").stdout.decode()

        assert [] == [o for o in options if f"  {o}" not in text]

    def test_help_word_shows_help(self):
        """`ecrd get-authorization-token help` shows the help, as `aws ... help` does."""
        result = run_ecrd("get-login-password", "help")

        assert (0, True) == (result.exit_code, b"--password-stdin" in result.stdout)

    def test_version_line(self):
        """--version prints the version as the AWS CLI prints its own."""
        result = run_ecrd("get-login-password", "--version")

        assert result.stdout.startswith(b"ecrd/0.1.0 Python/")
        assert b" botocore/" in result.stdout


class TestSecrets:
    def test_login_password_is_the_registrys(self, emulator):
        """get-login-password prints the password of the caller's default registry."""
        result = run_ecrd("get-login-password", "--endpoint-url", emulator.url)

        assert f"{emulator.password_for(DEFAULT_ACCOUNT)}\n".encode() == result.stdout

    def test_debug_masks_every_secret(self, emulator, monkeypatch):
        """--debug shows no token, password or session token, for either command."""
        monkeypatch.setenv("AWS_SESSION_TOKEN", "SESSION-TOKEN-SECRET-VALUE")

        token = token_run(emulator, "--debug", "--registry-ids", *IDS)
        login = run_ecrd("get-login-password", "--endpoint-url", emulator.url, "--debug")

        log = token.stderr.decode() + login.stderr.decode()
        secrets = [d["authorizationToken"] for d in json.loads(token.stdout)["authorizationData"]]
        secrets += [emulator.password_for(i) for i in IDS]
        secrets += [login.stdout.decode().strip(), "SESSION-TOKEN-SECRET-VALUE"]
        assert [] == [s[:20] for s in secrets if s in log]
        assert 2 == log.count("Response body:")

    def test_debug_leaves_logging_as_it_was(self, emulator):
        """After --debug, botocore's logger has its level, handlers and propagation back."""
        logger = logging.getLogger("botocore")
        before = (logger.level, list(logger.handlers), logger.propagate)

        token_run(emulator, "--debug")

        assert before == (logger.level, list(logger.handlers), logger.propagate)

    def test_errors_show_no_secret(self, emulator):
        """A failing call after a good one: the error text holds no password."""
        good = run_ecrd("get-login-password", "--endpoint-url", emulator.url)
        emulator.inject(Fault(kind="access_denied"))

        bad = run_ecrd("get-login-password", "--endpoint-url", emulator.url, "--debug")

        assert 254 == bad.exit_code
        assert good.stdout.strip().decode() not in bad.stderr.decode()


class TestCredentialProcess:
    def test_missing_credential_process_is_an_error_not_a_traceback(self, emulator, isolated_env):
        """A credential_process that cannot start: the OS's message, exit 255, no traceback."""
        config = isolated_env / ".aws" / "config"
        config.parent.mkdir()
        config.write_text("[profile gone]\ncredential_process = /nonexistent/helper\n")

        result = run_ecrd("get-login-password", "--profile", "gone", "--endpoint-url", emulator.url)

        assert 255 == result.exit_code
        assert (
            "No such file or directory: '/nonexistent/helper'"
            == result.first_error_line.split("] ", 1)[1]
        )
        assert [] == emulator.calls()
