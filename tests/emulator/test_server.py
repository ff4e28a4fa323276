"""The ECR emulator, driven by real boto3 clients over loopback HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from ecrd.emulator.server import Call, Emulator, Fault

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecr_public import ECRPublicClient
    from mypy_boto3_sts import STSClient

NOW = datetime(2025, 1, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
NOW_MS = NOW.replace(microsecond=123000)  # expiresAt carries milliseconds
ID_A, ID_B, ID_C = "111111111111", "222222222222", "333333333333"
ROLE_ARN = "arn:aws:iam::210987654321:role/ci/ecr-pull"
NO_RETRY = Config(
    retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=5
)


@pytest.fixture(scope="module", autouse=True)
def _aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An environment that reads no AWS files, credentials, endpoints or proxies."""
    home = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("AWS_") or name.lower().endswith("_proxy"):
                mp.delenv(name)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("AWS_CONFIG_FILE", str(home / "no-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-credentials"))
        yield


@pytest.fixture(scope="module")
def session() -> boto3.session.Session:
    """One boto3 session for the module: its clients share the loaded service models."""
    return boto3.session.Session()


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """An emulator whose clock stands still at NOW."""
    with Emulator(clock=lambda: NOW) as emulator:
        yield emulator


class Clients:
    """Makes real boto3 clients pointed at an emulator, and closes them afterwards."""

    def __init__(self, session: boto3.session.Session, emu: Emulator) -> None:
        self.session = session
        self.emu = emu
        self.made: list[Any] = []

    def _kwargs(self, emu: Emulator | None, config: Config, **credentials: str) -> dict[str, Any]:
        return {
            "endpoint_url": (emu or self.emu).url,
            "aws_access_key_id": credentials.get("access_key", "AKIDTEST"),
            "aws_secret_access_key": credentials.get("secret_key", "x"),
            "aws_session_token": credentials.get("session_token"),
            "config": config,
        }

    def ecr(
        self,
        region: str = "us-west-2",
        *,
        emu: Emulator | None = None,
        config: Config = NO_RETRY,
        **credentials: str,
    ) -> ECRClient:
        client = self.session.client(
            "ecr", region_name=region, **self._kwargs(emu, config, **credentials)
        )
        self.made.append(client)
        return client

    def public(self, *, config: Config = NO_RETRY) -> ECRPublicClient:
        client = self.session.client(
            "ecr-public", region_name="us-east-1", **self._kwargs(None, config)
        )
        self.made.append(client)
        return client

    def sts(self, *, config: Config = NO_RETRY) -> STSClient:
        client = self.session.client("sts", region_name="us-east-1", **self._kwargs(None, config))
        self.made.append(client)
        return client


@pytest.fixture
def clients(session, emu) -> Iterator[Clients]:
    made = Clients(session, emu)
    yield made
    for client in made.made:
        client.close()


