"""Sessions and clients live across rounds; a login that needs a person is named, never prompted."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import botocore.session
import pytest

from ecrd.ecr.source import EcrTokenSource, fetch_all
from ecrd.errors import NEEDS_LOGIN, TokenError
from tests.aws import write_aws_config
from tests.ecr.groups import group_of, registry

if TYPE_CHECKING:
    from pathlib import Path

    from ecrd.emulator.server import Emulator

ROLE = "arn:aws:iam::210987654321:role/pull"
MFA_CONFIG = (
    "[profile base]\naws_access_key_id = AKIDBASE00000001\naws_secret_access_key = s\n\n"
    f"[profile mfa]\nrole_arn = {ROLE}\nsource_profile = base\n"
    "mfa_serial = arn:aws:iam::210987654321:mfa/alice\n"
)


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The service of every botocore client created during the test, in order."""
    found: list[str] = []
    original = botocore.session.Session.create_client

    def counting(self, service_name, *args, **kwargs):
        found.append(service_name)
        return original(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting)
    return found


class TestReuse:
    def test_clients_are_created_once_per_group_over_two_rounds(
        self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, created: list[str]
    ):
        """Three groups, two rounds: three ECR clients and one STS client, all in round one."""
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator.url)
        groups = [
            group_of(registry(region="us-west-2", endpoint_url=emulator.url)),
            group_of(registry(region="eu-west-1", endpoint_url=emulator.url)),
            group_of(registry(region="us-west-2", endpoint_url=emulator.url, role_arn=ROLE)),
        ]
        source = EcrTokenSource()

        first = fetch_all(source, groups)
        after_first = sorted(created)
        second = fetch_all(source, groups)

        assert not any(isinstance(r, TokenError) for r in [*first.values(), *second.values()])
        assert ["ecr", "ecr", "ecr", "sts"] == after_first
        assert after_first == sorted(created)
        assert 6 == len(emulator.calls(api="ecr"))
        assert 1 == len(emulator.calls(api="sts"))

    def test_a_one_round_source_keeps_no_client_but_one_session(
        self, emulator: Emulator, created: list[str]
    ):
        """keep_clients=False (ecrd refresh): each client is let go after its call."""
        groups = [
            group_of(registry(region="us-west-2", endpoint_url=emulator.url)),
            group_of(registry(region="eu-west-1", endpoint_url=emulator.url)),
        ]
        source = EcrTokenSource(keep_clients=False)

        first = fetch_all(source, groups)
        second = fetch_all(source, groups)

        assert not any(isinstance(r, TokenError) for r in [*first.values(), *second.values()])
        assert ["ecr"] * 4 == created  # built again for the second round
        assert ({}, 1) == (source._sessions._clients, len(source._sessions._sessions))


class TestNeedsLogin:
    def test_mfa_profile_needs_a_person(self, emulator: Emulator, isolated_env: Path):
        """A role assumed with mfa_serial: NEEDS_LOGIN naming the profile and the fix, no call."""
        write_aws_config(isolated_env, MFA_CONFIG)

        with pytest.raises(TokenError) as info:
            EcrTokenSource().fetch(group_of(registry(endpoint_url=emulator.url, profile="mfa")))

        assert NEEDS_LOGIN == info.value.code
        assert "AWS profile 'mfa' assumes its role with an MFA code (mfa_serial)" in str(info.value)
        assert "set `profile:` in the ecrd configuration" in str(info.value)
        assert [] == emulator.calls()

    def test_refresh_with_an_mfa_profile_ends_without_prompt_or_traceback(
        self, emulator: Emulator, isolated_env: Path, tmp_path: Path
    ):
        """`ecrd refresh` on an MFA profile exits 1 with the instruction; stdin left open is never read."""
        write_aws_config(isolated_env, MFA_CONFIG)
        config = tmp_path / "ecrd.yaml"
        config.write_text(
            f"aws:\n  region: us-west-2\n  endpoint_url: {emulator.url}\n"
            f"outputs:\n  - type: docker\n    path: {tmp_path / 'docker.json'}\n"
            'registries:\n  - registry_id: "111111111111"\n    profile: mfa\n'
        )

        process = subprocess.Popen(
            [sys.executable, "-m", "ecrd", "refresh", "-c", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # stdin stays open and empty: a prompt would wait for ever, and time out here.
        out, err = process.communicate(timeout=60)

        assert 1 == process.returncode
        assert "mfa_serial" in out + err
        assert "Traceback" not in out + err
        assert "Enter MFA code" not in out + err
        assert [] == emulator.calls()
