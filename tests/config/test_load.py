"""Loading the YAML configuration: values, defaults, and errors at file:line:column."""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecrd.config import load as load_module
from ecrd.config.load import default_config_path, default_outputs, load_config
from ecrd.config.model import Config, OutputSpec, RefreshPolicy, Registry
from ecrd.errors import ConfigError

CONFIG = Path("/srv/ecrd/config.yaml")
ENV = {"HOME": "/home/u"}
HOME_DOCKER = OutputSpec(type="docker", path=Path("/home/u/.docker/config.json"))
ID = "123456789012"
HOST = f"{ID}.dkr.ecr.us-west-2.amazonaws.com"

# A full configuration: every section used, with a user's comments.
EXAMPLE = """\
refresh:
  before_expiry: 6h        # refresh a token when this much of its life remains (half of 12 h)
  jitter: 5m               # random spread, so a fleet does not call AWS at the same second
  retry_initial: 10s       # after a failure, retry after this, doubling ...
  retry_max: 5m            # ... up to this, until it succeeds
  min_interval: 30s        # never refresh one group more often than this (guards clock skew)

aws:                       # defaults for every registry below
  region: us-east-1
  profile: null            # null: boto3's default credential chain (env, SSO, instance role ...)
  endpoint_url: null       # VPC endpoint or a local emulator

outputs:                   # default when omitted: one docker output at $DOCKER_CONFIG/config.json or ~/.docker/config.json
  - type: docker
    path: ~/.docker/config.json
  - type: netrc
    path: ~/.netrc

registries:
  - 123456789012.dkr.ecr.us-west-2.amazonaws.com   # shorthand: a registry host, as in image names
  - registry_id: "210987654321"                    # the AWS account id of the registry
    region: eu-central-1
    profile: prod-readonly                          # optional
    role_arn: arn:aws:iam::210987654321:role/pull   # optional, assumed through STS
    endpoint_url: null                              # optional
    hosts: [registry.example.internal]              # optional extra host names given the same credentials
  - public: true                                    # ECR Public (public.ecr.aws), token from us-east-1
"""

EXAMPLE_CONFIG = Config(
    path=CONFIG,
    refresh=RefreshPolicy(
        before_expiry=timedelta(hours=6),
        jitter=timedelta(minutes=5),
        retry_initial=timedelta(seconds=10),
        retry_max=timedelta(minutes=5),
        min_interval=timedelta(seconds=30),
    ),
    outputs=(
        OutputSpec(type="docker", path=Path("/home/u/.docker/config.json")),
        OutputSpec(type="netrc", path=Path("/home/u/.netrc")),
    ),
    registries=(
        Registry(registry_id=ID, region="us-west-2", hosts=(HOST,)),
        Registry(
            registry_id="210987654321",
            region="eu-central-1",
            hosts=(
                "210987654321.dkr.ecr.eu-central-1.amazonaws.com",
                "registry.example.internal",
            ),
            profile="prod-readonly",
            role_arn="arn:aws:iam::210987654321:role/pull",
        ),
        Registry(registry_id=None, region="us-east-1", hosts=("public.ecr.aws",), public=True),
    ),
)


def load(text, env=ENV):
    return load_config(CONFIG, env=env, text=text)


def errors(text, env=ENV):
    with pytest.raises(ConfigError) as info:
        load_config(CONFIG, env=env, text=text)
    return list(info.value.errors)


def error(text, env=ENV):
    found = errors(text, env)
    assert len(found) == 1, found
    return found[0]


def at(line, column, message):
    return f"{CONFIG}:{line}:{column}: {message}"


