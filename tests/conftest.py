"""Shared fixtures: an isolated environment, the ECR emulator, a real registry.

Also for the output and credential-store tests: fake credential helpers first on PATH, and
the bytes of every file replacement.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import TYPE_CHECKING, Any

import pytest
import structlog

from ecrd import files as _atomic
from ecrd.emulator.server import Emulator
from ecrd.logs import reset_logging
from tests.credstore.fakes import FakeHelper
from tests.dockerd import Dockerd
from tests.dockerd import why_not as dockerd_missing

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ACCESS_KEY = "AKIDECRDTEST0000"

_AWS_VARIABLES = [name for name in os.environ if name.startswith(("AWS_", "ECRD_"))] + [
    "DOCKER_CONFIG",
    "REGISTRY_AUTH_FILE",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "STATE_DIRECTORY",
    "NETRC",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of the test's own, dummy AWS keys, and no instance metadata lookups.

    Returns the fake home directory.
    """
    home = tmp_path / "home"
    home.mkdir()
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ecrd-test-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    # Never ask 169.254.169.254: tests talk to loopback only.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "*")
    return home


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """The project's ECR endpoint on loopback, tokens living 12 hours."""
    with Emulator() as emu:
        yield emu


@pytest.fixture
def stable_emulator() -> Iterator[Emulator]:
    """An ECR endpoint issuing the same password per registry id, for a real registry."""
    with Emulator(stable_passwords=True) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Each test starts with structlog's defaults and no log handler of ecrd installed.

    CLI tests configure structlog (and a root handler) on a stream pytest closes after the
    test; a later test would otherwise log into it, or see another test's level.
    """
    reset_logs()
    yield
    reset_logs()


@pytest.fixture(autouse=True)
def _thaw_collector() -> Iterator[None]:
    """An in-process daemon freezes the collector's objects after its first round; undone."""
    yield
    gc.unfreeze()


def reset_logs() -> None:
    """Back to structlog's defaults: no context, no handler of ecrd on the root logger."""
    reset_logging()
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h).__name__ == "_LibraryLogs"]:
        root.removeHandler(handler)
    logging.getLogger("botocore").setLevel(logging.NOTSET)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """Moto's ECR and STS server on loopback: deterministic answers (AWS:<id>-auth-token)."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only the tests that use it

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    """The real docker engine on a private socket, for the session; skips where it cannot run."""
    reason = dockerd_missing()
    if reason:
        pytest.skip(reason)
    engine = Dockerd(tmp_path_factory.mktemp("dockerd"))
    failed = engine.start()
    if failed:
        pytest.skip(f"dockerd cannot start here: {failed}")
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory searched first on PATH, for ``docker-credential-*`` programs."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")
    return directory


@pytest.fixture
def fake(bin_dir: Path) -> FakeHelper:
    """docker-credential-fake, a recording store, first on PATH."""
    return FakeHelper(bin_dir, "fake")


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The data of every file replacement."""
    done: list[bytes] = []
    real = _atomic.replace_file

    def counting(target: Path, data: bytes, **kwargs: Any) -> Any:
        done.append(data)
        return real(target, data, **kwargs)

    monkeypatch.setattr(_atomic, "replace_file", counting)
    return done
