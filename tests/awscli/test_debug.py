"""--debug and --log-level debug print no secret: STS, SSO, credential_process, ECR, headers."""

from __future__ import annotations

import json
import secrets
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from ecrd.cli import cli
from ecrd.ecr.masking import mask
from ecrd.emulator import protocol
from tests.aws import write_aws_config
from tests.awscli.conftest import run_ecrd

if TYPE_CHECKING:
    from pathlib import Path

    from ecrd.emulator.server import Emulator

ROLE = "arn:aws:iam::210987654321:role/pull"
SIGNATURE = "9f" * 32


@pytest.fixture
def issued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every secret the emulator issues from now on (STS secret keys, session tokens)."""
    values: list[str] = []

    def token_urlsafe(nbytes: int) -> str:
        value = secrets.token_urlsafe(nbytes)
        values.append(value)
        return value

    monkeypatch.setattr(
        protocol, "secrets", SimpleNamespace(token_urlsafe=token_urlsafe, choice=secrets.choice)
    )
    return values


@pytest.fixture
def role_profile(isolated_env: Path, stable_emulator: Emulator, monkeypatch) -> str:
    """Profile 'pull' assumes a role through the emulator's STS; returns its name."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", stable_emulator.url)
    write_aws_config(
        isolated_env,
        "[profile src]\naws_access_key_id = AKIDSOURCE000001\n"
        "aws_secret_access_key = source-secret-key-value\n\n"
        f"[profile pull]\nrole_arn = {ROLE}\nsource_profile = src\nregion = us-west-2\n",
    )
    return "pull"


def leaked(text: str, values: list[str]) -> list[str]:
    """The secrets found in ``text``, shortened so that a failure does not print them whole."""
    return [v[:8] + "..." for v in values if v in text]


class TestDebugThroughAssumeRole:
    def test_debug_shows_the_flow_and_no_secret(
        self, stable_emulator: Emulator, role_profile: str, issued: list[str]
    ):
        """get-authorization-token --debug via STS AssumeRole: no secret key, session token, token."""
        result = run_ecrd(
            "get-authorization-token",
            "--profile",
            role_profile,
            "--endpoint-url",
            stable_emulator.url,
            "--debug",
        )

        log = result.stderr.decode()
        answer = json.loads(result.stdout)
        token = answer["authorizationData"][0]["authorizationToken"]
        password = stable_emulator.password_for("210987654321")
        assert 0 == result.exit_code
        assert 2 == len(issued)  # the role's secret key and session token
        assert [] == leaked(log, [*issued, token, password, "source-secret-key-value"])
        assert "<SecretAccessKey>***</SecretAccessKey>" in log
        assert '"authorizationToken":"***"' in log.replace(" ", "")
        assert 2 == log.count("Response body:")

    def test_login_password_debug_shows_no_secret(
        self, stable_emulator: Emulator, role_profile: str, issued: list[str]
    ):
        """get-login-password --debug via STS: neither the password nor the role's secrets."""
        result = run_ecrd(
            "get-login-password",
            "--profile",
            role_profile,
            "--endpoint-url",
            stable_emulator.url,
            "--debug",
        )

        log = result.stderr.decode()
        assert 0 == result.exit_code
        assert [] == leaked(log, [*issued, result.stdout.decode().strip()])
        assert "AssumeRole" in log


class TestLogLevelDebug:
    def test_refresh_at_debug_level_shows_no_secret(
        self, stable_emulator: Emulator, tmp_path: Path, issued: list[str], monkeypatch
    ):
        """`ecrd refresh --log-level debug` through a role: no secret in any log line."""
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", stable_emulator.url)
        config = tmp_path / "ecrd.yaml"
        config.write_text(
            f"aws:\n  region: us-west-2\n  endpoint_url: {stable_emulator.url}\n"
            f"outputs:\n  - type: netrc\n    path: {tmp_path / 'netrc'}\n"
            f'registries:\n  - registry_id: "111111111111"\n    role_arn: {ROLE}\n'
        )

        result = CliRunner().invoke(
            cli, ["refresh", "-c", str(config), "--log-level", "debug", "--log-format", "json"]
        )

        password = stable_emulator.password_for("111111111111")
        assert 0 == result.exit_code, result.output
        assert 2 == len(issued)
        assert [] == leaked(result.stderr + result.stdout, [*issued, password])
        assert password in (tmp_path / "netrc").read_text()