class TestLoadConfig:
    def test_product_example(self):
        """A full configuration, every section used, loads as its comments say."""
        assert EXAMPLE_CONFIG == load(EXAMPLE)

    def test_defaults(self):
        """Omitted sections take the documented defaults: one docker output in ~/.docker."""
        expected = Config(path=CONFIG, refresh=RefreshPolicy(), outputs=(HOME_DOCKER,))

        assert expected == load("registries: []\n")

    def test_empty_sections_are_defaults(self):
        """A section whose keys are all commented out takes the defaults."""
        text = "refresh:\n  # jitter: 1m\naws:\noutputs:\nregistries: []\n"
        expected = Config(path=CONFIG, refresh=RefreshPolicy(), outputs=(HOME_DOCKER,))

        assert expected == load(text)

    def test_no_outputs(self):
        """An explicit empty list of outputs means none."""
        assert () == load("outputs: []\nregistries: []\n").outputs

    def test_reads_the_file(self, tmp_path):
        """Without text, the file at path is read; Config.path is the path made absolute."""
        path = tmp_path / "config.yaml"
        path.write_text(f"registries: [{HOST}]\n")

        config = load_config(path, env=ENV)

        assert (path, (HOST,)) == (config.path, config.registries[0].hosts)

    def test_durations(self):
        """Durations are read in every accepted form; jitter may be 0."""
        text = (
            "refresh: {before_expiry: 1h30m, jitter: 0, retry_initial: 90,"
            " retry_max: 1h30m15s, min_interval: 1s}\nregistries: []\n"
        )
        expected = RefreshPolicy(
            before_expiry=timedelta(minutes=90),
            jitter=timedelta(0),
            retry_initial=timedelta(seconds=90),
            retry_max=timedelta(hours=1, minutes=30, seconds=15),
            min_interval=timedelta(seconds=1),
        )

        assert expected == load(text).refresh

    def test_aws_section_gives_defaults(self):
        """profile, role_arn and endpoint_url default to the aws section's, region too."""
        text = f"""\
aws:
  region: eu-west-1
  profile: base
  role_arn: arn:aws:iam::{ID}:role/pull
  endpoint_url: http://127.0.0.1:4566
registries:
  - registry_id: '{ID}'
  - registry_id: '210987654321'
    region: us-east-2
    profile: other
    endpoint_url: https://vpce.example
  - public: true
"""
        expected = (
            Registry(
                registry_id=ID,
                region="eu-west-1",
                hosts=(f"{ID}.dkr.ecr.eu-west-1.amazonaws.com",),
                profile="base",
                role_arn=f"arn:aws:iam::{ID}:role/pull",
                endpoint_url="http://127.0.0.1:4566",
            ),
            Registry(
                registry_id="210987654321",
                region="us-east-2",
                hosts=("210987654321.dkr.ecr.us-east-2.amazonaws.com",),
                profile="other",
                role_arn=f"arn:aws:iam::{ID}:role/pull",
                endpoint_url="https://vpce.example",
            ),
            Registry(
                registry_id=None,
                region="us-east-1",
                hosts=("public.ecr.aws",),
                profile="base",
                role_arn=f"arn:aws:iam::{ID}:role/pull",
                endpoint_url="http://127.0.0.1:4566",
                public=True,
            ),
        )

        assert expected == load(text).registries

    def test_null_in_a_registry_overrides_aws(self):
        """A registry giving profile: null uses boto3's default chain despite aws.profile."""
        text = f"aws: {{profile: base, region: us-west-2}}\nregistries:\n  - {{registry_id: '{ID}', profile: null}}\n"
        expected = (Registry(registry_id=ID, region="us-west-2", hosts=(HOST,)),)

        assert expected == load(text).registries

    def test_shorthand_takes_aws_identity(self):
        """A host shorthand takes its id and region from the host, its identity from aws."""
        text = f"aws: {{region: eu-west-1, profile: p}}\nregistries: [{HOST}]\n"
        expected = (Registry(registry_id=ID, region="us-west-2", hosts=(HOST,), profile="p"),)

        assert expected == load(text).registries

    def test_hosts_are_lower_cased_and_deduplicated(self):
        """Hosts are lower-cased; a host listed twice for one registry is kept once."""
        text = f"""\
registries:
  - {HOST.upper()}
  - registry_id: '210987654321'
    region: cn-north-1
    hosts: [Mirror.Example:5000, mirror.example:5000, 210987654321.DKR.ECR.CN-NORTH-1.AMAZONAWS.COM.CN]
  - PUBLIC.ECR.AWS
"""
        expected = (
            (HOST,),
            ("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn", "mirror.example:5000"),
            ("public.ecr.aws",),
        )

        assert expected == tuple(r.hosts for r in load(text).registries)

    def test_public_mapping(self):
        """public: true is ECR Public, with its own identity and extra hosts."""
        text = "registries:\n  - {public: true, profile: pub, hosts: [ecr-mirror.example]}\n"
        expected = Registry(
            registry_id=None,
            region="us-east-1",
            hosts=("public.ecr.aws", "ecr-mirror.example"),
            profile="pub",
            public=True,
        )

        assert (expected,) == load(text).registries

    def test_unquoted_twelve_digit_id(self):
        """An unquoted registry id that reads as 12 digits is accepted."""
        text = "registries:\n  - registry_id: 123456789012\n    region: us-west-2\n"

        assert (ID, (HOST,)) == (
            load(text).registries[0].registry_id,
            load(text).registries[0].hosts,
        )

    def test_unquoted_id_yaml_reads_as_a_string(self):
        """A leading-0 id with an 8 or 9 in it is a string to YAML, and is right as it is."""
        text = "registries:\n  - registry_id: 012345678901\n    region: us-west-2\n"

        assert "012345678901" == load(text).registries[0].registry_id

    def test_merge_keys(self):
        """YAML anchors and merge keys share settings between registries."""
        text = f"""\
registries:
  - &base
    registry_id: '{ID}'
    region: eu-west-1
    profile: shared
  - <<: *base
    registry_id: '210987654321'
"""
        expected = Registry(
            registry_id="210987654321",
            region="eu-west-1",
            hosts=("210987654321.dkr.ecr.eu-west-1.amazonaws.com",),
            profile="shared",
        )

        assert expected == load(text).registries[1]

    def test_groups_follow_from_the_file(self):
        """Registries sharing region and identity form one group, whatever their host form."""
        text = f"""\
registries:
  - {ID}.dkr.ecr.us-west-2.amazonaws.com
  - 210987654321.dkr-ecr.us-west-2.on.aws
  - 210987654321.dkr.ecr.eu-west-1.amazonaws.com
"""

        assert ["ecr:us-west-2", "ecr:eu-west-1"] == [g.name for g in load(text).groups()]


