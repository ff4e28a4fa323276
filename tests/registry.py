"""A real registry on loopback: Debian's docker-registry with htpasswd auth, plus skopeo/curl."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import bcrypt

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REPOSITORY = "ecrd/tiny"
TAG = "v1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalRegistry:
    """docker-registry on 127.0.0.1 with one user, ``AWS``, and a password the test sets."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.htpasswd = root / "htpasswd"
        self._process: subprocess.Popen[bytes] | None = None

    def set_password(self, password: str) -> None:
        """Let user AWS in with ``password`` (the registry re-reads the file on change).

        bcrypt reads the first 72 bytes only, as the registry's own bcrypt does.
        """
        hashed = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=4))
        self.htpasswd.write_bytes(b"AWS:" + hashed + b"\n")

    def start(self) -> None:
        """Start the registry and wait until it answers /v2/."""
        config = self.root / "registry.yml"
        config.write_text(
            json.dumps(
                {
                    "version": 0.1,
                    "log": {"level": "error", "accesslog": {"disabled": True}},
                    "storage": {"filesystem": {"rootdirectory": str(self.root / "data")}},
                    "http": {"addr": self.host},
                    "auth": {"htpasswd": {"realm": "ecrd-test", "path": str(self.htpasswd)}},
                }
            )
        )
        if not self.htpasswd.exists():
            self.set_password("not-yet-set")
        self._process = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                msg = f"docker-registry exited with {self._process.returncode}"
                raise RuntimeError(msg)
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
            except urllib.error.HTTPError:
                return  # 401: it is up
            except OSError:
                # Nothing to wait on but the port opening; poll it briefly.
                time.sleep(0.02)
        msg = "docker-registry did not start within 20 s"
        raise RuntimeError(msg)

    def stop(self) -> None:
        """Stop the registry."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def push_tiny_image(self, password: str, work: Path) -> None:
        """Push a one-layer image built by hand (an OCI layout) as REPOSITORY:TAG."""
        layout = work / "oci"
        blobs = layout / "blobs" / "sha256"
        blobs.mkdir(parents=True)

        def blob(data: bytes) -> dict[str, object]:
            digest = hashlib.sha256(data).hexdigest()
            (blobs / digest).write_bytes(data)
            return {"digest": f"sha256:{digest}", "size": len(data)}

        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo("hello.txt")
            content = b"hello from ecrd's tests\n"
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        layer = blob(gzip.compress(raw.getvalue(), mtime=0))
        config = blob(
            json.dumps(
                {
                    "architecture": "amd64",
                    "os": "linux",
                    "rootfs": {
                        "type": "layers",
                        "diff_ids": [f"sha256:{hashlib.sha256(raw.getvalue()).hexdigest()}"],
                    },
                }
            ).encode()
        )
        manifest = blob(
            json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                    "layers": [
                        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}
                    ],
                }
            ).encode()
        )
        (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        (layout / "index.json").write_text(
            json.dumps(
                {
                    "schemaVersion": 2,
                    "manifests": [
                        {
                            "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            **manifest,
                            "annotations": {"org.opencontainers.image.ref.name": TAG},
                        }
                    ],
                }
            )
        )
        authfile = work / "push-auth.json"
        token = base64.b64encode(f"AWS:{password}".encode()).decode()
        authfile.write_text(json.dumps({"auths": {self.host: {"auth": token}}}))
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-authfile",
            str(authfile),
            f"oci:{layout}:{TAG}",
            f"docker://{self.host}/{REPOSITORY}:{TAG}",
            policy=work,
            check=True,
        )


@contextlib.contextmanager
def serving(root: Path, password: str) -> Iterator[LocalRegistry]:
    """A started registry in ``root`` letting AWS in with ``password``, with one tiny image."""
    local = LocalRegistry(root)
    local.set_password(password)
    local.start()
    try:
        local.push_tiny_image(password, root)
        yield local
    finally:
        local.stop()


def skopeo(*args: str, policy: Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run skopeo with a policy of the test's own (no reliance on /etc/containers)."""
    policy_file = policy / "policy.json"
    if not policy_file.exists():
        policy_file.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    return subprocess.run(
        ["skopeo", "--policy", str(policy_file), *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


def tools_missing() -> str | None:
    """Why the end-to-end tests cannot run here, or None."""
    for tool in ("docker-registry", "skopeo", "curl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (bash .ci/run installs it)"
    return None
