"""The core's client construction and the commands' call (ecrd.ecr.clients, ecrd.awscli.call)."""

from __future__ import annotations

from datetime import datetime

import pytest
from botocore import UNSIGNED

from ecrd.awscli import call
from ecrd.config.model import Group, Registry
from ecrd.ecr import clients, sessions
from ecrd.ecr.source import EcrTokenSource
from ecrd.emulator.server import Emulator, Fault
from ecrd.errors import TokenError


class TestCreateClient:
    def test_aws_cli_knobs_reach_botocore(self):
        """verify, timeouts (0: none) and unsigned requests are set on the client."""
        client = clients.create_client(
            region="eu-west-1",
            endpoint_url="http://127.0.0.1:9",
            verify=False,
            connect_timeout=0,
            read_timeout=7,
            unsigned=True,
        )

        config = client.meta.config
        assert (False, None, 7, "eu-west-1") == (
            client._endpoint.http_session._verify,
            config.connect_timeout,
            config.read_timeout,
            client.meta.region_name,
        )
        assert UNSIGNED is config.signature_version

    def test_aws_region_is_read_when_no_region_is_given(self, monkeypatch):
        """None means the AWS CLI's lookup: AWS_REGION before AWS_DEFAULT_REGION."""
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_REGION", "ap-south-1")

        assert "ap-south-1" == clients.create_client().meta.region_name

    def test_wire_timestamps_keep_epoch_seconds(self, emulator):
        """wire_timestamps: expiresAt as sent (a number); otherwise a datetime."""
        wire = clients.create_client(
            region="eu-west-1", endpoint_url=emulator.url, wire_timestamps=True
        )
        parsed = clients.create_client(region="eu-west-1", endpoint_url=emulator.url)

        assert (float, datetime) == (
            type(wire.get_authorization_token()["authorizationData"][0]["expiresAt"]),
            type(parsed.get_authorization_token()["authorizationData"][0]["expiresAt"]),
        )

    def test_token_source_builds_its_clients_here(self, emulator, monkeypatch):
        """EcrTokenSource makes its clients with create_client: one construction for all."""
        made: list[str] = []
        original = clients.create_client

        def recording(**kwargs):
            made.append(kwargs["service"])
            return original(**kwargs)

        monkeypatch.setattr(sessions, "create_client", recording)
        registry = Registry(
            registry_id="111111111111",
            region="eu-west-1",
            hosts=("111111111111.dkr.ecr.eu-west-1.amazonaws.com",),
            endpoint_url=emulator.url,
        )

        EcrTokenSource().fetch(Group(key=registry.group_key, registries=(registry,)))

        assert ["ecr"] == made


class TestRequestAuthorizationToken:
    def test_answer_without_response_metadata(self, emulator):
        """The answer is the service's, without botocore's ResponseMetadata."""
        answer = call.request_authorization_token(
            params={"registryIds": ["111111111111"]}, region="eu-west-1", endpoint_url=emulator.url
        )

        assert ["authorizationData"] == list(answer)

    def test_service_error_keeps_code_operation_and_message(self, emulator: Emulator):
        """An error answer: the AWS code, the operation, the service's message, botocore's text."""
        emulator.inject(Fault(kind="access_denied"))

        with pytest.raises(TokenError) as info:
            call.request_authorization_token(
                params={}, region="eu-west-1", endpoint_url=emulator.url
            )

        error = info.value
        assert ("AccessDeniedException", "GetAuthorizationToken") == (error.code, error.operation)
        assert str(error) == (
            "An error occurred (AccessDeniedException) when calling the GetAuthorizationToken "
            f"operation: {error.service_message}"
        )

    @pytest.mark.parametrize(
        ("params", "region", "code"),
        [
            ({"registryIds": []}, "eu-west-1", "ParamValidation"),
            ({"bogus": 1}, "eu-west-1", "ParamValidation"),
            ({}, None, "NoRegion"),
        ],
    )
    def test_client_side_failures_are_named(self, emulator, monkeypatch, params, region, code):
        """Failures before any request get a code and botocore's text; nothing is sent."""
        monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)

        with pytest.raises(TokenError) as info:
            call.request_authorization_token(
                params=params, region=region, endpoint_url=emulator.url
            )

        assert (code, None, []) == (info.value.code, info.value.operation, emulator.calls())


class TestReadProfileSettings:
    def test_settings_of_the_named_profile(self, isolated_env):
        """The profile's own keys, such as output and cli_timestamp_format."""
        config = isolated_env / ".aws" / "config"
        config.parent.mkdir()
        config.write_text("[default]\noutput = text\n[profile ci]\noutput = table\n")

        assert ({"output": "text"}, {"output": "table"}) == (
            call.read_profile_settings(profile=None),
            call.read_profile_settings(profile="ci"),
        )

    def test_unknown_profile(self):
        """A profile that does not exist: botocore's message, code ProfileNotFound."""
        with pytest.raises(TokenError, match=r"The config profile \(nope\) could not be found"):
            call.read_profile_settings(profile="nope")
