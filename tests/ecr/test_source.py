"""EcrTokenSource against the loopback ECR endpoint: real boto3, real HTTP."""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from ecrd.config.model import Group, Registry
from ecrd.ecr.source import EcrTokenSource, decode_token, fetch_all
from ecrd.emulator.server import Emulator, Fault
from ecrd.errors import TokenError
from ecrd.secret import Credentials, Secret
from tests.conftest import ACCESS_KEY
from tests.ecr.groups import group_of, registry, warm

if TYPE_CHECKING:
    from pathlib import Path


# No test here waits for an attempt's deadline (an endpoint that fails, fails at once): a
# roomy one leaves a loaded machine the time to build a client and load credentials.
ROOMY = timedelta(seconds=60)


def source() -> EcrTokenSource:
    # One attempt keeps fault tests to one call each; retries are tested on their own.
    return EcrTokenSource(max_attempts=1, attempt_timeout=ROOMY)


class TestFetch:
    def test_one_call_carries_every_registry_id_of_the_group(self, emulator: Emulator):
        """A group of three registries costs one GetAuthorizationToken call with three ids."""
        ids = ["111111111111", "222222222222", "333333333333"]
        group = group_of(*(registry(i, endpoint_url=emulator.url) for i in ids))

        creds = source().fetch(group)

        calls = emulator.calls(api="ecr")
        assert 1 == len(calls)
        assert tuple(ids) == calls[0].registry_ids
        assert "us-west-2" == calls[0].region
        assert ACCESS_KEY == calls[0].access_key
        assert ids == [c.registry_id for c in creds]
        assert [f"{i}.dkr.ecr.us-west-2.amazonaws.com" for i in ids] == [c.host for c in creds]

    def test_credentials_are_decoded_and_expire_as_answered(self, emulator: Emulator):
        """The token's user is AWS, the password long, and expiresAt about 12 h ahead."""
        (creds,) = source().fetch(group_of(registry(endpoint_url=emulator.url)))

        assert "AWS" == creds.username
        assert len(creds.password.reveal()) > 2000
        ahead = creds.expires_at - datetime.now(timezone.utc)
        assert timedelta(hours=11, minutes=59) < ahead <= timedelta(hours=12)

    def test_more_than_ten_registries_still_make_one_call(self, emulator: Emulator):
        """ECR takes at most 10 ids in a call; a group of 12 sends the first 10, once."""
        ids = [f"{n:012d}" for n in range(1, 13)]
        group = group_of(*(registry(i, endpoint_url=emulator.url) for i in ids))

        creds = source().fetch(group)

        (call,) = emulator.calls(api="ecr")
        assert tuple(ids[:10]) == call.registry_ids
        assert 10 == len(creds)

    def test_public_registry_uses_ecr_public_in_us_east_1(self, emulator: Emulator):
        """ECR Public's token comes from the ecr-public API in us-east-1, for public.ecr.aws."""
        public = Registry(
            registry_id=None,
            region="us-east-1",
            hosts=("public.ecr.aws",),
            public=True,
            endpoint_url=emulator.url,
        )

        (creds,) = source().fetch(group_of(public))

        (call,) = emulator.calls()
        assert ("ecr-public", "us-east-1") == (call.api, call.region)
        assert ("public.ecr.aws", None) == (creds.host, creds.registry_id)

    def test_china_region_proxy_endpoint(self, emulator: Emulator):
        """A China region's credentials are for its amazonaws.com.cn host."""
        (creds,) = source().fetch(
            group_of(registry(region="cn-north-1", endpoint_url=emulator.url))
        )

        assert "111111111111.dkr.ecr.cn-north-1.amazonaws.com.cn" == creds.host