class TestMask:
    @pytest.mark.parametrize(
        ("text", "secret"),
        [
            # STS AssumeRole (XML)
            (
                (
                    "b'<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>XMLSECRET"
                    "</SecretAccessKey><SessionToken>XMLSESSION</SessionToken></Credentials>'"
                ),
                ("XMLSECRET", "XMLSESSION"),
            ),
            # SSO GetRoleCredentials (JSON)
            (
                (
                    'b\'{"roleCredentials":{"accessKeyId":"ASIAY","secretAccessKey":"SSOSECRET",'
                    '"sessionToken":"SSOSESSION","expiration":1700000000000}}\''
                ),
                ("SSOSECRET", "SSOSESSION"),
            ),
            # SSO OIDC CreateToken and RegisterClient (JSON)
            (
                (
                    'b\'{"accessToken":"ACCESSSECRET","expiresIn":28800,"idToken":"IDSECRET",'
                    '"refreshToken":"REFRESHSECRET","tokenType":"Bearer"}\''
                ),
                ("ACCESSSECRET", "IDSECRET", "REFRESHSECRET"),
            ),
            (
                (
                    '\'body\': b\'{"clientId": "cid", "clientSecret": "CLIENTSECRET", '
                    '"grantType": "refresh_token", "refreshToken": "REFRESH2"}\''
                ),
                ("CLIENTSECRET", "REFRESH2"),
            ),
            # credential_process output (JSON), with an escaped quote in a value
            (
                (
                    '{"Version": 1, "AccessKeyId": "AKIDZ", "SecretAccessKey": "PROC\\"SECRET", '
                    '"SessionToken": "PROCSESSION"}'
                ),
                ("PROC", "SECRET", "PROCSESSION"),
            ),
            # ECR's answer
            (
                (
                    'b\'{"authorizationData":[{"authorizationToken":"QVdTOlBBU1NXT1JE",'
                    '"expiresAt":1.7E9}]}\''
                ),
                ("QVdTOlBBU1NXT1JE",),
            ),
            # headers, as botocore's repr of a prepared request
            (
                (
                    "headers={'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIDZ/20250101/"
                    "us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, "
                    f"Signature={SIGNATURE}', 'X-Amz-Security-Token': b'HEADERSESSION', "
                    "'x-amz-sso_bearer_token': b'BEARERSECRET'}"
                ),
                (SIGNATURE, "HEADERSESSION", "BEARERSECRET"),
            ),
            # botocore's signing log: canonical request and signature
            (
                (
                    "CanonicalRequest:\nPOST\n/\n\nhost:api.ecr.us-east-1.amazonaws.com\n"
                    f"x-amz-security-token:CANONSESSION\n\nSignature:\n{SIGNATURE}"
                ),
                ("CANONSESSION", SIGNATURE),
            ),
            ("Authorization: Bearer OPAQUEBEARER", ("OPAQUEBEARER",)),
        ],
    )
    def test_secrets_are_masked(self, text: str, secret: tuple[str, ...]):
        """Each form botocore logs a secret in comes out as ***."""
        masked = mask(text)

        assert [] == [s for s in secret if s in masked]
        assert "***" in masked

    def test_what_is_not_secret_stays(self):
        """Access key ids, expiry, endpoints and operation names remain readable."""
        text = (
            '{"accessKeyId":"ASIAY","expiration":1700000000000,'
            '"proxyEndpoint":"https://1.dkr.ecr.us-east-1.amazonaws.com"} GetAuthorizationToken'
        )

        assert text == mask(text)