def decode(token: str) -> str:
    return base64.b64decode(token).decode()


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def control(url: str, method: str, path: str, data: object | None = None) -> tuple[int, Any]:
    """Call the emulator's HTTP control plane; return the status and the decoded JSON."""
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(  # noqa: S310 (a loopback http URL)
        f"{url}/_emulator/{path}", data=body, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (idem)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


class TestEcrToken:
    def test_token_is_aws_and_the_password(self, emu, clients):
        """A token decodes to AWS:<password>, the password issued for that registry id."""
        data = clients.ecr().get_authorization_token(registryIds=[ID_A])["authorizationData"]

        assert f"AWS:{emu.password_for(ID_A)}" == decode(data[0]["authorizationToken"])

    def test_password_looks_like_ecr(self, clients):
        """A password is a base64 JSON blob of more than 2,000 characters, as ECR issues."""
        data = clients.ecr().get_authorization_token()["authorizationData"]
        password = decode(data[0]["authorizationToken"]).removeprefix("AWS:")
        blob = json.loads(base64.b64decode(password))

        assert len(password) > 2000
        assert ("2", "DATA_KEY") == (blob["version"], blob["type"])

    def test_expires_at_is_now_plus_lifetime(self, clients):
        """The expiry is the clock plus 12 hours, in epoch seconds with milliseconds."""
        data = clients.ecr().get_authorization_token()["authorizationData"]

        assert NOW_MS + timedelta(hours=12) == data[0]["expiresAt"]

    def test_token_lifetime_changes_at_run_time(self, emu, clients):
        """Setting token_lifetime changes the expiry of the next tokens."""
        emu.token_lifetime = timedelta(minutes=5)
        data = clients.ecr().get_authorization_token()["authorizationData"]

        assert NOW_MS + timedelta(minutes=5) == data[0]["expiresAt"]

    def test_real_clock(self, clients):
        """Without a clock, tokens expire 12 hours after the wall-clock time of the call."""
        with Emulator() as real:
            before = datetime.now(timezone.utc)
            data = clients.ecr(emu=real).get_authorization_token()["authorizationData"]
            after = datetime.now(timezone.utc)
        lifetime = data[0]["expiresAt"] - before

        assert timedelta(hours=12) - timedelta(milliseconds=1) <= lifetime
        assert lifetime <= after - before + timedelta(hours=12, milliseconds=1)

    def test_passwords_rotate_by_default(self, clients):
        """Each call issues a fresh password, so rotation is visible."""
        ecr = clients.ecr()
        first = ecr.get_authorization_token(registryIds=[ID_A])["authorizationData"]
        second = ecr.get_authorization_token(registryIds=[ID_A])["authorizationData"]

        assert first[0]["authorizationToken"] != second[0]["authorizationToken"]

    def test_stable_passwords(self, clients):
        """With stable_passwords, each registry id always gets its own fixed password."""
        with Emulator(stable_passwords=True) as stable:
            ecr = clients.ecr(emu=stable)
            first = ecr.get_authorization_token(registryIds=[ID_A, ID_B])["authorizationData"]
            again = ecr.get_authorization_token(registryIds=[ID_A])["authorizationData"]
            expected = [f"AWS:{stable.password_for(i)}" for i in (ID_A, ID_B)]

        assert expected == [decode(d["authorizationToken"]) for d in first]
        assert expected[0] == decode(again[0]["authorizationToken"])
        assert expected[0] != expected[1]

    def test_stable_passwords_differ_between_emulators(self):
        """Each emulator draws its stable passwords from its own random seed."""
        one, two = Emulator(stable_passwords=True), Emulator(stable_passwords=True)

        assert one.password_for(ID_A) != two.password_for(ID_A)

    def test_password_for_before_any_call(self, emu):
        """Without stable passwords, asking before any token was issued is a LookupError."""
        with pytest.raises(LookupError):
            emu.password_for(ID_A)

    def test_registry_ids_echoed_in_order(self, clients):
        """One entry per requested registry id, in request order."""
        data = clients.ecr().get_authorization_token(registryIds=[ID_C, ID_A, ID_B])

        assert [f"https://{i}.dkr.ecr.us-west-2.amazonaws.com" for i in (ID_C, ID_A, ID_B)] == [
            d["proxyEndpoint"] for d in data["authorizationData"]
        ]

    @pytest.mark.parametrize(
        ("region", "domain"),
        [
            ("us-east-1", "amazonaws.com"),
            ("eu-central-1", "amazonaws.com"),
            ("cn-north-1", "amazonaws.com.cn"),
            ("cn-northwest-1", "amazonaws.com.cn"),
        ],
    )
    def test_proxy_endpoint_per_region(self, clients, region, domain):
        """The proxy endpoint names the client's region; China regions use amazonaws.com.cn."""
        data = clients.ecr(region).get_authorization_token(registryIds=[ID_A])

        assert (
            f"https://{ID_A}.dkr.ecr.{region}.{domain}"
            == data["authorizationData"][0]["proxyEndpoint"]
        )

    def test_default_registry(self, clients):
        """Without registryIds, the answer is for the caller's default account."""
        data = clients.ecr().get_authorization_token()["authorizationData"]

        assert ["https://123456789012.dkr.ecr.us-west-2.amazonaws.com"] == [
            d["proxyEndpoint"] for d in data
        ]

    def test_ten_registry_ids_accepted(self, clients):
        """Ten registry ids, the service's limit, get ten entries."""
        ids = [f"{n:012d}" for n in range(10)]

        assert 10 == len(
            clients.ecr().get_authorization_token(registryIds=ids)["authorizationData"]
        )

    def test_more_than_ten_registry_ids_rejected(self, clients):
        """Eleven registry ids are rejected with InvalidParameterException, as by ECR."""
        ids = [f"{n:012d}" for n in range(11)]
        with pytest.raises(ClientError) as exc:
            clients.ecr().get_authorization_token(registryIds=ids)

        assert "InvalidParameterException" == error_code(exc)

    def test_malformed_registry_id_rejected(self, clients):
        """A registry id that is not 12 digits is rejected with InvalidParameterException."""
        with pytest.raises(ClientError) as exc:
            clients.ecr().get_authorization_token(registryIds=["12345"])

        assert "InvalidParameterException" == error_code(exc)

    def test_unknown_operation(self, clients):
        """Operations other than GetAuthorizationToken get UnknownOperationException."""
        with pytest.raises(ClientError) as exc:
            clients.ecr().describe_repositories()

        assert "UnknownOperationException" == error_code(exc)


class TestEcrPublic:
    def test_token(self, clients):
        """ECR Public answers one authorization structure with an expiry, no endpoint."""
        data = clients.public().get_authorization_token()["authorizationData"]

        assert NOW_MS + timedelta(hours=12) == data["expiresAt"]
        assert decode(data["authorizationToken"]).startswith("AWS:")

    def test_stable_password(self, clients):
        """With stable passwords, ECR Public's password is password_for("public")."""
        with Emulator(stable_passwords=True) as stable:
            clients.emu = stable
            data = clients.public().get_authorization_token()["authorizationData"]

            assert f"AWS:{stable.password_for('public')}" == decode(data["authorizationToken"])

    def test_call_recorded(self, emu, clients):
        """ECR Public calls are recorded under api "ecr-public", region us-east-1."""
        clients.public().get_authorization_token()

        assert [("ecr-public", "GetAuthorizationToken", "us-east-1")] == [
            (c.api, c.operation, c.region) for c in emu.calls()
        ]


class TestSts:
    def test_assume_role(self, clients):
        """AssumeRole issues ASIA keys that carry the role's account, and the session's expiry."""
        answer = clients.sts().assume_role(
            RoleArn=ROLE_ARN, RoleSessionName="ecrd", DurationSeconds=900
        )
        credentials = answer["Credentials"]

        assert re.fullmatch(r"ASIA210987654321[A-Z2-7]{4}", credentials["AccessKeyId"])
        assert NOW.replace(microsecond=0) + timedelta(seconds=900) == credentials["Expiration"]
        assert (
            "arn:aws:sts::210987654321:assumed-role/ecr-pull/ecrd"
            == (answer["AssumedRoleUser"]["Arn"])
        )

    def test_assumed_identity_signs_ecr_calls(self, emu, clients):
        """ECR calls signed with assumed keys are recorded with them and default to that account."""
        credentials = clients.sts().assume_role(RoleArn=ROLE_ARN, RoleSessionName="ecrd")[
            "Credentials"
        ]
        ecr = clients.ecr(
            access_key=credentials["AccessKeyId"],
            secret_key=credentials["SecretAccessKey"],
            session_token=credentials["SessionToken"],
        )
        data = ecr.get_authorization_token()["authorizationData"]

        assert "https://210987654321.dkr.ecr.us-west-2.amazonaws.com" == data[0]["proxyEndpoint"]
        assert [credentials["AccessKeyId"]] == [c.access_key for c in emu.calls(api="ecr")]

    def test_get_caller_identity(self, clients):
        """GetCallerIdentity names the default account for keys it did not issue."""
        identity = clients.sts().get_caller_identity()

        assert ("123456789012", "AKIDTEST") == (identity["Account"], identity["UserId"])

    def test_invalid_role_arn(self, clients):
        """A role ARN that is not one is a ValidationError."""
        with pytest.raises(ClientError) as exc:
            clients.sts().assume_role(
                RoleArn="arn:aws:iam::not-an-account:role/x", RoleSessionName="ecrd"
            )

        assert "ValidationError" == error_code(exc)


class TestFaults:
    @pytest.mark.parametrize(
        ("kind", "code", "status"),
        [
            ("throttle", "ThrottlingException", 400),
            ("access_denied", "AccessDeniedException", 400),
            ("http500", "ServerException", 500),
        ],
    )
    def test_error_faults(self, emu, clients, kind, code, status):
        """Error faults reach boto3 as ClientErrors with the service's codes and statuses."""
        emu.inject(Fault(kind=kind))
        with pytest.raises(ClientError) as exc:
            clients.ecr().get_authorization_token()

        assert (code, status) == (
            error_code(exc),
            exc.value.response["ResponseMetadata"]["HTTPStatusCode"],
        )

    def test_access_denied_message(self, emu, clients):
        """An "access_denied" fault carries ECR's message naming the action."""
        emu.inject(Fault(kind="access_denied"))
        with pytest.raises(ClientError) as exc:
            clients.ecr().get_authorization_token()

        assert (
            "User: arn:aws:iam::123456789012:user/test is not authorized to perform: "
            "ecr:GetAuthorizationToken on resource: * because no identity-based policy allows "
            "the ecr:GetAuthorizationToken action"
        ) == exc.value.response["Error"]["Message"]

    @pytest.mark.parametrize(
        ("kind", "code"), [("throttle", "Throttling"), ("access_denied", "AccessDenied")]
    )
    def test_sts_error_faults(self, emu, clients, kind, code):
        """Error faults on STS come back as STS's XML errors."""
        emu.inject(Fault(kind=kind))
        with pytest.raises(ClientError) as exc:
            clients.sts().assume_role(RoleArn=ROLE_ARN, RoleSessionName="ecrd")

        assert code == error_code(exc)

    def test_ecr_public_fault(self, emu, clients):
        """Faults apply to ECR Public too."""
        emu.inject(Fault(kind="throttle", api="ecr-public"))
        with pytest.raises(ClientError) as exc:
            clients.public().get_authorization_token()

        assert "ThrottlingException" == error_code(exc)

    def test_drop(self, emu, clients):
        """A "drop" closes the connection without an answer: a botocore connection error."""
        emu.inject(Fault(kind="drop"))
        ecr = clients.ecr()
        with pytest.raises(ConnectionClosedError):
            ecr.get_authorization_token()

        assert 1 == len(ecr.get_authorization_token()["authorizationData"])

    def test_malformed_ecr(self, emu, clients):
        """A "malformed" 200 of HTML: botocore's JSON parser yields no authorizationData."""
        emu.inject(Fault(kind="malformed"))
        answer = clients.ecr().get_authorization_token()

        assert "authorizationData" not in answer

    def test_malformed_sts(self, emu, clients):
        """A "malformed" answer makes botocore's XML parser fail for STS."""
        emu.inject(Fault(kind="malformed"))
        with pytest.raises(ResponseParserError):
            clients.sts().get_caller_identity()

    def test_slow_answers_after_delay(self, emu, clients):
        """A "slow" call answers normally once its delay has passed."""
        emu.inject(Fault(kind="slow", delay=0.05))
        started = time.monotonic()
        data = clients.ecr().get_authorization_token()["authorizationData"]

        assert time.monotonic() - started >= 0.05
        assert (1, "slow") == (len(data), emu.calls()[0].fault)

    def test_slow_beyond_read_timeout(self, emu, clients):
        """A "slow" call beyond the client's read timeout is a botocore ReadTimeoutError."""
        emu.inject(Fault(kind="slow", delay=30))
        impatient = Config(retries={"total_max_attempts": 1}, read_timeout=0.1)
        with pytest.raises(ReadTimeoutError):
            clients.ecr(config=impatient).get_authorization_token()

    def test_hang_released_by_clear_faults(self, emu, clients):
        """A "hang" holds the call until the faults are cleared, then answers normally."""
        emu.inject(Fault(kind="hang"))
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(clients.ecr().get_authorization_token)
            emu.wait_for_calls(1)
            held = future.done()
            emu.clear_faults()
            data = future.result(timeout=5)["authorizationData"]

        assert (False, 1) == (held, len(data))

    def test_hang_released_by_stop(self, emu, clients):
        """Stopping the emulator ends a hanging call with a connection error."""
        emu.inject(Fault(kind="hang"))
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(clients.ecr().get_authorization_token)
            emu.wait_for_calls(1)
            emu.stop()

            assert isinstance(future.exception(timeout=5), ConnectionClosedError)

    def test_past_expiry(self, emu, clients):
        """A "past_expiry" fault answers a token that expired an hour ago."""
        emu.inject(Fault(kind="past_expiry"))
        data = clients.ecr().get_authorization_token()["authorizationData"]

        assert NOW_MS - timedelta(hours=1) == data[0]["expiresAt"]

    def test_count(self, emu, clients):
        """A fault applies to as many calls as its count, then calls succeed again."""
        emu.inject(Fault(kind="throttle", count=2))
        ecr = clients.ecr()
        for _ in range(2):
            with pytest.raises(ClientError):
                ecr.get_authorization_token()
        ecr.get_authorization_token()

        assert ["throttle", "throttle", None] == [c.fault for c in emu.calls()]

    def test_until_cleared(self, emu, clients):
        """A fault with count None applies until the faults are cleared."""
        emu.inject(Fault(kind="http500", count=None))
        ecr = clients.ecr()
        for _ in range(3):
            with pytest.raises(ClientError):
                ecr.get_authorization_token()
        emu.clear_faults()
        ecr.get_authorization_token()

        assert ["http500"] * 3 + [None] == [c.fault for c in emu.calls()]

    def test_region_filter(self, emu, clients):
        """A fault for one region leaves calls for other regions alone."""
        emu.inject(Fault(kind="throttle", region="eu-west-1"))
        clients.ecr("us-west-2").get_authorization_token()
        with pytest.raises(ClientError):
            clients.ecr("eu-west-1").get_authorization_token()

        assert [("us-west-2", None), ("eu-west-1", "throttle")] == [
            (c.region, c.fault) for c in emu.calls()
        ]

    def test_api_filter(self, emu, clients):
        """A fault for one api leaves calls to the others alone."""
        emu.inject(Fault(kind="throttle", api="ecr"))
        clients.sts().assume_role(RoleArn=ROLE_ARN, RoleSessionName="ecrd")
        with pytest.raises(ClientError):
            clients.ecr().get_authorization_token()

        assert [("sts", None), ("ecr", "throttle")] == [(c.api, c.fault) for c in emu.calls()]

    def test_oldest_fault_first(self, emu, clients):
        """Faults matching the same call apply in the order they were injected."""
        emu.inject(Fault(kind="throttle"))
        emu.inject(Fault(kind="access_denied"))
        ecr = clients.ecr()
        codes = []
        for _ in range(2):
            with pytest.raises(ClientError) as exc:
                ecr.get_authorization_token()
            codes.append(error_code(exc))

        assert ["ThrottlingException", "AccessDeniedException"] == codes

    @pytest.mark.parametrize(
        "fields",
        [{"kind": "boom"}, {"kind": "throttle", "count": 0}, {"kind": "slow", "delay": -1}],
    )
    def test_invalid_fault(self, fields):
        """A fault with an unknown kind, a count below 1 or a negative delay is refused."""
        with pytest.raises(ValueError, match="invalid fault"):
            Fault(**fields)


class TestCalls:
    def test_fields(self, emu, clients):
        """A call records time, api, operation, region, access key and registry ids."""
        clients.ecr("ap-south-1", access_key="AKIDOTHER").get_authorization_token(
            registryIds=[ID_B, ID_A]
        )

        assert [
            Call(
                at=NOW,
                api="ecr",
                operation="GetAuthorizationToken",
                region="ap-south-1",
                access_key="AKIDOTHER",
                registry_ids=(ID_B, ID_A),
                fault=None,
            )
        ] == emu.calls()

    def test_unsigned(self, emu, clients):
        """An unsigned call is recorded with an empty region and access key."""
        clients.ecr(
            config=NO_RETRY.merge(Config(signature_version=botocore.UNSIGNED))
        ).get_authorization_token()

        assert [("", "")] == [(c.region, c.access_key) for c in emu.calls()]

    def test_faulted_calls_recorded(self, emu, clients):
        """A call failed on purpose is recorded with the fault's name."""
        emu.inject(Fault(kind="drop"))
        with pytest.raises(ConnectionClosedError):
            clients.ecr().get_authorization_token()

        assert ["drop"] == [c.fault for c in emu.calls()]

    def test_filter_and_clear(self, emu, clients):
        """calls() narrows by api and operation; clear_calls() forgets them."""
        clients.ecr().get_authorization_token()
        clients.sts().get_caller_identity()
        clients.sts().assume_role(RoleArn=ROLE_ARN, RoleSessionName="ecrd")
        selected = (
            len(emu.calls()),
            len(emu.calls(api="sts")),
            len(emu.calls(api="sts", operation="AssumeRole")),
        )
        emu.clear_calls()

        assert ((3, 2, 1), []) == (selected, emu.calls())

    def test_wait_for_calls(self, emu, clients):
        """wait_for_calls blocks until calls made from another thread are recorded."""
        ecr = clients.ecr()
        with ThreadPoolExecutor(max_workers=2) as pool:
            for _ in range(2):
                pool.submit(ecr.get_authorization_token)
            calls = emu.wait_for_calls(2, api="ecr")

        assert 2 == len(calls)

    def test_wait_for_calls_times_out(self, emu, clients):
        """wait_for_calls raises TimeoutError when too few matching calls arrive."""
        clients.sts().get_caller_identity()
        with pytest.raises(TimeoutError):
            emu.wait_for_calls(1, api="ecr", timeout=0.05)


class TestControlPlane:
    def test_calls(self, emu, clients):
        """GET /_emulator/calls lists the calls as JSON; control requests are not recorded."""
        clients.ecr().get_authorization_token(registryIds=[ID_A])
        control(emu.url, "GET", "calls")

        assert (
            200,
            [
                {
                    "at": NOW.isoformat(),
                    "api": "ecr",
                    "operation": "GetAuthorizationToken",
                    "region": "us-west-2",
                    "access_key": "AKIDTEST",
                    "registry_ids": [ID_A],
                    "fault": None,
                }
            ],
        ) == control(emu.url, "GET", "calls")

    def test_clear_calls(self, emu, clients):
        """DELETE /_emulator/calls forgets the calls."""
        clients.ecr().get_authorization_token()
        control(emu.url, "DELETE", "calls")

        assert [] == emu.calls()

    def test_inject_and_clear_faults(self, emu, clients):
        """POST /_emulator/faults injects a fault; DELETE /_emulator/faults clears them."""
        ecr = clients.ecr()
        control(emu.url, "POST", "faults", {"kind": "throttle", "count": None, "api": "ecr"})
        with pytest.raises(ClientError) as exc:
            ecr.get_authorization_token()
        control(emu.url, "DELETE", "faults")
        ecr.get_authorization_token()

        assert ["throttle", None] == [c.fault for c in emu.calls()]
        assert "ThrottlingException" == error_code(exc)

    @pytest.mark.parametrize("fault", [{"kind": "boom"}, {"kind": "drop", "when": 1}, ["drop"]])
    def test_invalid_fault(self, emu, fault):
        """An invalid fault is answered 400 and not injected."""
        status, _ = control(emu.url, "POST", "faults", fault)

        assert 400 == status

    def test_token_lifetime(self, emu, clients):
        """PUT /_emulator/token-lifetime changes the expiry of the next tokens."""
        status, _ = control(emu.url, "PUT", "token-lifetime", {"seconds": 90})
        data = clients.ecr().get_authorization_token()["authorizationData"]

        assert (200, NOW_MS + timedelta(seconds=90)) == (status, data[0]["expiresAt"])

    def test_invalid_token_lifetime(self, emu):
        """A token lifetime without seconds is answered 400."""
        assert 400 == control(emu.url, "PUT", "token-lifetime", {"minutes": 1})[0]

    def test_password(self):
        """GET /_emulator/password/<id> answers the stable password of a registry id."""
        with Emulator(stable_passwords=True) as stable:
            expected = {"registry_id": ID_A, "password": stable.password_for(ID_A)}

            assert (200, expected) == control(stable.url, "GET", f"password/{ID_A}")

    def test_password_not_issued(self, emu):
        """Without stable passwords, an id that got no token yet is answered 404."""
        assert 404 == control(emu.url, "GET", f"password/{ID_A}")[0]

    def test_unknown_path(self, emu):
        """Unknown control paths are answered 404."""
        assert 404 == control(emu.url, "GET", "nothing")[0]


class TestServer:
    def test_url_and_port(self, emu):
        """Port 0 picks a free port, which the URL names."""
        assert emu.port > 0
        assert f"http://127.0.0.1:{emu.port}" == emu.url

    def test_keep_alive(self, emu):
        """Answers carry a Content-Length, so one connection serves many requests."""
        headers = {
            "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
            "Content-Type": "application/x-amz-json-1.1",
        }
        connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
        seen = []
        for _ in range(2):
            connection.request("POST", "/", body=b"{}", headers=headers)
            response = connection.getresponse()
            response.read()
            seen.append((response.status, response.will_close, connection.sock))
        connection.close()

        assert [(200, False, seen[0][2])] * 2 == seen

    def test_stop_is_idempotent_and_final(self, emu, clients):
        """stop() may be called twice; afterwards the port refuses connections."""
        ecr = clients.ecr()
        ecr.get_authorization_token()
        emu.stop()
        emu.stop()
        with pytest.raises(EndpointConnectionError):
            ecr.get_authorization_token()

    def test_starts_once(self, emu):
        """An emulator cannot be started twice."""
        with pytest.raises(RuntimeError):
            emu.start()

    def test_ipv6(self, clients):
        """An emulator on ::1 serves boto3 under a bracketed URL."""
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback on this machine")
        with Emulator(host="::1") as v6:
            data = clients.ecr(emu=v6).get_authorization_token()["authorizationData"]

            assert f"http://[::1]:{v6.port}" == v6.url
            assert 1 == len(data)


class TestServe:
    @pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
    def test_foreground(self, stop_signal):
        """serve() prints its URL, answers, and exits cleanly on SIGTERM or SIGINT."""
        code = (
            "from datetime import timedelta; from ecrd.emulator.server import serve; "
            "serve(host='127.0.0.1', port=0, token_lifetime=timedelta(hours=1), "
            "stable_passwords=True)"
        )
        with subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
        ) as process:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.fullmatch(r"ECR emulator listening on (http://127\.0\.0\.1:(\d+))\n", line)
            assert match is not None
            status, calls = control(match.group(1), "GET", "calls")
            process.send_signal(stop_signal)

            assert (200, [], 0) == (status, calls, process.wait(timeout=10))

    def test_a_busy_port_is_one_line_of_error(self, emu):
        """`ecrd emulator --port N` on a port in use: `Error: cannot listen on ...`, exit 1."""
        done = subprocess.run(
            [sys.executable, "-m", "ecrd", "emulator", "--port", str(emu.port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

        assert 1 == done.returncode
        expected = (
            f"Error: cannot listen on 127.0.0.1:{emu.port}: Address already in use; pick another"
            " --port, or --port 0 for a free one"
        )
        assert [expected] == done.stderr.splitlines()
        assert "" == done.stdout
