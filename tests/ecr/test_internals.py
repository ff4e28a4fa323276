"""The botocore internals ecrd relies on, checked directly: an upgrade that breaks one fails here.

If a test here fails after upgrading botocore, ``ecrd/ecr/_internals.py`` needs a change:
a hung credential_process would no longer be killed, or role_arn would no longer be assumed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.credentials import ProcessProvider

from ecrd.ecr import _internals
from ecrd.ecr.deadline import BoundedProcess
from tests.aws import write_aws_config

if TYPE_CHECKING:
    from pathlib import Path

    from ecrd.emulator.server import Emulator


class TestBoundCredentialProcess:
    def test_the_profiles_credential_process_runs_through_the_given_popen(
        self, isolated_env: Path, tmp_path: Path
    ):
        """Botocore's ProcessProvider still takes `popen`, and its chain slot can be replaced."""
        script = tmp_path / "creds.sh"
        answer = {"Version": 1, "AccessKeyId": "AKIDPROCESS00001", "SecretAccessKey": "s"}
        script.write_text(f"#!/bin/sh\necho '{json.dumps(answer)}'\n")
        script.chmod(0o755)
        write_aws_config(isolated_env, f"[profile p]\ncredential_process = {script}\n")
        started: list[BoundedProcess] = []

        class Recording(BoundedProcess):
            def __init__(self, args, **kwargs):
                super().__init__(args, **kwargs)
                started.append(self)

        session = botocore.session.Session(profile="p")
        _internals.bound_credential_process(session, popen=Recording)
        credentials = session.get_credentials()

        assert credentials is not None
        assert "AKIDPROCESS00001" == credentials.access_key
        assert 1 == len(started)
        resolver = session.get_component("credential_provider")
        methods = [p.METHOD for p in resolver.providers]
        assert 1 == methods.count(ProcessProvider.METHOD)


class TestAssumeRole:
    def test_role_credentials_come_from_sts_at_the_first_call(
        self, emulator: Emulator, monkeypatch
    ):
        """AssumeRoleCredentialFetcher + DeferredRefreshableCredentials: STS once, then ECR signed."""
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator.url)
        base = botocore.session.Session()
        session = botocore.session.Session()
        _internals.assume_role(
            session,
            base=base,
            role_arn="arn:aws:iam::210987654321:role/pull",
            session_name="ecrd-test",
            create_client=lambda service, **kw: base.create_client(
                service, region_name="us-west-2", **kw
            ),
        )
        client: Any = session.create_client(
            "ecr", region_name="us-west-2", endpoint_url=emulator.url
        )

        assert [] == emulator.calls()
        client.get_authorization_token()
        client.get_authorization_token()

        assert ["sts"] == [c.api for c in emulator.calls(api="sts")]
        keys = {c.access_key for c in emulator.calls(api="ecr")}
        assert 1 == len(keys)
        assert next(iter(keys)).startswith("ASIA210987654321")
