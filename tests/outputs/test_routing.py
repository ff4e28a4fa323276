"""Where docker-format clients look for a host's credentials: the one rule, for every reader."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ecrd.outputs.routing import CONTAINERS, DOCKER, Route, auths_key, route

HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"


class TestRoute:
    @pytest.mark.parametrize(
        ("document", "docker", "containers"),
        [
            ({}, Route(None, "auths"), Route(None, "auths")),
            ({"credsStore": "pass"}, Route("pass", "credsStore"), Route(None, "auths")),
            ({"credsStore": ""}, Route(None, "auths"), Route(None, "auths")),
            (
                {"credsStore": "pass", "credHelpers": {HOST: "ecr-login"}},
                Route("ecr-login", "credHelpers"),
                Route("ecr-login", "credHelpers"),
            ),
            (
                {"credsStore": "pass", "credHelpers": {HOST: ""}},
                Route(None, "credHelpers"),
                Route(None, "credHelpers"),
            ),
            (
                {"credsStore": "pass", "credHelpers": {f"https://{HOST}": "ecr-login"}},
                Route("pass", "credsStore"),
                Route(None, "auths"),
            ),
            ({"credHelpers": [HOST], "credsStore": 3}, Route(None, "auths"), Route(None, "auths")),
        ],
    )
    def test_docker_and_containers_rules(self, document, docker, containers):
        """The helper of credHelpers[host] first, then credsStore (docker only), else auths.

        credHelpers keys match exactly and "" means auths; podman, skopeo and buildah ignore
        credsStore; values of the wrong kind count as unset.
        """
        assert (docker, containers) == (
            route(document, HOST, clients=DOCKER),
            route(document, HOST, clients=CONTAINERS),
        )


class TestAuthsKey:
    @pytest.mark.parametrize(
        ("auths", "expected"),
        [
            ({HOST: {}}, HOST),
            ({f"https://{HOST}/v1/": {}}, f"https://{HOST}/v1/"),
            ({f"http://{HOST}": {}, HOST: {}}, HOST),
            ({f"{HOST}:443": {}}, None),
            ({}, None),
        ],
    )
    def test_key_as_docker_reduces_it(self, auths, expected):
        """The host's own key first, else one naming it with a scheme or path; a port counts."""
        assert expected == auths_key({"auths": auths}, HOST)

    def test_no_auths_object(self):
        """Without an auths object there is no key."""
        assert None is auths_key({"auths": ["x"]}, HOST)


def test_routing_imports_no_writer():
    """Importing the rule loads no writer, no file layer and no logging.

    Client entry points (docker-credential-ecrd, the kubelet provider) may use it.
    """
    code = (
        "import sys, json; import ecrd.outputs.routing; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('ecrd'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert [
        "ecrd",
        "ecrd.hostport",
        "ecrd.outputs",
        "ecrd.outputs.output",
        "ecrd.outputs.routing",
    ] == json.loads(done.stdout)