class TestUnknownKeys:
    def test_did_you_mean(self):
        """An unknown key is an error at the key, with the closest valid key suggested."""
        text = "refresh:\n  befor_expiry: 6h\nregistries: []\n"
        expected = at(
            2, 3, "unknown key 'befor_expiry' in 'refresh' (did you mean 'before_expiry'?)"
        )

        assert expected == error(text)

    def test_lists_valid_keys_when_nothing_is_close(self):
        """With no close match, the message lists the valid keys."""
        text = "registries:\n  - {registry_id: '123456789012', region: us-east-1, colour: red}\n"
        expected = at(
            2,
            54,
            "unknown key 'colour' in 'registries[0]' (expected one of: registry_id, region,"
            " profile, role_arn, endpoint_url, hosts, public)",
        )

        assert expected == error(text)

    def test_top_level(self):
        """Unknown keys at the top level are errors too."""
        text = "registries: []\nregistry: []\n"
        expected = at(2, 1, "unknown key 'registry' at the top level (did you mean 'registries'?)")

        assert expected == error(text)

    def test_output_keys(self):
        """Output entries accept only type and path."""
        text = "outputs:\n  - type: netrc\n    path: ~/.netrc\n    mode: 600\nregistries: []\n"
        expected = at(4, 5, "unknown key 'mode' in 'outputs[0]' (expected one of: type, path)")

        assert expected == error(text)

    def test_duplicate_key(self):
        """A key given twice in one mapping is an error at the second one."""
        text = "refresh:\n  jitter: 1m\n  jitter: 2m\nregistries: []\n"
        expected = at(3, 3, "duplicate key 'jitter' in 'refresh' (first at line 2, column 3)")

        assert expected == error(text)


class TestAllErrorsAtOnce:
    def test_three_mistakes_three_errors(self):
        """Every mistake is reported, in the order of the file, not only the first."""
        text = f"""\
refresh:
  jitter: 5 minutes
outputs:
  - type: dockr
    path: ~/.docker/config.json
registries:
  - registry_id: 012345670123
    region: us-east-1
  - {HOST}
"""
        expected = [
            at(
                2,
                11,
                "refresh.jitter: expected a duration such as 90s, 5m, 4h, 1h30m or a number"
                " of seconds, got '5 minutes'",
            ),
            at(
                4,
                11,
                "outputs[0].type: expected docker, netrc or containers, got 'dockr' (did you mean 'docker'?)",
            ),
            at(
                7,
                18,
                "registry id 012345670123 must be quoted: YAML reads a number with a leading 0"
                " differently; write '012345670123'",
            ),
        ]

        assert expected == errors(text)

    def test_message_joins_the_errors(self):
        """The exception's message is every error, one a line."""
        text = "refresh: {jitter: x, retry_max: y}\nregistries: []\n"
        with pytest.raises(ConfigError) as info:
            load(text)

        assert "\n".join(info.value.errors) == str(info.value)

    def test_mistakes_in_a_bad_registry_are_all_reported(self):
        """A registry with a bad key still has its registry id checked."""
        text = "registries:\n  - registry_id: 012345670123\n    regoin: us-east-1\n"

        assert [(2, 18), (3, 5)] == [tuple(map(int, e.split(":")[1:3])) for e in errors(text)]

    def test_sorted_by_line_then_column(self):
        """Errors come in the order of the file, even when found in another order."""
        text = "registries:\n  - x.example\nrefresh: {jitter: x, retry_max: y}\n"

        assert [(2, 5), (3, 19), (3, 33)] == [
            tuple(map(int, e.split(":")[1:3])) for e in errors(text)
        ]


