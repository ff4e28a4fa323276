"""A second opinion: ecrd's token source against moto's independent ECR server."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest

from ecrd.config.model import Group, Registry
from ecrd.ecr import source
from ecrd.ecr.source import EcrTokenSource

if TYPE_CHECKING:
    from ecrd.emulator.server import Emulator

# moto's tokens all expire on 2015-01-01: its answers are read as of the day before.
MOTO_DAY = datetime(2014, 12, 31, tzinfo=timezone.utc)


@pytest.fixture
def moto_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token source reads expiries as of the day before moto's fixed one."""
    monkeypatch.setattr(source, "_utcnow", lambda: MOTO_DAY)


def group(
    endpoint: str, *ids: str, region: str = "eu-west-1", role_arn: str | None = None
) -> Group:
    registries = tuple(
        Registry(
            registry_id=i,
            region=region,
            hosts=(f"{i}.dkr.ecr.{region}.amazonaws.com",),
            endpoint_url=endpoint,
            role_arn=role_arn,
        )
        for i in ids
    )
    return Group(key=registries[0].group_key, registries=registries)


class TestMotoAgrees:
    def test_same_hosts_and_users_from_both_servers(
        self, moto_url: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
    ):
        """Asked the same, moto and the emulator give credentials for the same hosts."""
        ids = ("111111111111", "222222222222")
        with monkeypatch.context() as day:
            day.setattr(source, "_utcnow", lambda: MOTO_DAY)
            from_moto = EcrTokenSource().fetch(group(moto_url, *ids))

        from_emulator = EcrTokenSource().fetch(group(emulator.url, *ids))

        assert [(c.registry_id, c.host, c.username) for c in from_emulator] == [
            (c.registry_id, c.host, c.username) for c in from_moto
        ]
        assert [f"{i}-auth-token" for i in ids] == [c.password.reveal() for c in from_moto]

    @pytest.mark.usefixtures("moto_day")
    def test_role_assumed_through_moto_sts(self, moto_url: str, monkeypatch: pytest.MonkeyPatch):
        """role_arn goes through moto's STS and the ECR call then succeeds."""
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_url)

        creds = EcrTokenSource().fetch(
            group(moto_url, "333333333333", role_arn="arn:aws:iam::333333333333:role/pull")
        )

        assert ["333333333333"] == [c.registry_id for c in creds]
