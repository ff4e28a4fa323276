"""Concurrent writers: a ``docker login`` whose rename lands while ecrd writes is never lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

from ecrd.config.model import OutputSpec
from ecrd.errors import OutputError
from ecrd.files import swap
from ecrd.outputs.docker import DockerOutput
from ecrd.secret import Credentials, Secret
from tests.fakes import EXPIRES_AT

if TYPE_CHECKING:
    from pathlib import Path

HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
ROUNDS = 1000

# docker login, as the docker CLI does it: read, change, write a temporary file, rename.
# A real docker login is a process start (tens of milliseconds) apart from the next one:
# the writer pauses 5 ms before each round. (Back to back, its next read can land in the
# microseconds between ecrd's swap and its swap back, the one window the README says no
# writer closes without a shared lock; on a loaded 2-core CI machine a 1 ms pause met it
# once in a few runs, the scheduler stretching those microseconds.)
DOCKER_LOGIN = """
import json, os, sys, time
os.umask(0o077)
path, rounds = sys.argv[1], int(sys.argv[2])
for n in range(rounds):
    time.sleep(0.005)
    with open(path, "rb") as file:
        document = json.loads(file.read())
    document.setdefault("auths", {})[f"host-{n}"] = {"auth": "aG9zdDpw"}
    temp = f"{path}.login-{os.getpid()}"
    with open(temp, "w") as file:
        json.dump(document, file, indent="\\t")
    os.rename(temp, path)
print("done", flush=True)
"""


def login(n: int) -> Credentials:
    return Credentials(username="AWS", password=Secret(f"pw{n}"), expires_at=EXPIRES_AT)


def output(path: Path) -> DockerOutput:
    return DockerOutput(OutputSpec(type="docker", path=path))


def apply_or_give_up(path: Path, n: int, gave_up: list[str]) -> bool:
    """One apply; ten races lost in a row is an error that the next refresh retries."""
    try:
        return output(path).apply(logins={HOST: login(n)}, remove={}).written
    except OutputError as exc:
        gave_up.append(str(exc))
        return False


def test_every_docker_login_entry_survives_ecrd_rewriting_in_a_loop(tmp_path):
    """A second process does thousands of docker-login rounds while ecrd rewrites the file.

    Every one of its entries is there at the end, and ecrd's entry too.
    """
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir(mode=0o700)
    path.write_text('{"auths": {}}')
    path.chmod(0o600)
    writer = subprocess.Popen(
        [sys.executable, "-c", DOCKER_LOGIN, str(path), str(ROUNDS)],
        stdout=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    writes = 0
    gave_up: list[str] = []
    while writer.poll() is None:
        writes += apply_or_give_up(path, writes, gave_up)
    assert 0 == writer.wait(timeout=60)
    output(path).apply(logins={HOST: login(writes)}, remove={})

    auths = json.loads(path.read_bytes())["auths"]
    missing = [n for n in range(ROUNDS) if f"host-{n}" not in auths]
    assert ([], True) == (missing, HOST in auths)
    assert writes > 10  # ecrd did rewrite the file all along
    assert all("kept changing" in message for message in gave_up)
    assert [] == [p.name for p in path.parent.iterdir() if p.name.startswith(".ecrd-")]


def test_rename_between_read_and_swap_is_merged(tmp_path, monkeypatch):
    """A docker-login rename forced in just before ecrd's swap is merged, not lost.

    ecrd swaps it straight back, reads it again and writes both entries.
    """
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir(mode=0o700)
    path.write_text('{"auths": {"quay.io": {"auth": "cXVheTpx"}}}')
    path.chmod(0o600)
    real = swap.swap
    swapped: list[str] = []

    def docker_login_first(first, second):
        if not swapped:
            document = json.loads(path.read_bytes())
            document["auths"]["ghcr.io"] = {"auth": "Z2hjcjp0"}
            temp = path.with_name("config.json.login")
            temp.write_text(json.dumps(document))
            temp.rename(path)  # lands after ecrd's read, before its swap
        swapped.append(str(second))
        real(first, second)

    monkeypatch.setattr(swap, "swap", docker_login_first)

    result = output(path).apply(logins={HOST: login(1)}, remove={})

    auths = json.loads(path.read_bytes())["auths"]
    # Swap in, swap back (theirs came out), swap in again over their file.
    assert (True, ["quay.io", "ghcr.io", HOST], 3) == (result.written, list(auths), len(swapped))
    assert [] == [p.name for p in path.parent.iterdir() if p.name.startswith(".ecrd-")]


def test_file_system_that_cannot_swap_falls_back_and_says_so(tmp_path, monkeypatch, capsys):
    """Where renameat2 says EINVAL (no RENAME_EXCHANGE): compare, then rename; logged once."""
    import errno  # noqa: PLC0415

    def unsupported(*_args):
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(swap, "swap", unsupported)
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir(mode=0o700)
    path.write_text('{"auths": {}}')
    path.chmod(0o600)

    first = output(path).apply(logins={HOST: login(1)}, remove={})
    second = output(path).apply(logins={HOST: login(2)}, remove={})

    logged = capsys.readouterr().out + capsys.readouterr().err
    assert (True, True, 1) == (first.written, second.written, logged.count("exchange_unsupported"))
    assert "cHc" not in logged  # no secret in the log