class TestValueErrors:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "refresh:\n  min_interval: 0\n",
                at(2, 17, "refresh.min_interval: expected at least 1s, got 0"),
            ),
            (
                "refresh:\n  retry_max: -5s\n",
                at(2, 14, "refresh.retry_max: a duration cannot be negative, got '-5s'"),
            ),
            (
                "refresh:\n  retry_initial: 10m\n",
                at(
                    2,
                    18,
                    "refresh.retry_initial (10m) must not be longer than refresh.retry_max (5m)",
                ),
            ),
            (
                "refresh: [6h]\n",
                at(1, 10, "refresh: expected a mapping, got a list"),
            ),
            (
                "aws:\n  region: us-east\n",
                at(2, 11, "aws.region: expected an AWS region such as us-east-1, got 'us-east'"),
            ),
            (
                "aws:\n  profile: 5\n",
                at(2, 12, "aws.profile: expected a name, got 5"),
            ),
            (
                "aws:\n  role_arn: arn:aws:iam::1234:user/me\n",
                at(
                    2,
                    13,
                    "aws.role_arn: expected an IAM role ARN such as"
                    " arn:aws:iam::123456789012:role/NAME, got 'arn:aws:iam::1234:user/me'",
                ),
            ),
            (
                "aws:\n  endpoint_url: localhost:4566\n",
                at(
                    2,
                    17,
                    "aws.endpoint_url: expected an http:// or https:// URL, got 'localhost:4566'",
                ),
            ),
            (
                "outputs: {type: docker}\n",
                at(
                    1,
                    10,
                    "outputs: expected a list of outputs (such as '- type: docker'), got a mapping",
                ),
            ),
            (
                "outputs:\n  - type: docker\n",
                at(2, 5, "missing key 'path' in 'outputs[0]'"),
            ),
            (
                "outputs:\n  - {type: netrc, path: 5}\n",
                at(2, 25, "outputs[0].path: expected a file path, got 5"),
            ),
        ],
    )
    def test_reports_what_was_expected(self, text, expected):
        """Each bad value is an error at its place saying what was expected and found."""
        assert expected == error(text + "registries: []\n")

    def test_public_flag_is_a_boolean(self):
        """The public flag takes true or false."""
        text = "registries:\n  - public: 'yes'\n"

        assert at(2, 13, "registries[0].public: expected true or false, got 'yes'") == error(text)

    def test_registries_must_be_a_list(self):
        """registries: with nothing after it (a file cut short, say) is an error."""
        expected = at(
            1,
            12,
            "registries: expected a list of ECR hosts or registry mappings"
            " ('registries: []' for none), got null",
        )

        assert expected == error("registries:\n")

    def test_registries_are_required(self):
        """A file without registries is an error: there would be nothing to do."""
        expected = at(
            1,
            1,
            "missing key 'registries' at the top level: the list of ECR hosts to keep logged"
            " in, such as '- 123456789012.dkr.ecr.us-east-1.amazonaws.com' ('registries: []'"
            " for none)",
        )

        assert expected == error("refresh: {jitter: 1m}\n")


