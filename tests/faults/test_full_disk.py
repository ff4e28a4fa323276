"""Full and read-only file systems, for real: a small tmpfs in a private mount namespace.

The script below runs under ``unshare -m`` (root): it mounts a 256 KiB tmpfs, puts the
docker output there with an old file, fills the tmpfs (or remounts it read-only), and
applies the docker output and a netrc output elsewhere in one go, as a round does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare(1) for a private mount namespace",
)

SCRIPT = r"""
import json, os, subprocess, sys
from pathlib import Path
from ecrd.config.model import OutputSpec
from ecrd.errors import OutputError
from ecrd.outputs.docker import DockerOutput
from ecrd.outputs.netrc import NetrcOutput
from ecrd.secret import Credentials, Secret
from datetime import datetime, timezone

fault, base = sys.argv[1], Path(sys.argv[2])
small = base / "small"
small.mkdir()
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], check=True)
docker = small / "config.json"
old = b'{"auths": {"quay.io": {"auth": "cXVheTpx"}}}'
docker.write_bytes(old)
docker.chmod(0o600)
if fault == "full":
    with open(small / "filler", "wb", buffering=0) as file:
        try:
            while True:
                file.write(b"x" * 4096)
        except OSError:
            pass
else:
    subprocess.run(["mount", "--bind", str(small), str(small)], check=True)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(small)], check=True)
netrc = base / "netrc" / ".netrc"
login = Credentials(username="AWS", password=Secret("pw" * 300), expires_at=datetime(2030, 1, 1, tzinfo=timezone.utc))
results = {}
for output in (DockerOutput(OutputSpec(type="docker", path=docker)), NetrcOutput(OutputSpec(type="netrc", path=netrc))):
    try:
        results[str(output.spec.path)] = output.apply(logins={"h.example": login}, remove={}).written
    except OutputError as exc:
        results[str(output.spec.path)] = str(exc)
print(json.dumps({
    "results": results,
    "docker": docker.read_bytes().decode(),
    "left": sorted(p.name for p in small.iterdir() if p.name.startswith(".ecrd-")),
    "netrc": netrc.read_text() if netrc.exists() else None,
}))
"""


def run(fault: str, tmp_path) -> dict[str, object]:
    proc = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            sys.executable,
            "-c",
            SCRIPT,
            fault,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=os.environ.copy(),
    )
    if (
        proc.returncode != 0
        and "unshare" in proc.stderr
        and "Operation not permitted" in proc.stderr
    ):
        pytest.skip(f"no private mount namespace here: {proc.stderr.strip()}")
    assert 0 == proc.returncode, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("full", "no space left on device (the file system is full); free some space"),
        ("read-only", "read-only file system; make that file system writable"),
    ],
)
def test_old_file_intact_no_temporary_and_other_output_written(tmp_path, fault, words):
    """ENOSPC and EROFS: old file whole, no temporary file, other output still written.

    The error names the path and says what is wrong.
    """
    result = run(fault, tmp_path)

    docker = str(tmp_path / "small" / "config.json")
    netrc = str(tmp_path / "netrc" / ".netrc")
    message = result["results"][docker]  # type: ignore[index]
    assert f"cannot write {docker}: {words}" in message
    assert "pw" * 10 not in message
    assert ('{"auths": {"quay.io": {"auth": "cXVheTpx"}}}', [], True) == (
        result["docker"],
        result["left"],
        result["results"][netrc],  # type: ignore[index]
    )
    assert "machine h.example" in str(result["netrc"])


def test_file_size_limit_efbig(tmp_path):
    """EFBIG (a file size limit, here ulimit -f): old file intact, no temporary, path named."""
    script = r"""
import resource, sys
from pathlib import Path
from ecrd.errors import FileError
from ecrd.files import replace_file
path = Path(sys.argv[1])
path.write_bytes(b"old")
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    replace_file(path, b"x" * 100_000, expected=b"old")
except FileError as exc:
    print(exc)
"""
    path = tmp_path / "config.json"
    proc = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert f"cannot write {path}: file too large" in proc.stdout
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".ecrd-")]
    assert (b"old", []) == (path.read_bytes(), left)
