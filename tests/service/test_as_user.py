"""`service install --systemd-system USER` run by root works in USER's home as USER (issue 10).

Real accounts (``useradd``), real symlinks planted in the account's home and given to it with
``os.lchown``, root-owned targets in a directory of /tmp anybody may enter. The machine's
root (/etc) is a temporary directory passed in-process; systemctl is the recording fake.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from ecrd.cli import cli
from ecrd.service.configuration import example_config
from ecrd.service.targets import System
from ecrd.state import StateStore

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.service.conftest import Tools

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None,
    reason="creates users and plants links owned by them: needs root and useradd",
)

_NAMES = itertools.count()


class User:
    """An account made for one test."""

    def __init__(self, name: str) -> None:
        entry = __import__("pwd").getpwnam(name)
        self.name = name
        self.uid: int = entry.pw_uid
        self.gid: int = entry.pw_gid
        self.home = Path(entry.pw_dir)

    @property
    def config(self) -> Path:
        return self.home / ".config" / "ecrd" / "config.yaml"

    def give(self, path: Path) -> None:
        """Make ``path`` (a link: not followed) and its parents up to the home the user's."""
        os.lchown(path, self.uid, self.gid)
        for parent in path.parents:
            if parent == self.home:
                break
            os.chown(parent, self.uid, self.gid)


@pytest.fixture
def user() -> Iterator[User]:
    name = f"ecrdt{os.getpid() % 100000}x{next(_NAMES)}"
    subprocess.run(
        ["useradd", "--create-home", "--shell", "/bin/sh", name], check=True, capture_output=True
    )
    try:
        yield User(name)
    finally:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