class TestRegistryErrors:
    def test_leading_zero_id(self):
        """An unquoted id YAML reads as octal is rejected with a hint to quote it."""
        text = "registries:\n  - registry_id: 012345670123\n    region: us-east-1\n"
        expected = at(
            2,
            18,
            "registry id 012345670123 must be quoted: YAML reads a number with a leading 0"
            " differently; write '012345670123'",
        )

        assert expected == error(text)

    def test_unquoted_id_with_underscores(self):
        """An unquoted id that is not written as 12 digits must be quoted."""
        text = "registries:\n  - registry_id: 123_456_789_012\n    region: us-east-1\n"
        expected = at(
            2, 18, "registry id 123_456_789_012 must be quoted as 12 digits: write '123456789012'"
        )

        assert expected == error(text)

    @pytest.mark.parametrize(
        ("value", "found"),
        [("1234", "1234"), ("'1234'", "'1234'"), ("'12345678901a'", "'12345678901a'")],
    )
    def test_id_of_other_length(self, value, found):
        """A registry id is 12 digits."""
        text = f"registries:\n  - registry_id: {value}\n    region: us-east-1\n"
        expected = at(
            2, 18, f"registries[0].registry_id: expected a registry id of 12 digits, got {found}"
        )

        assert expected == error(text)

    def test_id_of_wrong_type(self):
        """A registry id is a string or a number."""
        text = "registries:\n  - registry_id: [1]\n    region: us-east-1\n"
        expected = at(
            2,
            18,
            "registries[0].registry_id: expected a registry id of 12 digits, such as"
            " '123456789012', got a list",
        )

        assert expected == error(text)

    def test_missing_id(self):
        """A registry mapping needs registry_id, or public: true."""
        text = "registries:\n  - region: us-east-1\n"
        expected = at(
            2,
            5,
            "missing key 'registry_id' in 'registries[0]': the registry's 12-digit AWS"
            " account id, such as '123456789012' (or 'public: true' for ECR Public)",
        )

        assert expected == error(text)

    def test_missing_region(self):
        """A registry mapping needs a region, its own or aws.region."""
        text = f"registries:\n  - registry_id: '{ID}'\n"
        expected = at(
            2,
            5,
            "missing key 'region' in 'registries[0]', and 'aws.region' is not set: add"
            " 'region: REGION' to the registry or to the 'aws' section",
        )

        assert expected == error(text)

    @pytest.mark.parametrize(
        ("key", "line", "why"),
        [
            ("registry_id: '123456789012'", 3, "ECR Public has no registry id"),
            ("region: us-east-1", 3, "ECR Public tokens always come from us-east-1"),
        ],
    )
    def test_public_takes_no_id_or_region(self, key, line, why):
        """public: true cannot go with registry_id or region."""
        text = f"registries:\n  - public: true\n    {key}\n"
        name = key.split(":")[0]
        expected = at(line, 5, f"'{name}' cannot go with 'public: true' ({why}); remove it")

        assert expected == error(text)

    def test_shorthand_not_ecr(self):
        """A shorthand that is not an ECR host says which forms are accepted."""
        text = "registries:\n  - registry.example.com\n"
        expected = at(
            2,
            5,
            "'registry.example.com' is not an ECR registry host; expected"
            " ID.dkr.ecr.REGION.amazonaws.com (.amazonaws.com.cn in China, or another"
            " partition's suffix), its FIPS form ID.dkr.ecr-fips.REGION.amazonaws.com, its"
            " dual-stack forms ID.dkr-ecr.REGION.on.aws and ID.dkr-ecr-fips.REGION.on.aws,"
            " or public.ecr.aws for ECR Public. To give a registry's credentials to another"
            " name, list that name under 'hosts' of a registry mapping",
        )

        assert expected == error(text)

    def test_shorthand_with_scheme(self):
        """A shorthand copied with its https:// is rejected with the host to write."""
        text = f"registries:\n  - https://{HOST}/\n"
        expected = at(2, 5, f"write the registry host without 'https://': '{HOST}'")

        assert expected == error(text)

    def test_shorthand_china_region_needs_cn_suffix(self):
        """A cn-* region with the commercial suffix names the host to write instead."""
        text = f"registries:\n  - {ID}.dkr.ecr.cn-north-1.amazonaws.com\n"
        expected = at(
            2,
            5,
            f"'{ID}.dkr.ecr.cn-north-1.amazonaws.com' does not match its region: cn-north-1"
            f" is in the aws-cn partition, whose registry host is"
            f" {ID}.dkr.ecr.cn-north-1.amazonaws.com.cn (or its FIPS or dual-stack form)",
        )

        assert expected == error(text)

    def test_shorthand_bad_region(self):
        """A host whose region is not shaped like a region is rejected."""
        text = f"registries:\n  - {ID}.dkr.ecr.nowhere.amazonaws.com\n"
        expected = at(
            2,
            5,
            f"'{ID}.dkr.ecr.nowhere.amazonaws.com': expected an AWS region such as us-east-1,"
            " got 'nowhere'",
        )

        assert expected == error(text)

    def test_entry_of_wrong_type(self):
        """A registry entry is a host or a mapping."""
        text = "registries:\n  - 5\n"
        expected = at(
            2,
            5,
            "registries[0]: expected an ECR host (such as"
            " 123456789012.dkr.ecr.us-east-1.amazonaws.com) or a mapping with registry_id and"
            " region, or 'public: true', got 5",
        )

        assert expected == error(text)

    @pytest.mark.parametrize(
        ("host", "why"),
        [
            ("https://mirror.example", "a host has no scheme"),
            ("mirror.example/v2", "a host has no path"),
            ("mirror.example:http", "expected a port from 1 to 65535, got 'http'"),
        ],
    )
    def test_extra_host_is_a_host_name(self, host, why):
        """Entries of hosts are host names with an optional port, no scheme, no path."""
        text = (
            f"registries:\n  - registry_id: '{ID}'\n    region: us-east-1\n    hosts: ['{host}']\n"
        )
        expected = at(
            4,
            13,
            "registries[0].hosts[0]: expected a host name with an optional port, such as"
            " registry.example.internal or registry.example.internal:5000, got"
            f" '{host}' ({why})",
        )

        assert expected == error(text)


