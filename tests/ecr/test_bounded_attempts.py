"""One botocore call per attempt, request timeouts from the attempt, answers with odd expiries."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from ecrd.ecr.deadline import Attempt
from ecrd.ecr.source import EcrTokenSource
from ecrd.emulator.server import Fault
from ecrd.errors import TokenError
from tests.aws import SilentEndpoint
from tests.ecr.groups import CannedEndpoint, group_of, registry, warm

if TYPE_CHECKING:
    from ecrd.emulator.server import Emulator

pytestmark = pytest.mark.usefixtures("isolated_env")


def _answer(expires_at: object) -> bytes:
    token = base64.b64encode(b"AWS:password").decode()
    data = {
        "authorizationToken": token,
        "expiresAt": expires_at,
        "proxyEndpoint": "https://111111111111.dkr.ecr.us-west-2.amazonaws.com",
    }
    return json.dumps({"authorizationData": [data]}).encode()


class TestOneCallPerAttempt:
    def test_throttling_exception_is_one_call_per_attempt(self, emulator: Emulator):
        """ThrottlingException on every call: three attempts, three calls at the endpoint."""
        emulator.inject(Fault(kind="throttle", count=None))
        source = EcrTokenSource()
        group = group_of(registry(endpoint_url=emulator.url))

        codes = []
        for _ in range(3):
            with pytest.raises(TokenError) as info:
                source.fetch(group)
            codes.append(info.value.code)

        assert ["ThrottlingException"] * 3 == codes
        assert 3 == len(emulator.calls(api="ecr"))

    def test_http_429_is_one_call_per_attempt(self):
        """HTTP 429 with no AWS error code: each attempt makes exactly one call."""
        source = EcrTokenSource()
        with CannedEndpoint(status=429, content_type="text/plain", body=b"slow down") as endpoint:
            group = group_of(registry(endpoint_url=endpoint.url))
            for _ in range(2):
                with pytest.raises(TokenError) as info:
                    source.fetch(group)
            calls = endpoint.calls

        assert "throttled (HTTP 429)" in str(info.value)
        assert 2 == calls


class TestRequestTimeouts:
    def test_an_attempt_longer_than_60_s_gives_its_requests_that_long(self, emulator: Emulator):
        """attempt_timeout 120s: a request's connect and read timeouts are the time left, over 60 s."""
        source = EcrTokenSource()
        group = group_of(registry(endpoint_url=emulator.url))
        attempt = Attempt(timeout=120, waiting_for="the test")

        def timeouts() -> tuple[float, float]:
            client = source._sessions.client(group.key)
            timeout = client._endpoint.http_session._get_request_timeout(None)
            return timeout.connect_timeout, timeout.read_timeout

        connect, read = attempt.run(timeouts)

        assert [True, True] == [110 < connect <= 120, 110 < read <= 120]

    def test_the_daemons_attempt_is_the_one_deadline(self):
        """Under the caller's 1 s attempt, a source built with 60 s gives up after 1 s."""
        source = EcrTokenSource()
        with SilentEndpoint() as endpoint:
            group = group_of(registry(endpoint_url=endpoint.url))
            warm(source, group)
            attempt = Attempt(timeout=1, waiting_for="the test")
            with pytest.raises(TokenError) as info:
                attempt.run(lambda: source.fetch(group))
            connections = endpoint.connections

        assert "Timeout" == info.value.code
        assert f"group {group.name}: gave up after 1 s: " in str(info.value)
        assert 1 == connections


class TestExpiry:
    def test_a_token_already_expired_is_a_failed_attempt(self, emulator: Emulator):
        """An expiresAt an hour ago: TokenError saying so, not credentials."""
        emulator.inject(Fault(kind="past_expiry"))

        with pytest.raises(TokenError) as info:
            EcrTokenSource().fetch(group_of(registry(endpoint_url=emulator.url)))

        assert "TokenAlreadyExpired" == info.value.code
        assert "expired already" in str(info.value)
        assert emulator.password_for("111111111111") not in str(info.value)

    def test_a_token_expiring_more_than_a_year_ahead_is_a_failed_attempt(self, emulator: Emulator):
        """An expiresAt 400 days ahead: refused, the host is not left unrefreshed for ever."""
        emulator.token_lifetime = timedelta(days=400)

        with pytest.raises(TokenError) as info:
            EcrTokenSource().fetch(group_of(registry(endpoint_url=emulator.url)))

        assert "MalformedAnswer" == info.value.code
        assert "more than a year ahead" in str(info.value)

    @pytest.mark.parametrize("expires_at", [1e20, 1e300, 253402300800, "garbage"])
    def test_an_unreadable_expiry_is_a_clear_error(self, expires_at: object):
        """An expiresAt of 1e20, 1e300, year 10000 or text: a clear TokenError, never a traceback."""
        with (
            CannedEndpoint(
                status=200, content_type="application/x-amz-json-1.1", body=_answer(expires_at)
            ) as endpoint,
            pytest.raises(TokenError) as info,
        ):
            EcrTokenSource().fetch(group_of(registry(endpoint_url=endpoint.url)))

        assert "MalformedAnswer" == info.value.code
        assert "password" not in str(info.value)


class TestStsUnreachable:
    def test_a_role_whose_sts_cannot_be_reached_is_told_about_sts_settings(
        self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
    ):
        """STS refuses connections: the message names AWS_ENDPOINT_URL_STS, not endpoint_url."""
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
        group = group_of(
            registry(endpoint_url=emulator.url, role_arn="arn:aws:iam::210987654321:role/r")
        )

        with pytest.raises(TokenError) as info:
            EcrTokenSource().fetch(group)

        message = str(info.value)
        assert "EndpointUnreachable" == info.value.code
        assert "cannot reach STS at http://127.0.0.1:9" in message
        assert "AWS_ENDPOINT_URL_STS" in message
        assert [] == emulator.calls(api="ecr")
