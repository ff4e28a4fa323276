"""`ecrd kubelet-credential-provider`: the kubelet's CredentialProviderRequest, answered from state.

Fixtures are written in the formats ecrd writes (``ecrd.state``'s ``HostState.to_json``, the
tokens file, docker's config.json, netrc); one test runs a real `ecrd refresh` against the
loopback emulator and then the provider as the kubelet runs it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from ecrd import paths
from ecrd.cli import cli
from ecrd.kubelet import (
    API_VERSION,
    EXPIRY_MARGIN,
    ProviderRequestError,
    answer_request,
    go_duration,
    image_host,
)
from ecrd.state import HostState, OwnedEntries, State
from ecrd.state_model import render_state

if TYPE_CHECKING:
    from pathlib import Path

    from ecrd.emulator.server import Emulator

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
ALIAS = "registry.example.internal:5000"
OTHER = "210987654321.dkr.ecr.eu-central-1.amazonaws.com"
PASSWORD = "eyJwYXlsb2FkIjoiZmFrZSJ9" * 90
NEWER = "eyJuZXdlciI6InRva2VuIn0=" * 90
DIGEST = "sha256:" + "ab" * 32


def request(image: str, **extra: Any) -> str:
    """The JSON the kubelet writes on the provider's stdin (kubelet-credentialprovider.v1)."""
    return json.dumps(
        {"apiVersion": API_VERSION, "kind": "CredentialProviderRequest", "image": image, **extra}
    )


def config_dir(root: Path, name: str) -> Path:
    directory = root / paths.CONFIGS / f"{name}-0123456789ab"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def write_tokens(
    directory: Path,
    host: str,
    *,
    expires_at: datetime,
    refresh_at: datetime | None,
    secret: str = PASSWORD,
):
    """A tokens file as ecrd writes it (Unix seconds)."""
    entry = {
        "username": "AWS",
        "secret": secret,
        "expires_at": round(expires_at.timestamp(), 3),
        "refresh_at": None if refresh_at is None else refresh_at.timestamp(),
    }
    path = directory / paths.TOKENS_FILE
    path.write_text(json.dumps({"version": 1, "hosts": {host: entry}}, indent=2) + "\n")
    path.chmod(0o600)


def write_state(
    directory: Path,
    hosts: dict[str, tuple[datetime, datetime | None, list[Path]]],
    *,
    owned: dict[Path, str],
) -> None:
    """A state file as ecrd writes it: host -> (expires_at, next_refresh_at, outputs)."""
    state = State(
        hosts={
            host: HostState(
                host=host,
                registry_id=host.split(".", 1)[0] if host != ALIAS else "123456789012",
                region="us-west-2",
                group="ecr:us-west-2",
                expires_at=expires_at,
                refreshed_at=expires_at - timedelta(hours=12),
                outputs=[str(p) for p in outputs],
            )
            for host, (expires_at, _, outputs) in hosts.items()
        },
        owned={
            str(p): OwnedEntries(type=t, entries=dict.fromkeys(hosts, "fingerprint"))
            for p, t in owned.items()
        },
    )
    document = json.loads(render_state(state))
    for host, (_, next_refresh_at, _) in hosts.items():
        document["hosts"][host]["next_refresh_at"] = (
            None if next_refresh_at is None else next_refresh_at.isoformat()
        )
    document["config"] = str(directory / "config.yaml")
    (directory / paths.STATE_FILE).write_text(json.dumps(document, indent=2) + "\n")