class TestHostConflicts:
    def test_same_host_for_two_registries(self):
        """One host listed for two registries is an error naming both places."""
        text = f"""\
registries:
  - {HOST}
  - registry_id: '210987654321'
    region: us-east-1
    hosts: [{HOST}]
"""
        expected = at(
            5,
            13,
            f"host '{HOST}' is already given to registries[0] (line 2, column 5); a host"
            " holds the credentials of one registry",
        )

        assert expected == error(text)

    def test_same_registry_twice(self):
        """A registry given twice, as a host and as a mapping, is one host twice."""
        text = f"registries:\n  - {HOST}\n  - {{registry_id: '{ID}', region: us-west-2}}\n"
        expected = at(
            3,
            19,
            f"host '{HOST}' is already given to registries[0] (line 2, column 5); a host"
            " holds the credentials of one registry",
        )

        assert expected == error(text)

    NETRC_CONFLICT = f"""\
outputs:
  - type: netrc
    path: ~/.netrc
registries:
  - registry_id: '{ID}'
    region: us-east-1
    hosts: ['mirror.example:5000']
  - registry_id: '210987654321'
    region: us-east-1
    hosts: ['mirror.example:5001']
"""

    def test_netrc_cannot_hold_hosts_differing_by_port(self):
        """Two registries whose hosts differ only by port cannot share a netrc output."""
        expected = at(
            10,
            13,
            "hosts 'mirror.example:5000' (line 7, column 13) and 'mirror.example:5001' differ"
            " only by port, but netrc has no ports: the netrc output outputs[0] (line 3,"
            " column 11) cannot hold both registries' credentials",
        )

        assert expected == error(self.NETRC_CONFLICT)

    def test_ports_are_fine_without_netrc(self):
        """Docker keeps ports in its keys: the same hosts are fine without netrc."""
        text = self.NETRC_CONFLICT.replace("type: netrc", "type: docker")

        assert 2 == len(load(text).registries)

    def test_ports_of_one_registry_are_fine(self):
        """One registry's hosts may differ by port: the netrc entry is the same."""
        text = f"""\
outputs: [{{type: netrc, path: ~/.netrc}}]
registries:
  - {{registry_id: '{ID}', region: us-east-1, hosts: [m.example:5000, m.example:5001]}}
"""

        assert ("m.example:5000", "m.example:5001") == load(text).registries[0].hosts[1:]


class TestPaths:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("~/.netrc", "/home/u/.netrc"),
            ("~", "/home/u"),
            ("${XDG_RUNTIME_DIR}/containers/auth.json", "/run/user/1000/containers/auth.json"),
            ("$XDG_RUNTIME_DIR/auth.json", "/run/user/1000/auth.json"),
            ("auth/config.json", "/srv/ecrd/auth/config.json"),
            ("../netrc", "/srv/netrc"),
            ("/a//b/./c/../d", "/a/b/d"),
            ("/cost/$$5", "/cost/$5"),
        ],
    )
    def test_expands(self, path, expected):
        """~ and ${VAR} expand, relative paths are relative to the file, all normalized."""
        text = f"outputs:\n  - type: docker\n    path: '{path}'\nregistries: []\n"
        env = {**ENV, "XDG_RUNTIME_DIR": "/run/user/1000"}

        assert Path(expected) == load(text, env=env).outputs[0].path

    def test_undefined_variable(self):
        """A variable that is not set is an error naming it."""
        text = "outputs:\n  - type: docker\n    path: ${NOPE}/config.json\nregistries: []\n"
        expected = at(
            3,
            11,
            "outputs[0].path: environment variable 'NOPE' is not set (in '${NOPE}/config.json')",
        )

        assert expected == error(text)

    def test_duplicate_output_paths(self):
        """Two outputs writing the same file, after expansion, are an error."""
        text = "outputs:\n  - {type: docker, path: ~/x}\n  - {type: netrc, path: /home/u/x}\nregistries: []\n"
        expected = at(
            3,
            25,
            "output path '/home/u/x' is already the path of outputs[0] (line 2, column 26);"
            " write each file once",
        )

        assert expected == error(text)


