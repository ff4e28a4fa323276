"""The keys added to the configuration: attempt_timeout, metrics; regions botocore knows."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import botocore.session
import pytest

from ecrd.config import regions
from ecrd.config.load import load_config
from ecrd.config.model import Config, MetricsSpec, Registry
from ecrd.config.regions import check_region, known_regions
from ecrd.ecr.source import EcrTokenSource
from ecrd.errors import ConfigError, TokenError

CONFIG = Path("/srv/ecrd/config.yaml")
ENV = {"HOME": "/home/u", "METRICS": "/var/lib/node_exporter"}
ID = "123456789012"


def load(text):
    return load_config(CONFIG, env=ENV, text=text)


def errors(text):
    with pytest.raises(ConfigError) as info:
        load(text)
    return list(info.value.errors)


def at(line, column, message):
    return f"{CONFIG}:{line}:{column}: {message}"


class TestAttemptTimeout:
    def test_default_is_a_minute(self):
        """Without refresh.attempt_timeout, one attempt may take 60 s."""
        assert timedelta(seconds=60) == load("registries: []\n").refresh.attempt_timeout

    def test_read_as_a_duration(self):
        """refresh.attempt_timeout takes a duration like the other refresh keys."""
        text = "refresh:\n  attempt_timeout: 1m30s\nregistries: []\n"

        assert timedelta(seconds=90) == load(text).refresh.attempt_timeout

    def test_zero_is_refused(self):
        """A timeout of 0 would fail every attempt: an error at its value."""
        text = "refresh:\n  attempt_timeout: 0\nregistries: []\n"

        assert [
            at(2, 20, "refresh.attempt_timeout: expected a duration longer than 0s, got 0")
        ] == errors(text)


class TestMetrics:
    def test_default_is_no_metrics(self):
        """Without a metrics section, nothing is written or served."""
        assert MetricsSpec() == load("registries: []\n").metrics

    def test_textfile_expands_home_and_variables(self):
        """metrics.textfile expands ~ and ${VAR} like output paths."""
        text = "metrics:\n  textfile: ${METRICS}/ecrd.prom\nregistries: []\n"
        home = "metrics:\n  textfile: ~/ecrd.prom\nregistries: []\n"

        assert Path("/var/lib/node_exporter/ecrd.prom") == load(text).metrics.textfile
        assert Path("/home/u/ecrd.prom") == load(home).metrics.textfile

    def test_unset_variable_in_textfile(self):
        """An unset variable in metrics.textfile is an error at its value."""
        text = "metrics:\n  textfile: ${NOPE}/ecrd.prom\nregistries: []\n"

        assert [
            at(
                2,
                13,
                "metrics.textfile: environment variable 'NOPE' is not set (in '${NOPE}/ecrd.prom')",
            )
        ] == errors(text)

    @pytest.mark.parametrize(
        ("written", "expected"),
        [
            ("127.0.0.1:9464", ("127.0.0.1", 9464)),
            ("0.0.0.0:9464", ("0.0.0.0", 9464)),  # noqa: S104 -- a value read, not bound
            ("localhost:9464", ("localhost", 9464)),
            ("':9464'", ("127.0.0.1", 9464)),
            ("9464", ("127.0.0.1", 9464)),
            ("'[::1]:9464'", ("::1", 9464)),
        ],
    )
    def test_listen_forms(self, written, expected):
        """metrics.listen is HOST:PORT; the host defaults to loopback; IPv6 in brackets."""
        text = f"metrics:\n  listen: {written}\nregistries: []\n"

        assert expected == load(text).metrics.listen

    @pytest.mark.parametrize(
        ("written", "why"),
        [
            ("127.0.0.1:http", "(expected a port from 1 to 65535, got 'http')"),
            ("127.0.0.1:70000", "(expected a port from 1 to 65535, got '70000')"),
            ("'::1:9464'", "(not a DNS name)"),
            ("'[::1]'", "(no port)"),
            ("http://127.0.0.1:9464", "(a host has no scheme)"),
        ],
    )
    def test_malformed_listen_is_an_error_at_its_value(self, written, why):
        """A malformed metrics.listen is a configuration error at file:line:column."""
        text = f"metrics:\n  listen: {written}\nregistries: []\n"
        shown = written.strip("'")

        assert [
            at(
                2,
                11,
                "metrics.listen: expected HOST:PORT such as 127.0.0.1:9464 or [::1]:9464,"
                f" got '{shown}' {why}",
            )
        ] == errors(text)

    def test_unknown_key(self):
        """An unknown key in metrics gets the closest valid key."""
        text = "metrics:\n  textfil: /x.prom\nregistries: []\n"

        assert [
            at(2, 3, "unknown key 'textfil' in 'metrics' (did you mean 'textfile'?)")
        ] == errors(text)

    def test_check_config_prints_metrics(self):
        """The normalized configuration shows metrics as they would be written."""
        text = "metrics:\n  listen: '[::1]:9464'\nregistries: []\n"

        assert {"textfile": None, "listen": "[::1]:9464"} == load(text).to_dict()["metrics"]


class TestRegions:
    def test_known_regions_are_botocores(self):
        """The regions read from partitions.json are exactly those botocore lists for ECR.

        If a botocore upgrade moves or changes its data, this fails, not the users' files.
        """
        session = botocore.session.get_session()
        expected = {
            region
            for partition in session.get_available_partitions()
            for region in session.get_available_regions("ecr", partition)
        }

        assert expected == set(known_regions())

    def test_misspelt_region_in_a_host(self):
        """A host whose region botocore does not know is an error, with the closest region."""
        text = f"registries:\n  - {ID}.dkr.ecr.us-wets-2.amazonaws.com\n"

        assert [
            at(
                2,
                5,
                "unknown region 'us-wets-2' (did you mean 'us-west-2'?); if it is a new AWS"
                " region, upgrade botocore or set endpoint_url",
            )
        ] == errors(text)

    def test_misspelt_region_of_a_mapping(self):
        """The error points at the registry's region key's value."""
        text = f"registries:\n  - registry_id: '{ID}'\n    region: eu-wset-1\n"

        found = errors(text)

        assert 1 == len(found)
        assert found[0].startswith(
            at(3, 13, "unknown region 'eu-wset-1' (did you mean 'eu-west-1'?)")
        )

    def test_aws_region_said_once(self):
        """aws.region misspelt, used by two registries, is one error at aws.region."""
        text = (
            "aws:\n  region: us-est-1\nregistries:\n"
            f"  - registry_id: '{ID}'\n  - registry_id: '210987654321'\n"
        )

        found = errors(text)

        assert 1 == len(found)
        assert found[0].startswith(at(2, 11, "unknown region 'us-est-1'"))

    def test_unknown_region_with_an_endpoint_is_accepted(self):
        """With endpoint_url, botocore needs no endpoint of its own: any region will do."""
        text = (
            "aws:\n  endpoint_url: http://127.0.0.1:4566\n"
            f"registries:\n  - {ID}.dkr.ecr.xx-future-9.amazonaws.com\n"
        )

        assert "xx-future-9" == load(text).registries[0].region

    def test_no_hint_when_nothing_is_close(self):
        """A region far from every known one gets no suggestion."""
        problem = check_region("zz-nowhere-42")

        assert problem is not None
        assert problem.startswith("unknown region 'zz-nowhere-42'; ")

    def test_the_token_source_asks_the_same_check(self, monkeypatch: pytest.MonkeyPatch):
        """The token source refuses a region by the configuration's own region list.

        With that list narrowed to us-east-1, us-west-2 is refused before any call, with the
        same message as check-config's (AWS_ENDPOINT_URL points at a closed loopback port,
        so nothing would leave the machine otherwise).
        """
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setattr(regions, "known_regions", lambda: frozenset({"us-east-1"}))
        group = Config(
            path=CONFIG, registries=(Registry(registry_id=ID, region="us-west-2", hosts=("h",)),)
        ).groups()[0]

        with pytest.raises(TokenError) as info:
            EcrTokenSource(max_attempts=1, attempt_timeout=timedelta(seconds=2)).fetch(group)

        assert ("UnknownRegion", f"group ecr:us-west-2: {check_region('us-west-2')}") == (
            info.value.code,
            str(info.value),
        )


class TestRegistryIdLength:
    def test_eleven_digits_in_a_host(self):
        """A host whose registry id has 11 digits says so, not a generic host message."""
        text = "registries:\n  - 12345678901.dkr.ecr.us-east-1.amazonaws.com\n"

        assert [
            at(
                2,
                5,
                "'12345678901.dkr.ecr.us-east-1.amazonaws.com': the registry id '12345678901'"
                " has 11 digits, expected 12 (the AWS account id of the registry)",
            )
        ] == errors(text)
