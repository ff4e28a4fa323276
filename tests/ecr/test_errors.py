"""The one error table: answers that are not ECR's, throttling, fixes named on ecrd's side."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from ecrd.ecr.source import EcrTokenSource
from ecrd.emulator.server import Emulator, Fault
from ecrd.errors import TokenError
from tests.ecr.groups import CannedEndpoint, group_of, registry

if TYPE_CHECKING:
    from ecrd.config.model import Group

HTML_501 = (
    b"<!DOCTYPE html>\n<html><head><title>501 Not Implemented</title></head>\n<body>\n"
    b"<h1>Not Implemented</h1>\n<p>POST to / not supported.<br />\n</p>\n<hr>\n"
    b"<address>Apache/2.4.57 (Debian) Server at 127.0.0.1</address>\n</body></html>\n"
)


def fetch_failure(url: str) -> tuple[Group, TokenError]:
    group = group_of(registry(endpoint_url=url))
    # Every endpoint here answers at once: the attempt's default deadline leaves a loaded
    # machine the time to build the client.
    source = EcrTokenSource(max_attempts=1)
    with pytest.raises(TokenError) as info:
        source.fetch(group)
    return group, info.value


class TestNotEcr:
    def test_html_page_is_one_line_with_the_status(self):
        """An HTML error page: `the endpoint did not answer like ECR: HTTP 501`, no body."""
        with CannedEndpoint(status=501, content_type="text/html", body=HTML_501) as endpoint:
            group, error = fetch_failure(endpoint.url)

        assert f"group {group.name}: the endpoint did not answer like ECR: HTTP 501" == str(error)
        assert "" == error.service_message

    def test_another_services_error_json_is_not_pasted(self):
        """Another service's JSON error (no AWS error code): one line with the status."""
        body = json.dumps({"message": "Not Found", "detail": "no route /"}).encode()
        with CannedEndpoint(status=404, content_type="application/json", body=body) as endpoint:
            group, error = fetch_failure(endpoint.url)

        assert f"group {group.name}: the endpoint did not answer like ECR: HTTP 404" == str(error)

    def test_another_services_success_json(self):
        """A 200 that is not ECR's answer: named as such, with the status, and no body."""
        body = json.dumps({"hello": "world", "items": [1, 2, 3]}).encode()
        with CannedEndpoint(status=200, content_type="application/json", body=body) as endpoint:
            group, error = fetch_failure(endpoint.url)

        assert (
            f"group {group.name}: the endpoint did not answer like ECR: HTTP 200 without authorizationData"
        ) == str(error)
        assert "MalformedAnswer" == error.code


class TestThrottled:
    def test_throttling_exception_is_throttled(self, emulator: Emulator):
        """ECR's ThrottlingException: `throttled` is true, and the message promises nothing."""
        emulator.inject(Fault(kind="throttle", count=None))

        _group, error = fetch_failure(emulator.url)

        assert (True, "ThrottlingException") == (error.throttled, error.code)
        assert "retry" not in str(error)

    def test_http_429_without_a_code_is_throttled(self):
        """A proxy's 429 page: throttled, one line."""
        with CannedEndpoint(
            status=429, content_type="text/html", body=b"<h1>slow</h1>"
        ) as endpoint:
            group, error = fetch_failure(endpoint.url)

        assert error.throttled
        assert f"group {group.name}: throttled (HTTP 429) calling GetAuthorizationToken" == str(
            error
        )

    @pytest.mark.parametrize("kind", ["access_denied", "http500"])
    def test_other_errors_are_not_throttled(self, emulator: Emulator, kind):
        """Access denied and a server error are failures, not throttling."""
        emulator.inject(Fault(kind=kind, count=None))

        _group, error = fetch_failure(emulator.url)

        assert not error.throttled

    def test_throttled_reads_code_and_status(self):
        """The property reads the code, or HTTP 429 whatever the code."""
        assert [True, True, False, True] == [
            TokenError("m", code="ThrottlingException").throttled,
            TokenError("m", code="TooManyRequestsException").throttled,
            TokenError("m", code="ServerException", http_status=500).throttled,
            TokenError("m", code="429", http_status=429).throttled,
        ]


class TestFixesOnEcrdSide:
    def test_no_credentials_names_the_ecrd_fix(self, emulator: Emulator, monkeypatch):
        """No credentials: the fix is a `profile:` in ecrd's configuration or the service's environment."""
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

        _group, error = fetch_failure(emulator.url)

        assert "set `profile:` for this registry in the ecrd configuration" in str(error)
        assert "the environment ecrd runs in" in str(error)
        assert "aws configure" not in str(error)

    def test_rejected_credentials_name_the_ecrd_fix(self):
        """Credentials AWS rejects (UnrecognizedClientException): ecrd's fix, never `aws configure`."""
        body = json.dumps(
            {
                "__type": "UnrecognizedClientException",
                "message": "The security token included in the request is invalid.",
            }
        ).encode()
        with CannedEndpoint(
            status=400, content_type="application/x-amz-json-1.1", body=body
        ) as endpoint:
            group, error = fetch_failure(endpoint.url)

        assert "UnrecognizedClientException" == error.code
        assert str(error).startswith(f"group {group.name}: AWS rejected the credentials of ")
        assert "set `profile:` for this registry in the ecrd configuration" in str(error)
        assert "aws configure" not in str(error)

    def test_connection_closed_promises_no_retry(self, emulator: Emulator):
        """A dropped connection is reported as it is; a one-shot refresh never retries."""
        emulator.inject(Fault(kind="drop", count=None))

        _group, error = fetch_failure(emulator.url)

        assert "closed the connection without an answer" in str(error)
        assert "retry" not in str(error)