class TestDocumentErrors:
    @pytest.mark.parametrize("text", ["", "\n\n", "# only\n# comments\n", "---\n", "null\n"])
    def test_empty(self, text):
        """An empty file, or one of comments only, is an error without a line."""
        expected = (
            f"{CONFIG}: the configuration is empty; it needs a 'registries:' list of ECR"
            " hosts, such as '- 123456789012.dkr.ecr.us-east-1.amazonaws.com'"
        )

        assert expected == error(text)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("registries: [a\n", at(2, 1, "expected ',' or ']', but got '<stream end>' (while parsing a flow sequence at line 1, column 13)")),
            ("registries:\n\t- a\n", at(2, 1, "found character '\\t' that cannot start any token")),
            ("registries: []\n---\nregistries: []\n", at(2, 1, "but found another document (expected a single document in the stream at line 1, column 1)")),
            ("registries: []\x00\n", at(1, 15, "special characters are not allowed ('\\x00')")),
        ],
    )  # fmt: skip
    def test_yaml_syntax(self, text, expected):
        """A YAML syntax error is reported at its line and column."""
        assert expected == error(text)

    @pytest.mark.parametrize("text", ["- a\n", "just words\n", "5\n"])
    def test_top_level_must_be_a_mapping(self, text):
        """The top level is a mapping."""
        found = {"- a\n": "a list", "just words\n": "'just words'", "5\n": "5"}[text]
        expected = at(
            1,
            1,
            "expected a mapping with 'registries' and optionally 'refresh', 'aws' and"
            f" 'outputs' at the top level, got {found}",
        )

        assert expected == error(text)

    def test_unsupported_tag(self):
        """YAML tags other than the plain ones are errors, reported once."""
        expected = at(1, 13, "unsupported YAML tag !!set; expected a plain mapping")

        assert expected == error("registries: !!set {a, b}\n")

    def test_unreadable_top_level(self):
        """A top level YAML cannot read is reported once."""
        expected = at(1, 1, "cannot read '2026-13-45': month must be in 1..12")

        assert expected == error("2026-13-45\n")

    def test_unreadable_scalar(self):
        """A value YAML's own constructors cannot read is an error, reported once."""
        expected = at(1, 14, "cannot read '2026-13-45': month must be in 1..12")

        assert expected == error("registries: [2026-13-45]\n")

    def test_recursive_alias(self):
        """An alias inside its own anchor is an error, not a hang."""
        text = "registries: &r [*r]\n"

        assert at(1, 13, "an alias refers to a node that contains it") == error(text)

    def test_alias_bomb(self):
        """Aliases that would expand into a huge document are rejected."""
        lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
        lines += [
            f"{c}: &{c} [{', '.join(['*' + p] * 10)}]"
            for p, c in zip("abcde", "bcdef", strict=True)
        ]
        text = "\n".join(lines) + "\nregistries: []\n"

        assert ["the document is too large to be a configuration"] == [
            e.split(": ", 1)[1] for e in errors(text)
        ]

    def test_deep_nesting(self):
        """Nesting deep enough to exhaust the parser's stack is a ConfigError."""
        text = "registries: " + "[" * 1000 + "]" * 1000 + "\n"

        assert f"{CONFIG}: the document is nested too deeply to be a configuration" == error(text)

    def test_file_not_found(self, tmp_path):
        """A missing file is an error naming it and saying how to create one."""
        path = tmp_path / "nope.yaml"
        expected = (
            f"{path}: no configuration file there; create it with a 'registries:' list of ECR"
            " hosts (such as '- 123456789012.dkr.ecr.us-east-1.amazonaws.com'), or name"
            " another file with -c PATH"
        )
        with pytest.raises(ConfigError) as info:
            load_config(path, env=ENV)

        assert expected == str(info.value)

    def test_directory(self, tmp_path):
        """A directory in place of the file is a ConfigError."""
        with pytest.raises(ConfigError) as info:
            load_config(tmp_path, env=ENV)

        assert (
            f"{tmp_path}: cannot read the configuration: it is a directory, not a regular file;"
            " ecrd did not open it: name the YAML file itself with -c PATH (or ECRD_CONFIG)"
        ) == str(info.value)

    def test_fifo_is_refused_without_blocking(self, tmp_path):
        """A FIFO with no writer in place of the file: a ConfigError at once, not a hang."""
        path = tmp_path / "config.yaml"
        os.mkfifo(path)
        with pytest.raises(ConfigError) as info:
            load_config(path, env=ENV)

        assert "it is a named pipe (FIFO), not a regular file" in str(info.value)

    def test_file_over_the_size_cap_is_refused_unread(self, tmp_path):
        """A (sparse) file over 16 MiB is refused from its size, never read."""
        path = tmp_path / "config.yaml"
        with path.open("wb") as file:
            file.truncate(17 * 1024 * 1024)
        with pytest.raises(ConfigError) as info:
            load_config(path, env=ENV)

        assert (
            f"{path}: cannot read the configuration: it is larger than 16 MiB (17825792 bytes),"
            " far more than a configuration holds; ecrd did not read it: check that the path"
            " names the YAML file"
        ) == str(info.value)

    def test_not_utf8(self, tmp_path):
        """A file that is not UTF-8 is an error at the offending byte."""
        path = tmp_path / "config.yaml"
        path.write_bytes(b"registries: []\n# caf\xe9\n")
        with pytest.raises(ConfigError) as info:
            load_config(path, env=ENV)

        assert f"{path}:2:6: not UTF-8 text (byte 0xe9)" == str(info.value)

    def test_names_the_path_as_given(self, tmp_path, monkeypatch):
        """Messages name the file as it was given, relative and through symlinks."""
        (tmp_path / "real.yaml").write_text("registries: 5\n")
        (tmp_path / "link.yaml").symlink_to(tmp_path / "real.yaml")
        monkeypatch.chdir(tmp_path)
        with pytest.raises(ConfigError) as info:
            load_config(Path("link.yaml"), env=ENV)

        assert str(info.value).startswith("link.yaml:1:13: registries: expected a list")


