"""ECR registry host names in every form ECR uses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ecrd.config.hosts import (
    EcrHost,
    check_host,
    ecr_host_forms,
    is_valid_region,
    parse_host,
    partition,
    standard_host,
)
from ecrd.hostport import host_name, split_port

ID = "123456789012"

# Every form of host ECR answers to, with the region it names.
FORMS = [
    (f"{ID}.dkr.ecr.us-west-2.amazonaws.com", "us-west-2"),
    (f"{ID}.dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    (f"{ID}.dkr.ecr-fips.us-east-1.amazonaws.com", "us-east-1"),
    (f"{ID}.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
    (f"{ID}.dkr-ecr.eu-west-1.on.aws", "eu-west-1"),
    (f"{ID}.dkr-ecr-fips.us-east-2.on.aws", "us-east-2"),
    (f"{ID}.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn", "cn-northwest-1"),
    (f"{ID}.dkr.ecr.us-iso-east-1.c2s.ic.gov", "us-iso-east-1"),
    (f"{ID}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", "us-isob-east-1"),
    (f"{ID}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", "eu-isoe-west-1"),
    (f"{ID}.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", "us-isof-south-1"),
    (f"{ID}.dkr.ecr.eusc-de-east-1.amazonaws.eu", "eusc-de-east-1"),
]


class TestParseHost:
    @pytest.mark.parametrize(("host", "region"), FORMS)
    def test_reads_every_form(self, host, region):
        """The account id and region are read from every form of ECR host."""
        assert EcrHost(registry_id=ID, region=region, host=host) == parse_host(host)

    @pytest.mark.parametrize(("host", "region"), FORMS)
    def test_every_form_is_a_form_of_its_region(self, host, region):
        """Each form is one of the hosts ecr_host_forms lists for its region."""
        assert host in ecr_host_forms(ID, region)

    def test_is_case_insensitive(self):
        """Host names are matched case-insensitively and returned lower-cased."""
        expected = EcrHost(ID, "us-west-2", f"{ID}.dkr.ecr.us-west-2.amazonaws.com")

        assert expected == parse_host(f"{ID}.DKR.ECR.US-West-2.AmazonAWS.com")

    @pytest.mark.parametrize("host", ["public.ecr.aws", "PUBLIC.ECR.AWS"])
    def test_reads_ecr_public(self, host):
        """public.ecr.aws is ECR Public: no registry id, tokens from us-east-1."""
        expected = EcrHost(registry_id=None, region="us-east-1", host="public.ecr.aws", public=True)

        assert expected == parse_host(host)

    @pytest.mark.parametrize(
        "host",
        [
            "registry.example.com",
            "docker.io",
            f"{ID}.dkr.ecr.us-west-2.amazonaws.com:443",
            f"https://{ID}.dkr.ecr.us-west-2.amazonaws.com",
            f"{ID}.dkr.ecr.us-west-2.amazonaws.com.evil.example",
            f"{ID[:-1]}.dkr.ecr.us-west-2.amazonaws.com",
            f"{ID}0.dkr.ecr.us-west-2.amazonaws.com",
            f"{ID}.dkr.ecr.us-west-2.example.com",
            f"{ID}.ecr.us-west-2.amazonaws.com",
            "ecr.aws",
            "",
        ],
    )
    def test_other_hosts_are_none(self, host):
        """Hosts that are not ECR's, or carry a port or scheme, are not read."""
        assert parse_host(host) is None


