"""ecrd and the real AWS CLI, side by side against moto's server and the emulator.

Each test runs `aws ecr ...` (v1, from PyPI) and `ecrd ...` with the same arguments and
environment against the same endpoint, and compares stdout byte for byte. Exit codes are
compared with the documented values: v1's for the AWS CLI run here, v2's (the reference
page's: 252 usage, 253 configuration, 254 service, 255 other) for ecrd. stderr: the same
first line. The AWS CLI starts slowly, so each case costs one `aws` run and no more.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, NamedTuple

import pytest

from ecrd.emulator.server import Fault
from tests.awscli.conftest import REGION, Run, finish, run_aws, run_ecrd, start_aws

if TYPE_CHECKING:
    from pathlib import Path

    from ecrd.emulator.server import Emulator

IDS = ("111111111111", "222222222222")
HOST_2 = f"https://{IDS[1]}.dkr.ecr.{REGION}.amazonaws.com"


@pytest.fixture(params=["moto", "emulator"])
def endpoint(request: pytest.FixtureRequest) -> str:
    """The URL of moto's server or of the project's emulator (fixed answers)."""
    if request.param == "moto":
        url: str = request.getfixturevalue("moto_url")
        return url
    emulator: Emulator = request.getfixturevalue("fixed_emulator")
    return emulator.url


def side_by_side(tmp_path: Path, *args: str) -> tuple[Run, Run]:
    # ecrd runs here while the slow-starting AWS CLI starts up.
    aws = start_aws(*args, cwd=tmp_path)
    ecrd = run_ecrd(*args)
    return finish(aws), ecrd


class TestOutputFormats:
    @pytest.mark.parametrize("output", ["json", "text", "table"])
    @pytest.mark.parametrize("ids", [(), IDS], ids=["default-registry", "two-registry-ids"])
    def test_stdout_is_byte_for_byte_the_aws_clis(self, tmp_path, endpoint, output, ids):
        """Each output format the AWS CLI offers prints the same bytes, with and without ids."""
        registry_ids = ["--registry-ids", *ids] if ids else []
        args = ["get-authorization-token", "--endpoint-url", endpoint, "--output", output]

        aws, ecrd = side_by_side(tmp_path, *args, *registry_ids)

        assert (0, b"") == (aws.exit_code, aws.stderr)
        assert (aws.stdout, 0) == (ecrd.stdout, ecrd.exit_code)

    def test_json_shows_expiry_as_epoch_seconds_with_milliseconds(self, fixed_emulator):
        """The expiry reads as on the reference page (1448875853.241), not as a date."""
        ecrd = run_ecrd("get-authorization-token", "--endpoint-url", fixed_emulator.url)

        (entry,) = json.loads(ecrd.stdout)["authorizationData"]
        assert 1735830245.678 == entry["expiresAt"]
        assert b'"expiresAt": 1735830245.678,' in ecrd.stdout


class QueryCase(NamedTuple):
    name: str
    server: str
    query: str
    output: str


class TestQuery:
    @pytest.mark.parametrize(
        "case",
        [
            QueryCase("field", "moto", "authorizationData[0].proxyEndpoint", "text"),
            QueryCase("list-projection", "moto", "authorizationData[].proxyEndpoint", "json"),
            QueryCase("filter", "moto", f"authorizationData[?proxyEndpoint=='{HOST_2}'].[proxyEndpoint,expiresAt]", "table"),
            QueryCase("multiselect-hash", "emulator", "authorizationData[].{expires: expiresAt, host: proxyEndpoint}", "table"),
            QueryCase("filter-by-expiry", "emulator", "authorizationData[?expiresAt > `1700000000`].proxyEndpoint", "text"),
            QueryCase("function", "emulator", "length(authorizationData)", "json"),
            QueryCase("no-match", "emulator", "nothing", "text"),
        ],
        ids=lambda case: case.name,
    )  # fmt: skip
    def test_query_is_applied_before_formatting(self, request, tmp_path, case):
        """A field, a list projection, a filter ... select the same data in every format."""
        url = (
            request.getfixturevalue("moto_url")
            if case.server == "moto"
            else request.getfixturevalue("fixed_emulator").url
        )
        args = ["--endpoint-url", url, "--registry-ids", *IDS, "--query", case.query]

        aws, ecrd = side_by_side(
            tmp_path, "get-authorization-token", *args, "--output", case.output
        )

        assert 0 == aws.exit_code, aws.stderr
        assert (aws.stdout, 0) == (ecrd.stdout, ecrd.exit_code)


class TestLoginPassword:
    def test_prints_the_password_alone(self, tmp_path, endpoint):
        """get-login-password prints the password and a newline, as the AWS CLI."""
        aws, ecrd = side_by_side(tmp_path, "get-login-password", "--endpoint-url", endpoint)

        assert 0 == aws.exit_code, aws.stderr
        assert (aws.stdout, 0) == (ecrd.stdout, ecrd.exit_code)
        assert 1 == ecrd.stdout.count(b"\n")


class TestInputAndSkeleton:
    @pytest.mark.parametrize(
        "args",
        [
            ["--generate-cli-skeleton"],
            ["--generate-cli-skeleton", "output"],
            ["--generate-cli-skeleton", "output", "--output", "text"],
        ],
        ids=["input", "output", "output-as-text"],
    )
    def test_skeletons_match(self, tmp_path, args):
        """The input skeleton and the sample answer are the AWS CLI's, in the chosen format."""
        aws, ecrd = side_by_side(tmp_path, "get-authorization-token", *args)

        assert 0 == aws.exit_code, aws.stderr
        assert (aws.stdout, 0) == (ecrd.stdout, ecrd.exit_code)

    def test_cli_input_json_from_a_file(self, tmp_path, moto_url):
        """--cli-input-json file://PATH gives the registry ids of the call."""
        path = tmp_path / "input.json"
        path.write_text(json.dumps({"registryIds": list(IDS)}))
        args = ["--endpoint-url", moto_url, "--cli-input-json", f"file://{path}"]

        aws, ecrd = side_by_side(tmp_path, "get-authorization-token", *args, "--output", "text")

        assert 0 == aws.exit_code, aws.stderr
        assert (aws.stdout, 0) == (ecrd.stdout, ecrd.exit_code)
        assert 2 == ecrd.stdout.count(b"AUTHORIZATIONDATA")

    def test_command_line_overrides_the_input_file(self, tmp_path, fixed_emulator):
        """--registry-ids on the command line wins over registryIds in --cli-input-json."""
        args = [
            "--endpoint-url",
            fixed_emulator.url,
            "--cli-input-json",
            json.dumps({"registryIds": list(IDS)}),
            "--registry-ids",
            "333333333333",
        ]

        aws, ecrd = side_by_side(tmp_path, "get-authorization-token", *args)

        assert 0 == aws.exit_code, aws.stderr
        assert (aws.stdout, 0) == (ecrd.stdout, ecrd.exit_code)
        assert [("333333333333",)] * 2 == [c.registry_ids for c in fixed_emulator.calls()]