class TestIdentity:
    def test_role_is_assumed_once_and_reused(
        self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
    ):
        """role_arn is assumed through STS; its credentials sign ECR calls and are reused."""
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator.url)
        role = "arn:aws:iam::210987654321:role/pull"
        tokens = source()
        group = group_of(registry(endpoint_url=emulator.url, role_arn=role))

        tokens.fetch(group)
        tokens.fetch(group)

        assert 1 == len(emulator.calls(api="sts"))
        ecr_calls = emulator.calls(api="ecr")
        assert 2 == len(ecr_calls)
        assert {ACCESS_KEY} != {c.access_key for c in ecr_calls}
        assert 1 == len({c.access_key for c in ecr_calls})

    def test_profile_credentials_sign_the_call(self, emulator: Emulator, isolated_env: Path):
        """A registry's profile picks the credentials that sign its group's call."""
        aws = isolated_env / ".aws"
        aws.mkdir()
        (aws / "credentials").write_text(
            "[pull]\naws_access_key_id = AKIDPROFILEPULL1\naws_secret_access_key = s\n"
        )

        source().fetch(group_of(registry(endpoint_url=emulator.url, profile="pull")))

        assert ["AKIDPROFILEPULL1"] == [c.access_key for c in emulator.calls()]

    def test_missing_profile_is_named(self, emulator: Emulator):
        """An unknown profile fails with its name, and no call is made."""
        with pytest.raises(TokenError, match="AWS profile 'nope' is not in the AWS config") as info:
            source().fetch(group_of(registry(endpoint_url=emulator.url, profile="nope")))

        assert "ProfileNotFound" == info.value.code
        assert [] == emulator.calls()

    def test_no_credentials_fails_fast_without_a_call(
        self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
    ):
        """No credentials anywhere: a clear error naming the group, and no request sent."""
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

        with pytest.raises(
            TokenError, match="group ecr:us-west-2 .*no AWS credentials found"
        ) as info:
            source().fetch(group_of(registry(endpoint_url=emulator.url)))

        assert "NoCredentials" == info.value.code
        assert [] == emulator.calls()


class TestErrors:
    @pytest.mark.parametrize(
        ("kind", "code", "text"),
        [
            (
                "access_denied",
                "AccessDeniedException",
                "access denied .* needs ecr:GetAuthorizationToken",
            ),
            ("throttle", "ThrottlingException", "throttled by AWS"),
            ("http500", "ServerException", "GetAuthorizationToken failed"),
            ("malformed", "MalformedAnswer", "without authorizationData"),
            ("drop", "ConnectionClosed", "closed the connection"),
        ],
    )
    def test_service_faults_name_the_group(self, emulator: Emulator, kind, code, text):
        """Each failure the service can give becomes one TokenError naming the group."""
        emulator.inject(Fault(kind=kind, count=None))

        with pytest.raises(TokenError, match=f"group ecr:us-west-2 endpoint=.*: .*{text}") as info:
            source().fetch(group_of(registry(endpoint_url=emulator.url)))

        assert code == info.value.code

    def test_throttling_is_retried_by_botocore(self, emulator: Emulator):
        """One ThrottlingException is absorbed by botocore's standard retry mode."""
        emulator.inject(Fault(kind="throttle", count=1))

        creds = EcrTokenSource(max_attempts=3).fetch(group_of(registry(endpoint_url=emulator.url)))

        assert 1 == len(creds)
        assert ["throttle", None] == [c.fault for c in emulator.calls()]

    def test_slow_endpoint_times_out(self, emulator: Emulator):
        """An endpoint that does not answer within the read timeout is reported as such."""
        emulator.inject(Fault(kind="hang", count=None))
        tokens = EcrTokenSource(max_attempts=1, attempt_timeout=timedelta(seconds=1))
        group = group_of(registry(endpoint_url=emulator.url))
        warm(tokens, group)

        with pytest.raises(TokenError, match="did not answer in time") as info:
            tokens.fetch(group)
        emulator.clear_faults()

        assert "Timeout" == info.value.code

    def test_closed_port_is_unreachable(self):
        """A refused connection says the endpoint cannot be reached."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}"

        with pytest.raises(TokenError, match=f"cannot reach {url}") as info:
            source().fetch(group_of(registry(endpoint_url=url)))

        assert "EndpointUnreachable" == info.value.code

    def test_unknown_region_is_refused_before_any_call(self):
        """A misspelt region is reported with a suggestion, without touching the network."""
        with pytest.raises(
            TokenError, match="unknown region 'us-wst-2' .did you mean 'us-west-2'"
        ) as info:
            source().fetch(group_of(registry(region="us-wst-2")))

        assert "UnknownRegion" == info.value.code

    def test_errors_carry_no_secret(self, emulator: Emulator):
        """Neither the token nor the password appears in an error's text."""
        (good,) = source().fetch(group_of(registry(endpoint_url=emulator.url)))
        emulator.inject(Fault(kind="access_denied"))

        with pytest.raises(TokenError) as info:
            source().fetch(group_of(registry(endpoint_url=emulator.url)))

        assert good.password.reveal() not in str(info.value) + repr(info.value)