class TestStandardHost:
    @pytest.mark.parametrize(
        ("region", "expected"),
        [
            ("us-east-1", f"{ID}.dkr.ecr.us-east-1.amazonaws.com"),
            ("us-gov-west-1", f"{ID}.dkr.ecr.us-gov-west-1.amazonaws.com"),
            ("cn-north-1", f"{ID}.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            ("us-iso-east-1", f"{ID}.dkr.ecr.us-iso-east-1.c2s.ic.gov"),
            ("us-isob-east-1", f"{ID}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov"),
            ("eu-isoe-west-1", f"{ID}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk"),
            ("us-isof-south-1", f"{ID}.dkr.ecr.us-isof-south-1.csp.hci.ic.gov"),
            ("eusc-de-east-1", f"{ID}.dkr.ecr.eusc-de-east-1.amazonaws.eu"),
        ],
    )
    def test_uses_the_partition_suffix(self, region, expected):
        """The host ECR gives a registry ends in its region's partition suffix."""
        assert expected == standard_host(ID, region)

    def test_round_trips_through_parse_host(self):
        """parse_host reads back what standard_host builds."""
        host = standard_host(ID, "ap-southeast-2")

        assert EcrHost(ID, "ap-southeast-2", host) == parse_host(host)


class TestEcrHostForms:
    def test_lists_standard_fips_and_dual_stack(self):
        """A region's hosts are the standard one, FIPS, dual-stack and dual-stack FIPS."""
        expected = (
            f"{ID}.dkr.ecr.cn-north-1.amazonaws.com.cn",
            f"{ID}.dkr.ecr-fips.cn-north-1.amazonaws.com.cn",
            f"{ID}.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
            f"{ID}.dkr-ecr-fips.cn-north-1.on.amazonwebservices.com.cn",
        )

        assert expected == ecr_host_forms(ID, "cn-north-1")

    def test_a_china_region_has_no_dot_com_host(self):
        """A cn-* region written with the commercial suffix is not one of its forms."""
        assert f"{ID}.dkr.ecr.cn-north-1.amazonaws.com" not in ecr_host_forms(ID, "cn-north-1")


class TestPartition:
    @pytest.mark.parametrize(
        ("region", "expected"),
        [
            ("us-east-1", "aws"),
            ("us-gov-east-1", "aws-us-gov"),
            ("cn-north-1", "aws-cn"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("us-isof-south-1", "aws-iso-f"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("eusc-de-east-1", "aws-eusc"),
        ],
    )
    def test_names_the_partition(self, region, expected):
        """Regions map to their partition by prefix, the longest prefix winning."""
        assert expected == partition(region).name


class TestIsValidRegion:
    @pytest.mark.parametrize(
        "region",
        ["us-east-1", "eu-central-1", "ap-southeast-4", "cn-north-1", "us-gov-west-1",
         "us-isob-east-1", "eusc-de-east-1", "me-central-1"],
    )  # fmt: skip
    def test_accepts_region_names(self, region):
        """Names shaped like AWS regions are accepted."""
        assert is_valid_region(region)

    @pytest.mark.parametrize(
        "region", ["us-east", "US-EAST-1", "useast1", "us_east_1", "us-east-1a", "", "u-east-1"]
    )
    def test_rejects_other_names(self, region):
        """Availability zones, upper case and other shapes are not regions."""
        assert not is_valid_region(region)


class TestSplitPort:
    @pytest.mark.parametrize(
        ("host", "expected"),
        [
            ("registry", ("registry", None)),
            ("registry:5000", ("registry", 5000)),
            ("127.0.0.1:5000", ("127.0.0.1", 5000)),
            ("[::1]:5000", ("[::1]", 5000)),
            ("[::1]", ("[::1]", None)),
            ("::1", ("::1", None)),
        ],
    )
    def test_splits(self, host, expected):
        """A host splits into its name and port; an IPv6 literal keeps its brackets."""
        assert expected == split_port(host)

    @pytest.mark.parametrize("host", ["registry:", "registry:0", "registry:65536", "[::1]x"])
    def test_rejects_bad_ports(self, host):
        """A port must be a number from 1 to 65535."""
        with pytest.raises(ValueError, match="expected"):
            split_port(host)


class TestHostName:
    @pytest.mark.parametrize(
        ("host", "expected"),
        [
            ("registry.example:5000", "registry.example"),
            ("registry.example", "registry.example"),
            ("127.0.0.1:5000", "127.0.0.1"),
            ("[::1]:5000", "::1"),
            ("[::1]", "::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("::1", "::1"),
            ("registry:bad", "registry:bad"),
        ],
    )
    def test_drops_the_port_and_the_brackets(self, host, expected):
        """The port goes, and an IPv6 literal its brackets, as curl and urllib name the host.

        A malformed port is left in place.
        """
        assert expected == host_name(host)

    def test_imports_nothing(self):
        """The module loads no other module of ecrd and no third-party one.

        Light enough for docker-credential-ecrd and the kubelet provider, which start on every
        image pull.
        """
        code = (
            "import sys; before = set(sys.modules); import ecrd.hostport; "
            "print(sorted(set(sys.modules) - before))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )

        assert ["__future__", "ecrd", "ecrd.hostport"] == json.loads(done.stdout.replace("'", '"'))


class TestCheckHost:
    @pytest.mark.parametrize(
        "host",
        ["registry.example.internal", "registry.example.internal:5000", "localhost",
         "127.0.0.1:5000", "[::1]:5000", "[2001:db8::1]", "Registry.Example"],
    )  # fmt: skip
    def test_accepts_host_names(self, host):
        """DNS names, IPv4 and bracketed IPv6 addresses, each with an optional port."""
        assert check_host(host) is None

    @pytest.mark.parametrize(
        ("host", "expected"),
        [
            ("https://registry.example", "a host has no scheme"),
            ("registry.example/v2", "a host has no path"),
            ("user@registry.example", "a host has no user name"),
            ("registry.example:99999", "expected a port from 1 to 65535, got '99999'"),
            ("[not-ip]:5000", "not an IPv6 address in brackets"),
            ("under_score.example", "not a DNS name"),
            ("-dash.example", "not a DNS name"),
            ("two..dots", "not a DNS name"),
            ("", "not a DNS name"),
        ],
    )
    def test_says_why_not(self, host, expected):
        """Anything else gets a phrase saying what is wrong with it."""
        assert expected == check_host(host)