class TestDefaultConfigPath:
    def test_ecrd_config(self, tmp_path):
        """$ECRD_CONFIG wins, ~ expanded."""
        env = {"ECRD_CONFIG": "~/ecrd.yaml", "HOME": str(tmp_path)}

        assert tmp_path / "ecrd.yaml" == default_config_path(env=env)

    def test_xdg_config_home(self, tmp_path):
        """$XDG_CONFIG_HOME/ecrd/config.yaml when it exists."""
        path = tmp_path / "xdg" / "ecrd" / "config.yaml"
        path.parent.mkdir(parents=True)
        path.touch()
        env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}

        assert path == default_config_path(env=env)

    def test_home_config(self, tmp_path, monkeypatch):
        """~/.config/ecrd/config.yaml without XDG_CONFIG_HOME, even when /etc has one."""
        path = tmp_path / ".config" / "ecrd" / "config.yaml"
        path.parent.mkdir(parents=True)
        path.touch()
        system = tmp_path / "etc.yaml"
        system.touch()
        monkeypatch.setattr(load_module, "SYSTEM_CONFIG_PATH", system)

        assert path == default_config_path(env={"HOME": str(tmp_path)})

    def test_system_config(self, tmp_path, monkeypatch):
        """/etc/ecrd/config.yaml when the user has none."""
        system = tmp_path / "etc.yaml"
        system.touch()
        monkeypatch.setattr(load_module, "SYSTEM_CONFIG_PATH", system)

        assert system == default_config_path(env={"HOME": str(tmp_path)})

    def test_none_exists(self, tmp_path, monkeypatch):
        """With no file anywhere, the user's path, so that "not found" names it."""
        monkeypatch.setattr(load_module, "SYSTEM_CONFIG_PATH", tmp_path / "none.yaml")
        env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": "relative/ignored"}

        assert tmp_path / ".config/ecrd/config.yaml" == default_config_path(env=env)


class TestDefaultOutputs:
    def test_docker_config(self):
        """$DOCKER_CONFIG/config.json when DOCKER_CONFIG is set."""
        expected = (OutputSpec(type="docker", path=Path("/etc/docker-ci/config.json")),)

        assert expected == default_outputs(env={**ENV, "DOCKER_CONFIG": "/etc/docker-ci"})

    def test_home(self):
        """~/.docker/config.json otherwise."""
        assert (HOME_DOCKER,) == default_outputs(env=ENV)


class TestHalfWrittenFile:
    def test_every_prefix_loads_or_is_a_config_error(self):
        """A file cut at any byte either loads or raises ConfigError, never anything else."""
        data = EXAMPLE.encode()
        loaded = 0
        for end in range(len(data) + 1):
            try:
                load_config(CONFIG, env=ENV, text=data[:end].decode())
            except ConfigError:
                continue
            loaded += 1

        assert 0 < loaded < len(data)

    def test_cut_inside_a_character(self, tmp_path):
        """A file cut inside a multi-byte character is a ConfigError."""
        path = tmp_path / "config.yaml"
        path.write_bytes("registries: []  # Zürich\n".encode()[:-6])

        with pytest.raises(ConfigError, match="not UTF-8"):
            load_config(path, env=ENV)


_TOKENS = [
    "refresh:", "aws:", "outputs:", "registries:", "registry_id:", "region:", "hosts:",
    "public:", "type:", "path:", "profile:", "role_arn:", "endpoint_url:", "jitter:",
    "min_interval:", "retry_initial:", "befor_expiry:", "\n", "  ", "    ", "- ", ": ", " ",
    "[", "]", "{", "}", ", ", "'", '"', "&a ", "*a", "<<: ", "!!set ", "!!binary ", "!x ",
    "? ", "#", "---", "...", "|", ">", "~", "null", "true", "0", "0b_", "1h30m", "-5s",
    "012345670123", "123456789012", f"'{ID}'", HOST, "public.ecr.aws", "us-east-1",
    "cn-north-1", "docker", "netrc", "${X}", "$NOPE", "~/x", "m.example:5000", "\t", "%",
    "2026-13-45", "\x00", "é", "metrics:", "textfile:", "listen:", "attempt_timeout:",
    "[::1]:9464", ":9464", "us-wets-2", "12345678901.dkr.ecr.us-east-1.amazonaws.com",
]  # fmt: skip


class TestArbitraryText:
    @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join))
    def test_yaml_like_text(self, text):
        """Whatever YAML-like text it is given, load_config raises nothing but ConfigError."""
        with contextlib.suppress(ConfigError):
            load_config(CONFIG, env=ENV, text=text)

    @settings(deadline=None)
    @given(st.text())
    def test_any_text(self, text):
        """Whatever text it is given, load_config raises nothing but ConfigError."""
        with contextlib.suppress(ConfigError):
            load_config(CONFIG, env=ENV, text=text)
