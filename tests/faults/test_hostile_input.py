"""Hostile input: other users' symlinks, outputs that are no regular file, huge files."""

from __future__ import annotations

import os
import socket
import stat
import threading
from typing import TYPE_CHECKING

import pytest

from ecrd.config.model import OutputSpec
from ecrd.errors import FileError, OutputError
from ecrd.files import make_dirs, read_file, replace_file
from ecrd.outputs.docker import DockerOutput
from ecrd.outputs.netrc import NetrcOutput
from ecrd.safe_read import RefusedFileError, read_regular
from ecrd.secret import Credentials, Secret
from tests.fakes import EXPIRES_AT

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own links as another uid")
HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
STRANGER = 12345
LOGIN = Credentials(username="AWS", password=Secret("pw" * 20), expires_at=EXPIRES_AT)


def outputs(path: Path) -> list[Callable[[], object]]:
    return [
        lambda: DockerOutput(OutputSpec(type="docker", path=path)).apply(
            logins={HOST: LOGIN}, remove={}
        ),
        lambda: NetrcOutput(OutputSpec(type="netrc", path=path)).apply(
            logins={HOST: LOGIN}, remove={}
        ),
        lambda: read_file(path),
    ]


def outcome(read: Callable[[], bytes | None]) -> str | None:
    """What ``read`` gave as text, or ``a symlink owned by uid N`` when it refused a link."""
    try:
        data = read()
    except (FileError, RefusedFileError) as exc:
        refused = f"a symlink owned by uid {STRANGER}"
        return refused if refused in str(exc) else str(exc)
    return None if data is None else data.decode()


def within(seconds: float, action: Callable[[], object]) -> BaseException | None:
    """Run ``action`` on a thread; fail (rather than hang) when it takes over ``seconds``."""
    caught: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            caught.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds} s: it hangs")
    return caught[0] if caught else None


@needs_root
class TestHostileLinks:
    def test_link_of_another_user_to_a_root_file_is_refused(self, tmp_path):
        """A link owned by uid 12345 to a root-owned file: refused by name, target untouched."""
        target = tmp_path / "etc-shadow"
        target.write_text("root:x:0:0\n")
        link = tmp_path / "config.json"
        link.symlink_to(target)
        os.lchown(link, STRANGER, STRANGER)

        for action in outputs(link):
            error = within(10, action)
            assert isinstance(error, (OutputError, FileError))
            assert f"{link} is a symlink owned by uid {STRANGER}" in str(error)
        assert ("root:x:0:0\n", 0) == (target.read_text(), target.stat().st_uid)

    def test_dangling_link_of_another_user_creates_nothing(self, tmp_path):
        """A dangling link owned by uid 12345: refused, its target never created."""
        target = tmp_path / "etc" / "sudoers.d" / "jenkins"
        link = tmp_path / ".netrc"
        link.symlink_to(target)
        os.lchown(link, STRANGER, STRANGER)

        for action in outputs(link)[:2]:
            assert isinstance(within(10, action), (OutputError, FileError))
        with pytest.raises(FileError, match="symlink owned by"):
            replace_file(link, b"x", expected=None)
        assert (False, False) == (target.exists(), target.parent.exists())

    def test_any_link_in_the_chain_and_in_a_parent_is_checked(self, tmp_path):
        """A root link to a stranger's link, and a stranger's link as a parent directory."""
        (tmp_path / "real").mkdir()
        real = tmp_path / "real" / "config.json"
        real.write_text("{}")
        middle = tmp_path / "middle"
        middle.symlink_to(real)
        os.lchown(middle, STRANGER, STRANGER)
        first = tmp_path / "first"
        first.symlink_to(middle)
        parent = tmp_path / "docker"
        parent.symlink_to(tmp_path / "real")
        os.lchown(parent, STRANGER, STRANGER)

        with pytest.raises(FileError, match=f"{middle} is a symlink owned by"):
            replace_file(first, b"new", expected=b"{}")
        with pytest.raises(FileError, match=f"{parent} is a symlink owned by"):
            replace_file(parent / "config.json", b"new", expected=b"{}")
        with pytest.raises(FileError, match=f"{parent} is a symlink owned by"):
            make_dirs(parent / "sub")
        assert (b"{}", False) == (real.read_bytes(), (tmp_path / "real" / "sub").exists())

    @pytest.mark.parametrize("owner", [0, STRANGER])
    def test_the_file_layer_and_the_consumers_follow_the_same_links(self, tmp_path, owner):
        """The file layer and the consumers' reader refuse, or follow, the same link."""
        target = tmp_path / "tokens.json"
        target.write_text("{}")
        link = tmp_path / "link.json"
        link.symlink_to(target)
        os.lchown(link, owner, owner)

        outcomes = [outcome(lambda: read_file(link)), outcome(lambda: read_regular(str(link)))]

        expected = "{}" if owner == 0 else f"a symlink owned by uid {STRANGER}"
        assert [expected, expected] == outcomes

    def test_link_owned_by_root_is_followed_and_kept(self, tmp_path):
        """A root-owned link is followed: the target is replaced, the link stays."""
        target = tmp_path / "real.json"
        target.write_text("{}")
        link = tmp_path / "config.json"
        link.symlink_to(target)

        DockerOutput(OutputSpec(type="docker", path=link)).apply(logins={HOST: LOGIN}, remove={})

        assert (True, True) == (link.is_symlink(), HOST in target.read_text())


class TestNotARegularFile:
    def check_refused(self, path: Path, words: str) -> None:
        for action in outputs(path):
            error = within(10, action)
            assert isinstance(error, (OutputError, FileError)), error
            assert f"{path}: it is {words}" in str(error)

    def test_fifo_is_refused_at_once(self, tmp_path):
        """A FIFO (nobody writing to it) is refused without opening it for a blocking read."""
        path = tmp_path / "config.json"
        os.mkfifo(path)
        self.check_refused(path, "a named pipe (FIFO)")

    def test_directory_is_refused(self, tmp_path):
        """A directory at the output path is refused and left as it is."""
        path = tmp_path / "config.json"
        path.mkdir()
        (path / "keep").write_text("x")
        self.check_refused(path, "a directory")
        assert ["keep"] == [p.name for p in path.iterdir()]

    @needs_root
    def test_character_device_is_refused(self, tmp_path):
        """A /dev/zero-like character device is refused, never read (memory would run out)."""
        path = tmp_path / "config.json"
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero
        self.check_refused(path, "a character device")

    def test_socket_is_refused(self, tmp_path):
        """A unix socket at the output path is refused."""
        path = tmp_path / "s.sock"
        server = socket.socket(socket.AF_UNIX)
        try:
            server.bind(str(path))
            self.check_refused(path, "a socket")
        finally:
            server.close()

    def test_file_over_16_mib_is_refused_unread(self, tmp_path):
        """A 17 MiB file is refused from its size; it stays as it was."""
        path = tmp_path / "config.json"
        with path.open("wb") as file:
            file.truncate(17 * 1024 * 1024)
        for action in outputs(path):
            error = within(10, action)
            assert isinstance(error, (OutputError, FileError))
            assert f"{path}: it is larger than 16 MiB" in str(error)
        assert 17 * 1024 * 1024 == path.stat().st_size