# (v1's exit code, v2's documented one): what the AWS CLI here gives, and what ecrd gives.
SERVICE = (255, 254)
USAGE_V1_UNKNOWN = (255, 252)
USAGE_V1_ARGPARSE = (2, 252)
CONFIGURATION = (255, 253)
OTHER = (255, 255)


class ErrorCase(NamedTuple):
    name: str
    args: list[str]
    env: dict[str, str | None]
    codes: tuple[int, int]


class TestErrors:
    def test_error_from_the_service(self, tmp_path, fixed_emulator):
        """An error answer prints the AWS CLI's line, exits 254 (v2), and nothing on stdout."""
        args = ["get-authorization-token", "--endpoint-url", fixed_emulator.url]
        fixed_emulator.inject(Fault(kind="access_denied"))
        aws = run_aws(*args, cwd=tmp_path)
        fixed_emulator.inject(Fault(kind="access_denied"))
        ecrd = run_ecrd(*args)

        assert SERVICE == (aws.exit_code, ecrd.exit_code)
        assert (aws.stdout, aws.first_error_line) == (ecrd.stdout, ecrd.first_error_line)
        assert ecrd.first_error_line.startswith(
            "An error occurred (AccessDeniedException) when calling the GetAuthorizationToken "
            "operation: User: arn:aws:iam::123456789012:user/test is not authorized"
        )

    @pytest.mark.parametrize(
        "case",
        [
            ErrorCase("invalid-registry-id", ["--registry-ids", "1234"], {}, SERVICE),
            ErrorCase("unknown-profile", ["--profile", "nope"], {}, CONFIGURATION),
            ErrorCase("no-region", [], {"AWS_DEFAULT_REGION": None}, CONFIGURATION),
            ErrorCase("no-credentials", [], {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, CONFIGURATION),
            ErrorCase("bad-query", ["--query", "authorizationData[?"], {}, USAGE_V1_UNKNOWN),
            ErrorCase("unknown-input-key", ["--cli-input-json", '{"bogus": 1}'], {}, USAGE_V1_UNKNOWN),
        ],
        ids=lambda case: case.name,
    )  # fmt: skip
    def test_client_side_errors(self, tmp_path, fixed_emulator, monkeypatch, case):
        """Each failure gives the AWS CLI's first stderr line and v2's exit code."""
        for name, value in case.env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
        base = ["get-authorization-token", "--endpoint-url", fixed_emulator.url]

        aws, ecrd = side_by_side(tmp_path, *base, *case.args)

        assert case.codes == (aws.exit_code, ecrd.exit_code)
        assert (aws.stdout, aws.first_error_line) == (ecrd.stdout, ecrd.first_error_line)
        assert "" != ecrd.first_error_line

    def test_unreachable_endpoint(self, tmp_path, closed_port_url, monkeypatch):
        """A refused connection names the URL in the AWS CLI's words; exit 255."""
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # both honour it: no retries
        args = ["get-authorization-token", "--endpoint-url", closed_port_url]

        aws, ecrd = side_by_side(tmp_path, *args)

        assert OTHER == (aws.exit_code, ecrd.exit_code)
        assert (b"", aws.first_error_line) == (ecrd.stdout, ecrd.first_error_line)
        assert f'Could not connect to the endpoint URL: "{closed_port_url}/"' == (
            ecrd.first_error_line
        )

    def test_unknown_option_prints_usage(self, tmp_path, moto_url):
        """An unknown option prints a usage and the AWS CLI's `Unknown options:` line; 252."""
        args = ["get-authorization-token", "--endpoint-url", moto_url, "--bogus", "1"]

        aws, ecrd = side_by_side(tmp_path, *args)

        assert USAGE_V1_UNKNOWN == (aws.exit_code, ecrd.exit_code)
        assert ecrd.first_error_line.startswith("usage: ecrd get-authorization-token")
        assert aws.first_error_line.startswith("usage:")
        assert (aws.stdout, last_line(aws)) == (ecrd.stdout, last_line(ecrd))
        assert "Unknown options: --bogus, 1" == last_line(ecrd)

    def test_invalid_choice_prints_usage(self, tmp_path, moto_url):
        """A value outside an option's choices is a usage error naming the option; 252."""
        args = ["get-authorization-token", "--endpoint-url", moto_url, "--output", "xml"]

        aws, ecrd = side_by_side(tmp_path, *args)

        assert USAGE_V1_ARGPARSE == (aws.exit_code, ecrd.exit_code)
        assert (b"", b"") == (aws.stdout, ecrd.stdout)
        problem = "error: argument --output: Invalid choice, valid choices are:"
        assert [True, True] == [problem in r.stderr.decode() for r in (aws, ecrd)]


def last_line(run: Run) -> str:
    lines = [line for line in run.stderr.decode().splitlines() if line.strip()]
    return lines[-1]


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class TestConfiguration:
    def test_profile_settings_apply(self, tmp_path, isolated_env, moto_url, local_tz, monkeypatch):
        """AWS_PROFILE's region, endpoint_url, output and cli_timestamp_format are used."""
        config = isolated_env / ".aws" / "config"
        config.parent.mkdir()
        config.write_text(
            "[profile ci]\n"
            f"region = {REGION}\n"
            f"endpoint_url = {moto_url}\n"
            "output = text\n"
            "cli_timestamp_format = iso8601\n"
        )
        monkeypatch.setenv("AWS_PROFILE", "ci")

        aws, ecrd = side_by_side(tmp_path, "get-authorization-token")

        assert 0 == aws.exit_code, aws.stderr
        assert (aws.stdout, 0) == (ecrd.stdout, ecrd.exit_code)
        assert f"\t2015-01-01T05:30:00{local_tz}\t" in ecrd.stdout.decode()

    def test_environment_output_wins_over_the_profile(
        self, tmp_path, isolated_env, fixed_emulator, monkeypatch
    ):
        """AWS_DEFAULT_OUTPUT beats `output` in the profile; AWS_ENDPOINT_URL_ECR is used."""
        config = isolated_env / ".aws" / "config"
        config.parent.mkdir()
        config.write_text("[default]\noutput = text\n")
        monkeypatch.setenv("AWS_DEFAULT_OUTPUT", "table")
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", fixed_emulator.url)

        aws, ecrd = side_by_side(tmp_path, "get-authorization-token", "--registry-ids", *IDS)

        assert 0 == aws.exit_code, aws.stderr
        assert (aws.stdout, 0) == (ecrd.stdout, ecrd.exit_code)
        assert ecrd.stdout.startswith(b"-----")
        assert 2 == len(fixed_emulator.calls())

    def test_colour_table(self, tmp_path, fixed_emulator):
        """--color on colours a table with the AWS CLI's escape codes, byte for byte."""
        args = ["--endpoint-url", fixed_emulator.url, "--output", "table", "--color", "on"]

        aws, ecrd = side_by_side(tmp_path, "get-authorization-token", *args)

        assert 0 == aws.exit_code, aws.stderr
        assert (aws.stdout, 0) == (ecrd.stdout, ecrd.exit_code)
        assert b"\x1b[1m\x1b[34m" in ecrd.stdout


class TestDebug:
    def test_debug_shows_the_flow_without_the_token(self, tmp_path, fixed_emulator):
        """--debug logs the request and response; the AWS CLI shows the token there, ecrd not."""
        args = ["get-authorization-token", "--endpoint-url", fixed_emulator.url, "--debug"]

        aws, ecrd = side_by_side(tmp_path, *args)

        token = json.loads(ecrd.stdout)["authorizationData"][0]["authorizationToken"]
        log = ecrd.stderr.decode()
        assert (aws.stdout, 0) == (ecrd.stdout, ecrd.exit_code)
        assert token.encode() in aws.stderr
        assert token not in log
        assert fixed_emulator.password_for("123456789012") not in log
        assert '"authorizationToken": "***"' in log
        assert "botocore.parsers - DEBUG - Response body:" in log
        assert "Making request for OperationModel(name=GetAuthorizationToken)" in log