class TestDecodeToken:
    def test_splits_user_and_password(self):
        """base64('AWS:pw') decodes to the user and a Secret."""
        assert ("AWS", Secret("p:w")) == decode_token("QVdTOnA6dw==", group="g")

    @pytest.mark.parametrize("token", ["", "not base64!", "QVdT", "OnB3"])
    def test_rejects_what_is_not_user_colon_password(self, token):
        """Anything but base64 of USER:PASSWORD is a TokenError that shows no token."""
        with pytest.raises(TokenError, match="not base64 of USER:PASSWORD") as info:
            decode_token(token, group="g")

        assert token not in str(info.value) or token == ""


class _BarrierSource:
    """Every fetch waits until ``parties`` fetches run at once: proves concurrency."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=5)
        self.fetched: list[str] = []

    def fetch(self, group: Group) -> list[Credentials]:
        self.barrier.wait()
        self.fetched.append(group.name)
        if group.key.region == "eu-west-1":
            raise TokenError("boom", code="Test")
        return []


class TestFetchAll:
    def test_groups_are_fetched_concurrently_and_failures_kept_apart(self):
        """Five groups run at the same time; one failing group does not hide the others."""
        regions = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"]
        groups = [group_of(registry(region=r)) for r in regions]
        fake = _BarrierSource(parties=5)

        results = fetch_all(fake, groups)

        assert 5 == len(fake.fetched)
        assert ["eu-west-1"] == [k.region for k, r in results.items() if isinstance(r, TokenError)]


class TestNeedsLogin:
    def test_expired_sso_login_asks_for_a_person_without_any_call(
        self, emulator: Emulator, isolated_env: Path
    ):
        """An SSO profile with no cached token: NeedsLogin and the command to run, no call."""
        aws = isolated_env / ".aws"
        aws.mkdir()
        (aws / "config").write_text(
            "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n"
            "sso_role_name = ReadOnly\nregion = us-west-2\n\n"
            "[sso-session corp]\nsso_start_url = https://example.invalid/start\n"
            "sso_region = us-east-1\n"
        )

        with pytest.raises(TokenError, match="run: aws sso login --profile dev") as info:
            source().fetch(group_of(registry(endpoint_url=emulator.url, profile="dev")))

        assert "NeedsLogin" == info.value.code
        assert [] == emulator.calls()

    def test_failing_credential_process_needs_a_person(
        self, emulator: Emulator, isolated_env: Path
    ):
        """A credential_process that fails is reported as needing a login, with no call."""
        aws = isolated_env / ".aws"
        aws.mkdir()
        (aws / "config").write_text("[profile mfa]\ncredential_process = /bin/false\n")

        with pytest.raises(TokenError, match="could not get AWS credentials") as info:
            source().fetch(group_of(registry(endpoint_url=emulator.url, profile="mfa")))

        assert "NeedsLogin" == info.value.code
        assert [] == emulator.calls()

    def test_missing_credential_process_needs_a_person(
        self, emulator: Emulator, isolated_env: Path
    ):
        """A credential_process that cannot be started is a TokenError naming the profile."""
        aws = isolated_env / ".aws"
        aws.mkdir()
        (aws / "config").write_text("[profile gone]\ncredential_process = /nonexistent/helper\n")

        with pytest.raises(TokenError, match="from profile 'gone': .*No such file") as info:
            source().fetch(group_of(registry(endpoint_url=emulator.url, profile="gone")))

        assert "NeedsLogin" == info.value.code
        assert [] == emulator.calls()
