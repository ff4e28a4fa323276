"""The template unit's state is found by its user, with no extra environment.

A real user runs `ecrd refresh` with the environment `ecrd@USER` gives it (its
``StateDirectory=ecrd/%i`` and the drop-in's ``ECRD_CONFIG``), then `ecrd status` and
`docker-credential-ecrd get` as that user with only HOME, USER and PATH set: both find the
daemon's state under /var/lib/ecrd/USER.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ecrd.service.systemd import render_drop_in, render_template_unit

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ecrd.emulator.server import Emulator

HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
REPOSITORY = Path(__file__).resolve().parent.parent
# The venv's interpreter lives under /root (0700): the user runs the system one, same version.
SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
SITE = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())

# Both this module and tests/service/test_as_user.py create and remove /var/lib/ecrd: one
# worker runs them, one after the other.
pytestmark = [
    pytest.mark.xdist_group("var-lib-ecrd"),
    pytest.mark.skipif(
        os.geteuid() != 0
        or shutil.which("useradd") is None
        or shutil.which("runuser") is None
        or not SYSTEM_PYTHON.exists(),
        reason="needs root, useradd, runuser and " + str(SYSTEM_PYTHON),
    ),
]

# An installed console script, as pip writes it, for the system interpreter.
SCRIPT = """#!{python}
import sys
sys.path[:0] = [{repository!r}, {site!r}]
from {module} import main
sys.exit(main())
"""


@pytest.fixture
def user() -> Iterator[pwd.struct_passwd]:
    """A new user with a home, and /var/lib/ecrd/USER as systemd's StateDirectory makes it."""
    name = f"ecrdt{os.getpid() % 100000}"
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], check=True)
    created_root = not Path("/var/lib/ecrd").exists()
    try:
        entry = pwd.getpwnam(name)
        state = Path("/var/lib/ecrd") / name
        state.mkdir(parents=True, mode=0o700)
        os.chown(state, entry.pw_uid, entry.pw_gid)
        yield entry
    finally:
        shutil.rmtree(Path("/var/lib/ecrd") / name, ignore_errors=True)
        if created_root:
            shutil.rmtree("/var/lib/ecrd", ignore_errors=True)
        subprocess.run(["userdel", "-r", name], check=False, capture_output=True)


def as_user(
    user: pwd.struct_passwd, env: dict[str, str], *command: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as ``user`` with exactly ``env`` as its environment."""
    assignments = [f"{k}={v}" for k, v in env.items()]
    return subprocess.run(
        ["runuser", "-u", user.pw_name, "--", "env", "-i", *assignments, *command],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def install(home: Path, uid: int, gid: int, emulator: Emulator) -> Path:
    """Install ecrd and its helper on the PATH of the user, with AWS keys and its files."""
    files = {
        "bin/ecrd": SCRIPT.format(
            python=SYSTEM_PYTHON, repository=str(REPOSITORY), site=SITE, module="ecrd.cli"
        ),
        "bin/docker-credential-ecrd": SCRIPT.format(
            python=SYSTEM_PYTHON,
            repository=str(REPOSITORY),
            site=SITE,
            module="ecrd.docker_credential_ecrd",
        ),
        ".aws/credentials": "[default]\naws_access_key_id = AKIDUNIT\naws_secret_access_key = x\n",
        "ci/jenkins.yaml": (
            f"aws: {{region: us-west-2, endpoint_url: {emulator.url}}}\n"
            f"outputs: [{{type: docker, path: {home}/.docker/config.json}}]\n"
            f"registries: [{HOST}]\n"
        ),
        ".docker/config.json": json.dumps({"credHelpers": {HOST: "ecrd"}}),
    }
    for name, text in files.items():
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755 if name.startswith("bin/") else 0o600)
        for owned in (path, path.parent):
            os.chown(owned, uid, gid)
    return home / "ci" / "jenkins.yaml"


def unit_environment(user: pwd.struct_passwd, config: Path) -> dict[str, str]:
    """What ``ecrd@USER`` gives ``ecrd run``: its StateDirectory, and the drop-in's variables."""
    assert "StateDirectory=ecrd/%i" in render_template_unit(ecrd=Path("/usr/bin/ecrd"))
    drop_in = render_drop_in(user=user.pw_name, config=config, home=None)
    environment = dict(
        word.split("=", 1)
        for line in drop_in.splitlines()
        if line.startswith("Environment=")
        for word in shlex.split(line.removeprefix("Environment="))
    )
    return {**environment, "STATE_DIRECTORY": f"/var/lib/ecrd/{user.pw_name}"}


def test_status_and_the_helper_find_the_units_state_with_only_home_user_path(
    user: pwd.struct_passwd, emulator: Emulator
) -> None:
    """After the unit's refresh, USER's `ecrd status` and helper find its state unaided."""
    home = Path(user.pw_dir)
    config = install(home, user.pw_uid, user.pw_gid, emulator)
    plain = {"HOME": str(home), "USER": user.pw_name, "PATH": f"{home}/bin:/usr/bin:/bin"}

    refreshed = as_user(user, {**plain, **unit_environment(user, config)}, "ecrd", "refresh")
    status = as_user(user, plain, "ecrd", "status")
    as_json = as_user(user, plain, "ecrd", "status", "--output", "json")
    got = as_user(user, plain, "docker-credential-ecrd", "get", stdin=f"{HOST}\n")

    assert 0 == refreshed.returncode, refreshed.stderr
    assert 0 == status.returncode, status.stderr
    assert status.stdout.startswith("daemon: not running for ~/ci/jenkins.yaml")
    assert HOST == status.stdout.splitlines()[2].split()[0]
    assert str(config) == json.loads(as_json.stdout)["config"]
    (tokens,) = Path(f"/var/lib/ecrd/{user.pw_name}/configs").glob("*/tokens.json")
    secret = json.loads(tokens.read_text())["hosts"][HOST]["secret"]
    assert 0 == got.returncode, got.stdout
    assert {"ServerURL": HOST, "Username": "AWS", "Secret": secret} == json.loads(got.stdout)