@pytest.fixture
def root_dir() -> Iterator[Path]:
    """A root-owned directory of /tmp that every user may enter but not write (0755)."""
    directory = Path(tempfile.mkdtemp(prefix="ecrd-root-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


@pytest.fixture
def system(tmp_path: Path) -> System:
    root = tmp_path / "root"
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    return System(root=root, euid=0)


def install(system: System, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["service", "install", *args], obj=system, catch_exceptions=False
    )


def plant(user: User, target: Path) -> Path:
    """A link at ~USER/.config/ecrd/config.yaml to ``target``, owned by USER."""
    user.config.parent.mkdir(parents=True)
    user.config.symlink_to(target)
    user.give(user.config)
    return user.config


def look(path: Path) -> tuple[bytes, int, int, int, int]:
    info = path.stat()
    return path.read_bytes(), stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, info.st_mtime_ns


@pytest.mark.usefixtures("ecrd")
class TestPlantedLinks:
    def test_a_dangling_link_does_not_make_root_create_its_target(
        self, user, root_dir, system, tools: Tools
    ):
        """A link to a missing root-owned path: not created, install fails naming the path."""
        target = root_dir / "created-by-root.yaml"
        link = plant(user, target)

        result = install(system, "--systemd-system", user.name, "-c", str(link))

        assert 1 == result.exit_code, result.output
        assert str(link) in result.stderr or str(target) in result.stderr, result.stderr
        assert "permission denied" in result.stderr.lower()
        assert (False, [], []) == (
            target.exists(),
            sorted(p.name for p in system.units.iterdir()),
            tools.calls(),
        )

    def test_a_link_to_a_root_file_it_cannot_read_is_left_alone(
        self, user, root_dir, system, tools: Tools
    ):
        """A link to an existing 0600 root file: not read, not changed, not chowned; exit 1."""
        target = root_dir / "secret.yaml"
        target.write_bytes(b"root's own\n")
        target.chmod(0o600)
        before = look(target)
        link = plant(user, target)

        result = install(system, "--systemd-system", user.name, "-c", str(link))

        assert 1 == result.exit_code, result.output
        assert f"cannot look at the configuration {link}" in result.stderr or (
            f"cannot read the configuration {link}" in result.stderr
        ), result.stderr
        assert (before, []) == (look(target), tools.calls())

    @pytest.mark.usefixtures("tools")
    def test_a_link_to_a_root_file_it_can_read_is_only_read(self, user, root_dir, system):
        """A link to a readable root file: the drop-in names it; the file stays as it was."""
        target = root_dir / "readable.yaml"
        target.write_bytes(b"registries: []\n")
        target.chmod(0o644)
        before = look(target)
        link = plant(user, target)

        result = install(system, "--systemd-system", user.name, "-c", str(link))

        assert 0 == result.exit_code, result.output
        assert before == look(target)

    def test_without_config_option_a_dangling_link_is_not_followed_by_root(
        self, user, root_dir, system, tools: Tools
    ):
        """The default path is a dangling link: created as the user, who cannot; exit 1."""
        target = root_dir / "created-by-root.yaml"
        plant(user, target)

        result = install(system, "--systemd-system", user.name)

        assert 1 == result.exit_code, result.output
        assert (False, [], []) == (
            target.exists(),
            sorted(p.name for p in system.units.iterdir()),
            tools.calls(),
        )


@pytest.mark.usefixtures("ecrd", "tools")
class TestInTheHome:
    def test_the_configuration_is_created_by_the_user(self, user, system):
        """Created in the home: the file and its new directories are the user's, 0600/0700."""
        result = install(system, "--systemd-system", user.name, "-c", str(user.config))

        assert 0 == result.exit_code, result.output
        made = [user.config, user.config.parent, user.config.parent.parent]
        assert [(user.uid, user.gid)] * 3 == [(p.stat().st_uid, p.stat().st_gid) for p in made]
        assert [0o600, 0o700, 0o700] == [stat.S_IMODE(p.stat().st_mode) for p in made]
        assert example_config() == user.config.read_bytes()

    def test_a_home_directory_the_user_cannot_write_fails_as_the_user_would(self, user, system):
        """A root-owned ~/.config: root could write there, the user cannot; install fails."""
        config_dir = user.home / ".config"
        config_dir.mkdir(mode=0o755)  # root's, inside the user's home

        result = install(system, "--systemd-system", user.name, "-c", str(user.config))

        assert 1 == result.exit_code, result.output
        assert f"cannot create {user.config.parent}" in result.stderr, result.stderr
        assert [] == list(config_dir.iterdir())


class TestInterpreterTheUserCannotRun:
    @pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["install", "dry-run"])
    def test_install_is_refused_and_leaves_nothing(self, user, system, ecrd, tools, dry_run):
        """Ecrd's interpreter in a 0700 directory of root's (a venv under /root): refused.

        Exit 1 with what to do, whether a dry run or not; no unit, no drop-in, no
        configuration in the user's home, no systemctl call.
        """
        closed = ecrd.parent.parent.parent / "root-only"
        closed.mkdir(mode=0o700)
        (closed / "python3").symlink_to(PYTHON)
        ecrd.write_text(f"#!{closed}/python3\n")
        # The user cannot run it, for real (setpriv would keep root's capabilities until the
        # exec, which opens the interpreter: a user's own exec is the proof).
        with pytest.raises(PermissionError):
            subprocess.run([str(ecrd)], user=user.uid, group=user.gid, extra_groups=[], check=False)

        result = install(system, "--systemd-system", user.name, *dry_run)

        assert (1, "") == (result.exit_code, result.stdout)
        assert result.stderr.startswith(
            f"Error: {user.name} cannot run {ecrd}: its interpreter {closed}/python3: {closed}"
            f" is closed to {user.name}, so ecrd@{user.name} could never start; nothing was"
            f" installed. Install ecrd where {user.name} can run it"
        ), result.stderr
        assert ([], [], []) == (
            tools.calls(),
            sorted(str(p) for p in system.root.rglob("*") if p.is_file()),
            list(user.home.glob(".config")),
        )


PYTHON = sys.executable  # before the `ecrd` fixture points sys.executable elsewhere
REPO = Path(__file__).resolve().parents[2]
REGISTRY_HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"


def as_user(user: User, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m ecrd ARGS`` run by ``user`` (setpriv), with exactly ``env``."""
    return subprocess.run(
        [
            *("setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups"),
            *(PYTHON, "-m", "ecrd", *args),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def unit_environment(system: System, user: User) -> dict[str, str]:
    """The environment `ecrd service print --systemd-system USER` says ecrd@USER runs with."""
    printed = CliRunner().invoke(
        cli, ["service", "print", "--systemd-system", user.name], obj=system
    )
    assert 0 == printed.exit_code, printed.output
    drop_in = printed.stdout.partition("ecrd.conf\n")[2]
    pairs = [line[4:].split("=", 1) for line in drop_in.splitlines() if line.startswith("#   ")]
    return dict(pairs)


@pytest.fixture
def state_directory(user: User) -> Iterator[Path]:
    """/var/lib/ecrd/USER, made as systemd's StateDirectory=ecrd/%i makes it (0700, USER's)."""
    parent = Path("/var/lib/ecrd")
    made_parent = not parent.exists()
    directory = parent / user.name
    directory.mkdir(parents=True, mode=0o700)
    os.chown(directory, user.uid, user.gid)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)
        if made_parent:
            parent.rmdir()


@pytest.mark.skipif(
    not hasattr(StateStore, "for_config"),
    reason="needs the per-configuration state (StateStore.for_config) that makes `ecrd status` "
    "look in /var/lib/ecrd/$USER (issue 12, ROUND)",
)
@pytest.mark.xdist_group("var-lib-ecrd")  # tests/test_template_unit.py removes /var/lib/ecrd
@pytest.mark.usefixtures("ecrd")
def test_the_instances_state_is_found_by_its_user(user, system, emulator, state_directory):
    """Issue 12: after a refresh in ecrd@USER's environment, `ecrd status` by USER finds it.

    Status runs with only HOME, USER and PATH, and lists the host the refresh wrote.
    """
    user.config.parent.mkdir(parents=True)
    user.config.write_text(
        f"aws:\n  region: us-west-2\n  endpoint_url: {emulator.url}\n"
        f"outputs:\n  - type: docker\n    path: ~/.docker/config.json\n"
        f"registries:\n  - {REGISTRY_HOST}\n"
    )
    user.give(user.config)
    os.chown(user.config, user.uid, user.gid)
    unit = unit_environment(system, user)
    plain = {"HOME": str(user.home), "USER": user.name, "PATH": "/usr/bin:/bin"}
    aws = {
        "AWS_ACCESS_KEY_ID": "AKIDECRDTEST",
        "AWS_SECRET_ACCESS_KEY": "ecrd-test-secret",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "*",
    }

    refresh = as_user(user, "refresh", env={**plain, "LOGNAME": user.name, **unit, **aws})
    status = as_user(user, "status", "--output", "json", env=plain)

    assert (str(state_directory), str(user.config)) == (
        unit["STATE_DIRECTORY"],
        unit["ECRD_CONFIG"],
    )
    assert 0 == refresh.returncode, refresh.stdout + refresh.stderr
    assert (0, [REGISTRY_HOST]) == (
        status.returncode,
        [host["host"] for host in json.loads(status.stdout)["hosts"]],
    ), status.stdout + status.stderr