def write_docker(path: Path, logins: dict[str, str], **extra: Any) -> Path:
    auths = {h: {"auth": base64.b64encode(f"AWS:{p}".encode()).decode()} for h, p in logins.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": auths, **extra}))
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "state"


def answer(root: Path, image: str, **kwargs: Any):
    return answer_request(
        request(image), env={"STATE_DIRECTORY": str(root)}, now=NOW.timestamp(), **kwargs
    )


class TestAnswers:
    def test_token_from_the_tokens_file(self, root):
        """A host served through docker-credential-ecrd: its login, cached until the refresh."""
        write_tokens(
            config_dir(root, "ci"),
            HOST,
            expires_at=NOW + timedelta(hours=12),
            refresh_at=NOW + timedelta(hours=6),
        )

        result = answer(root, f"{HOST}/team/app:1.0")

        assert {
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderResponse",
            "cacheKeyType": "Registry",
            "cacheDuration": "5h59m30s",
            "auth": {HOST: {"username": "AWS", "password": PASSWORD}},
        } == result.response
        assert result.notice is None

    def test_a_state_file_naming_an_output_is_never_read(self, root, tmp_path):
        """Run as root, it reads only tokens.json: a state naming a root-only file gets nothing.

        The state file is written by the user who runs ecrd; following the outputs it names
        would hand the kubelet any file root can read.
        """
        docker = write_docker(tmp_path / "root-only" / "config.json", {HOST: PASSWORD})
        docker.chmod(0o600)
        write_state(
            config_dir(root, "build"),
            {HOST: (NOW + timedelta(days=365 * 72), None, [docker])},
            owned={docker: "docker"},
        )

        result = answer(root, f"{HOST}/app@{DIGEST}")

        assert ({}, "0s") == (result.response["auth"], result.response["cacheDuration"])

    def test_alias_with_a_port_from_the_tokens_file(self, root):
        """A `hosts:` alias with a port (written only to a netrc) is answered from tokens.json."""
        write_tokens(
            config_dir(root, "build"),
            ALIAS,
            expires_at=NOW + timedelta(hours=12),
            refresh_at=NOW + timedelta(hours=6),
            secret=NEWER,
        )

        result = answer(root, f"{ALIAS.upper()}/team/app")

        assert {ALIAS: {"username": "AWS", "password": NEWER}} == result.response["auth"]

    def test_ipv6_alias_with_a_port(self, root):
        """`[::1]:5000` as configured is the key; the image's host finds it."""
        write_tokens(
            config_dir(root, "build"),
            "[::1]:5000",
            expires_at=NOW + timedelta(hours=12),
            refresh_at=None,
        )

        result = answer(root, "[::1]:5000/team/app:1")

        assert {"[::1]:5000": {"username": "AWS", "password": PASSWORD}} == result.response["auth"]

    def test_without_a_daemon_the_cache_ends_before_expiry(self, root):
        """No next refresh known (`ecrd refresh` from cron): cached until half an hour before expiry."""
        write_tokens(
            config_dir(root, "ci"), HOST, expires_at=NOW + timedelta(hours=12), refresh_at=None
        )

        result = answer(root, f"{HOST}/app")

        assert "11h30m0s" == result.response["cacheDuration"]
        assert 12 * 3600 - EXPIRY_MARGIN == 11.5 * 3600

    def test_refresh_due_now_is_not_cached(self, root):
        """A refresh already due (the daemon is retrying): the still valid login, not cached."""
        write_tokens(
            config_dir(root, "ci"),
            HOST,
            expires_at=NOW + timedelta(hours=5),
            refresh_at=NOW - timedelta(minutes=3),
        )

        result = answer(root, f"{HOST}/app")

        assert ("0s", PASSWORD) == (
            result.response["cacheDuration"],
            result.response["auth"][HOST]["password"],
        )

    def test_two_configurations_the_later_expiry_wins(self, root):
        """A host managed by two configurations: the login that expires last."""
        write_tokens(
            config_dir(root, "a"), HOST, expires_at=NOW + timedelta(hours=2), refresh_at=None
        )
        write_tokens(
            config_dir(root, "b"),
            HOST,
            expires_at=NOW + timedelta(hours=9),
            refresh_at=NOW + timedelta(hours=3),
            secret=NEWER,
        )

        result = answer(root, f"{HOST}/app")

        assert NEWER == result.response["auth"][HOST]["password"]

    def test_config_option_narrows_to_one_configuration(self, root, tmp_path):
        """With -c, only that configuration's logins serve."""
        chosen = tmp_path / "chosen.yaml"
        directory = paths.config_state_dir(root=str(root), config=str(chosen))
        os.makedirs(directory)  # noqa: PTH103
        write_tokens(
            config_dir(root, "other"), HOST, expires_at=NOW + timedelta(hours=9), refresh_at=None
        )

        result = answer(root, f"{HOST}/app", config=str(chosen))

        assert {} == result.response["auth"]


class TestNoCredentials:
    @pytest.mark.parametrize(
        "image", ["nginx:1.25", "docker.io/library/nginx", "ghcr.io/org/app:1", "localhost/app"]
    )
    def test_unmanaged_image_gets_an_empty_auth_not_cached(self, root, image):
        """Any other image: an empty auth, and nothing cached (a host ecrd adds later serves)."""
        write_tokens(
            config_dir(root, "ci"), HOST, expires_at=NOW + timedelta(hours=1), refresh_at=None
        )

        result = answer(root, image)

        assert ({}, "0s", None) == (
            result.response["auth"],
            result.response["cacheDuration"],
            result.notice,
        )

    def test_expired_token_empty_auth_and_a_notice(self, root):
        """An expired login is not handed out; one line on stderr says why."""
        expired = NOW - timedelta(minutes=10)
        write_tokens(config_dir(root, "ci"), HOST, expires_at=expired, refresh_at=None)

        result = answer(root, f"{HOST}/app")

        assert {} == result.response["auth"]
        assert (
            f"ecrd: the token for {HOST} expired at 2026-11-28 11:50:00 UTC; "
            "is ecrd running? see `ecrd status`"
        ) == result.notice

    def test_no_state_at_all(self, root):
        """Before ecrd's first refresh: an empty auth, no error."""
        assert {} == answer(root, f"{HOST}/app").response["auth"]


class TestImageHost:
    @pytest.mark.parametrize(
        ("image", "host"),
        [
            (f"{HOST}/app:1.0", HOST),
            (f"{HOST}/team/app", HOST),
            (f"{HOST}/app@{DIGEST}", HOST),
            (f"{HOST}/app:1.0@{DIGEST}", HOST),
            (f"{ALIAS}/app:2", ALIAS),
            (f"{ALIAS}/app@{DIGEST}", ALIAS),
            (f"{HOST.upper()}/app", HOST),
            ("localhost:5000/app", "localhost:5000"),
            ("localhost/app", "localhost"),
            ("nginx", "docker.io"),
            ("nginx:1.25", "docker.io"),
            ("library/nginx@" + DIGEST, "docker.io"),
        ],
    )
    def test_reference_forms(self, image, host):
        """Tags, digests, ports and Docker Hub short names resolve as docker resolves them."""
        assert host == image_host(image)


class TestGoDuration:
    @pytest.mark.parametrize(
        ("seconds", "text"),
        [(0, "0s"), (-5, "0s"), (45, "45s"), (60, "1m0s"), (3600, "1h0m0s"), (21570, "5h59m30s")],
    )
    def test_as_go_prints_it(self, seconds, text):
        """Durations read as Go's time.ParseDuration reads them (the kubelet's metav1.Duration)."""
        assert text == go_duration(seconds)


class TestBadRequests:
    @pytest.mark.parametrize(
        ("stdin", "message"),
        [
            ("not json", "the request on stdin is not JSON"),
            ("[]", "the request on stdin is not a JSON object"),
            (
                request("x").replace(API_VERSION, "credentialprovider.kubelet.k8s.io/v1alpha1"),
                "the request's apiVersion is",
            ),
            (
                request("x").replace("CredentialProviderRequest", "ExecCredential"),
                "the request's kind is",
            ),
            (
                json.dumps({"apiVersion": API_VERSION, "kind": "CredentialProviderRequest"}),
                "the request has no image",
            ),
            (request("  "), "the request has no image"),
        ],
    )
    def test_exit_1_with_a_clear_message(self, stdin, message):
        """A request the provider cannot read: exit 1, one error line on stderr, nothing on stdout."""
        result = CliRunner().invoke(cli, ["kubelet-credential-provider"], input=stdin)

        assert (1, "") == (result.exit_code, result.stdout)
        assert result.stderr.startswith(f"Error: {message}")
        assert 1 == len(result.stderr.splitlines())

    def test_error_type(self):
        """The library raises ProviderRequestError, an EcrdError with exit code 1."""
        with pytest.raises(ProviderRequestError) as caught:
            answer_request("{}", env={})

        assert 1 == caught.value.exit_code

    def test_extra_fields_of_newer_kubelets_are_accepted(self, root):
        """ServiceAccountToken and its annotations (kubelet 1.33+) do not matter to ecrd."""
        result = answer_request(
            request(f"{HOST}/app", serviceAccountToken="", serviceAccountAnnotations={}),
            env={"STATE_DIRECTORY": str(root)},
        )

        assert {} == result.response["auth"]


def parse_go_duration(text: str) -> int:
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(\d+)s", text)
    assert match is not None, text
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class TestEndToEnd:
    def test_refresh_then_the_provider_as_the_kubelet_runs_it(self, tmp_path, emulator: Emulator):
        """A real `ecrd refresh` against the emulator, then the provider process, field by field."""
        root = tmp_path / "state"
        config = tmp_path / "ecrd.yaml"
        config.write_text(
            f"""\
aws:
  region: us-west-2
  endpoint_url: {emulator.url}
outputs:
  - type: docker
    path: {tmp_path}/docker/config.json
registries:
  - registry_id: "123456789012"
    hosts: ["{ALIAS}"]
"""
        )
        env = {**os.environ, "STATE_DIRECTORY": str(root)}
        refreshed = subprocess.run(
            [sys.executable, "-m", "ecrd", "refresh", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert 0 == refreshed.returncode, refreshed.stderr
        (call,) = emulator.calls(operation="GetAuthorizationToken")
        expires_at = round((call.at + emulator.token_lifetime).timestamp(), 3)

        answers = {}
        for image in (f"{HOST}/team/app:1.0", f"{ALIAS}/app@{DIGEST}", "nginx:1.25"):
            before = time.time()
            done = subprocess.run(
                [sys.executable, "-m", "ecrd", "kubelet-credential-provider"],
                input=request(image),
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
                check=False,
            )
            after = time.time()
            assert (0, "") == (done.returncode, done.stderr)
            answers[image] = (json.loads(done.stdout), before, after)

        password = emulator.password_for("123456789012")
        for image, host in ((f"{HOST}/team/app:1.0", HOST), (f"{ALIAS}/app@{DIGEST}", ALIAS)):
            response, before, after = answers[image]
            assert API_VERSION == response["apiVersion"]
            assert "CredentialProviderResponse" == response["kind"]
            assert "Registry" == response["cacheKeyType"]
            assert {host: {"username": "AWS", "password": password}} == response["auth"]
            cached = parse_go_duration(response["cacheDuration"])
            assert int(expires_at - EXPIRY_MARGIN - after) <= cached
            assert cached <= int(expires_at - EXPIRY_MARGIN - before)
        response, _, _ = answers["nginx:1.25"]
        assert ({}, "0s") == (response["auth"], response["cacheDuration"])


class TestImports:
    def test_no_aws_or_validation_libraries(self):
        """The provider module loads neither boto3/botocore nor pydantic: it never calls AWS."""
        done = subprocess.run(
            [sys.executable, "-c", "import sys, ecrd.kubelet; print(' '.join(sys.modules))"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )

        top = {name.split(".")[0] for name in done.stdout.split()}
        assert set() == top & {"boto3", "botocore", "pydantic", "yaml", "structlog"}
