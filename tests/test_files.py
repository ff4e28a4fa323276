"""replace_file, read_file and update_file: atomic, mode- and owner-keeping, no leftovers."""

from __future__ import annotations

import errno
import os
import pathlib
import stat
import subprocess
from typing import TYPE_CHECKING

import pytest

from ecrd import files as _atomic
from ecrd.config.model import OutputSpec
from ecrd.errors import FileError, OutputError
from ecrd.files import read_file, replace_file, swap, update_file
from ecrd.files.messages import owner_and_mode
from ecrd.outputs.netrc import NetrcOutput

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(directory: Path) -> list[str]:
    """Temporary files ecrd may have left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".ecrd-"))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty directory of the test's own (tmp_path also holds the test's HOME)."""
    directory = tmp_path / "out"
    directory.mkdir()
    return directory


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under each usual umask."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


class TestReplaceFile:
    @pytest.mark.usefixtures("umask")
    def test_new_file_has_the_bytes_and_mode_0600(self, out):
        """A new file holds exactly the data, mode 0600 whatever the umask."""
        path = out / "config.json"

        done = replace_file(path, b"{}\n", expected=None)

        assert (True, b"{}\n", 0o600) == (done, path.read_bytes(), mode_of(path))

    @pytest.mark.usefixtures("umask")
    def test_missing_parents_are_created_0700(self, out):
        """Missing parent directories are made 0700 whatever the umask; existing ones are kept."""
        out.chmod(0o755)
        path = out / "home" / ".docker" / "config.json"

        replace_file(path, b"x", expected=None)

        assert (0o755, 0o700, 0o700, 0o600) == (
            mode_of(out),
            mode_of(out / "home"),
            mode_of(out / "home" / ".docker"),
            mode_of(path),
        )

    @pytest.mark.usefixtures("umask")
    def test_mode_argument_applies_to_new_files(self, out):
        """A new file gets the requested mode, exactly."""
        path = out / "state.json"

        replace_file(path, b"x", expected=None, mode=0o640)

        assert 0o640 == mode_of(path)

    @pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o400])
    def test_existing_mode_is_kept(self, out, mode):
        """Replacing a file keeps its mode, even one wider than 0600."""
        path = out / "config.json"
        path.write_bytes(b"old")
        path.chmod(mode)

        replace_file(path, b"new", expected=b"old")

        assert (b"new", mode) == (path.read_bytes(), mode_of(path))

    @needs_root
    def test_existing_owner_is_kept_by_root(self, out):
        """Run as root, ecrd gives the new file the old one's owner and group."""
        path = out / "config.json"
        path.write_bytes(b"old")
        os.chown(path, 12345, 23456)

        replace_file(path, b"new", expected=b"old")

        info = path.stat()
        assert (12345, 23456, b"new") == (info.st_uid, info.st_gid, path.read_bytes())

    def test_file_is_a_new_inode(self, out):
        """The file is replaced by rename, not rewritten in place (readers see old or new)."""
        path = out / "config.json"
        path.write_bytes(b"old")
        before = path.stat().st_ino
        reader = path.open("rb")

        replace_file(path, b"new", expected=b"old")

        with reader:
            assert (b"old", b"new") == (reader.read(), path.read_bytes())
        assert before != path.stat().st_ino

    def test_absolute_symlink_is_kept_and_target_replaced(self, out):
        """A symlinked file is replaced at its target; the link stays a link."""
        target = out / "real" / "config.json"
        target.parent.mkdir()
        target.write_bytes(b"old")
        link = out / "config.json"
        link.symlink_to(target)

        replace_file(link, b"new", expected=b"old")

        assert (True, str(target), b"new") == (
            link.is_symlink(),
            str(link.readlink()),
            target.read_bytes(),
        )

    def test_relative_and_chained_symlinks_are_followed(self, out):
        """Links to links, relative ones included, lead to the one real file, all kept."""
        (out / "dotfiles").mkdir()
        real = out / "dotfiles" / "netrc"
        real.write_bytes(b"old")
        middle = out / "dotfiles" / "current"
        middle.symlink_to("netrc")
        link = out / ".netrc"
        link.symlink_to("dotfiles/current")

        replace_file(link, b"new", expected=b"old")

        assert ("dotfiles/current", "netrc", b"new", [".netrc", "dotfiles"]) == (
            str(link.readlink()),
            str(middle.readlink()),
            real.read_bytes(),
            sorted(p.name for p in out.iterdir()),
        )

    def test_dangling_symlink_is_written_at_its_target(self, out):
        """A link to a file that does not exist yet creates that file (and its parents)."""
        link = out / "config.json"
        link.symlink_to("elsewhere/config.json")

        replace_file(link, b"new", expected=None)

        target = out / "elsewhere" / "config.json"
        assert (True, b"new", 0o600, 0o700) == (
            link.is_symlink(),
            target.read_bytes(),
            mode_of(target),
            mode_of(target.parent),
        )

    def test_symlink_loop_is_an_error(self, out):
        """Links that point at each other are reported, and nothing is written."""
        (out / "a").symlink_to("b")
        (out / "b").symlink_to("a")

        with pytest.raises(FileError, match="loop"):
            replace_file(out / "a", b"new", expected=None)

        assert [] == leftovers(out)

    def test_changed_file_is_not_replaced(self, out):
        """When the file no longer holds what the caller read, nothing is replaced."""
        path = out / "config.json"
        path.write_bytes(b"theirs")

        done = replace_file(path, b"ours", expected=b"what we read")

        assert (False, b"theirs", []) == (done, path.read_bytes(), leftovers(out))

    def test_file_created_meanwhile_is_not_replaced(self, out):
        """``expected=None`` means the file must still be missing."""
        path = out / "config.json"
        path.write_bytes(b"theirs")

        done = replace_file(path, b"ours", expected=None)

        assert (False, b"theirs") == (done, path.read_bytes())

    def test_no_temporary_file_after_success(self, out):
        """Only the file itself is left in the directory."""
        path = out / "config.json"

        replace_file(path, b"one", expected=None)
        replace_file(path, b"two", expected=b"one")

        assert ["config.json"] == sorted(p.name for p in out.iterdir())

    @pytest.mark.parametrize(
        ("function", "code", "words"),
        [
            ("swap", errno.EXDEV, "cross-device"),
            ("fsync", errno.EIO, "input/output error"),
            ("write", errno.ENOSPC, "no space left on device"),
            ("write", errno.EDQUOT, "disk quota exceeded"),
            ("fsync", errno.EROFS, "read-only file system"),
        ],
    )
    def test_failure_leaves_old_file_and_no_temporary(
        self, out, monkeypatch, function, code, words
    ):
        """A failing write, fsync or rename reports the path and cause; the old file stays."""
        path = out / "config.json"
        path.write_bytes(b"old")

        def fail(*_args, **_kwargs):
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(swap if function == "swap" else os, function, fail)

        with pytest.raises(FileError) as caught:
            replace_file(path, b"new", expected=b"old")

        monkeypatch.undo()
        assert (True, True, b"old", []) == (
            str(path) in str(caught.value),
            words in str(caught.value),
            path.read_bytes(),
            leftovers(out),
        )

    def test_interrupt_mid_write_leaves_no_temporary(self, out, monkeypatch):
        """Ctrl-C (any BaseException) in the middle of a write still removes the temporary file."""
        path = out / "config.json"
        path.write_bytes(b"old")
        real_write = os.write
        calls = []

        def interrupted(fd, data):
            calls.append(fd)
            real_write(fd, bytes(data)[:10])
            raise KeyboardInterrupt

        monkeypatch.setattr(os, "write", interrupted)

        with pytest.raises(KeyboardInterrupt):
            replace_file(path, b"new" * 1000, expected=b"old")

        monkeypatch.undo()
        assert (1, b"old", []) == (len(calls), path.read_bytes(), leftovers(out))

    def test_short_writes_are_completed(self, out, monkeypatch):
        """os.write may write less than asked; the rest is written too."""
        path = out / "config.json"
        real_write = os.write
        monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data)[:7]))

        replace_file(path, b"0123456789" * 10, expected=None)

        assert b"0123456789" * 10 == path.read_bytes()

    def test_permission_error_names_owner_and_mode(self, out, monkeypatch):
        """A refused write says whose the directory is and what to do."""
        path = out / "config.json"
        out.chmod(0o755)

        def refuse(*_args, **_kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(_atomic, "create_temp", refuse)
        # The refusal of an ordinary user (root is refused only by the file system itself).
        monkeypatch.setattr("ecrd.files.messages.os.geteuid", lambda: 1000)

        with pytest.raises(FileError) as caught:
            replace_file(path, b"new", expected=None)

        owner = owner_and_mode(out)
        assert (
            f"cannot write {path}: permission denied ({out}: {owner}); run ecrd as that user"
        ) in str(caught.value)
        assert "mode 0755" in owner

    def test_parent_that_is_a_file_is_reported(self, out):
        """A file where a parent directory should be is an error naming the path."""
        (out / "home").write_bytes(b"")
        path = out / "home" / ".docker" / "config.json"

        with pytest.raises(FileError, match="not a directory"):
            replace_file(path, b"new", expected=None)

    def test_real_full_file_system(self, out):
        """On a full tmpfs the write fails with ENOSPC and the old file stays whole."""
        small = out / "small"
        small.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
            capture_output=True,
            check=False,
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode()}")
        try:
            path = small / "config.json"
            path.write_bytes(b"old")

            with pytest.raises(FileError, match="no space left on device"):
                replace_file(path, b"x" * 200_000, expected=b"old")

            assert (b"old", []) == (path.read_bytes(), leftovers(small))
        finally:
            subprocess.run(["umount", str(small)], check=True)


class TestReadFile:
    def test_missing_file_is_none(self, out):
        """A file that does not exist reads as None."""
        assert None is read_file(out / "nope")

    def test_bytes_through_a_symlink(self, out):
        """The bytes of the file, through symlinks."""
        (out / "real").write_bytes(b"\x00bytes")
        (out / "link").symlink_to("real")

        assert b"\x00bytes" == read_file(out / "link")

    def test_dangling_symlink_is_missing(self, out):
        """A link to nothing reads as a missing file."""
        (out / "link").symlink_to("nothing")

        assert None is read_file(out / "link")

    def test_directory_is_an_error(self, out):
        """A directory where the file should be is an FileError naming the path."""
        with pytest.raises(FileError) as caught:
            read_file(out)

        assert f"cannot read {out}: it is a directory" in str(caught.value)


class TestUpdateFile:
    def test_unchanged_render_writes_nothing(self, out, monkeypatch):
        """When render returns the same bytes or None, the file is not replaced."""
        path = out / "f"
        path.write_bytes(b"same")
        calls = []

        def counting(*args, **_kwargs):
            calls.append(args)
            return True

        monkeypatch.setattr(_atomic, "replace_file", counting)

        results = (
            update_file(path, render=lambda old: old),
            update_file(path, render=lambda _old: None),
        )

        assert ((False, False), []) == (results, calls)

    def test_concurrent_change_is_rendered_again(self, out, monkeypatch):
        """A file changed between read and rename is read and rendered again."""
        path = out / "f"
        path.write_bytes(b"a")
        real = _atomic.replace_file
        seen: list[bytes | None] = []

        def racing(target, data, **kwargs):
            if len(seen) == 1:
                path.write_bytes(b"a+theirs")
            return real(target, data, **kwargs)

        def render(old):
            seen.append(old)
            return old + b"+ours"

        monkeypatch.setattr(_atomic, "replace_file", racing)

        done = update_file(path, render=render)

        assert (True, [b"a", b"a+theirs"], b"a+theirs+ours") == (done, seen, path.read_bytes())

    def test_file_that_keeps_changing_is_an_error(self, out, monkeypatch):
        """After ten lost races ecrd gives up with an error naming the path."""
        path = out / "f"
        path.write_bytes(b"a")
        monkeypatch.setattr(_atomic, "replace_file", lambda *_a, **_k: False)

        with pytest.raises(FileError, match=f"{path} kept changing"):
            update_file(path, render=lambda _old: b"new")

        assert b"a" == path.read_bytes()


class TestAdvice:
    def test_root_refused_by_the_file_system_is_not_told_to_run_as_another_user(self):
        """As root, a refusal comes from the file system (/sys): no 'run ecrd as that user'."""
        if os.geteuid() != 0:
            pytest.skip("needs root: only root's refusals come from the file system alone")
        target = pathlib.Path("/sys/kernel/ecrd-test-output")

        with pytest.raises(FileError) as caught:
            _atomic.replace_file(target, b"x", expected=None)

        message = str(caught.value)
        assert "run ecrd as that user" not in message
        assert str(target) in message
        assert not target.exists()


class TestFileError:
    """The file layer's own error: a record of the path asked for and what went wrong."""

    def test_an_os_error_carries_the_path_and_the_errno_name(self, out):
        """A parent that is a file: FileError naming the directory to create, code ENOTDIR."""
        (out / "home").write_bytes(b"")
        path = out / "home" / ".docker" / "config.json"

        with pytest.raises(FileError) as caught:
            replace_file(path, b"new", expected=None)

        assert (path.parent, "ENOTDIR") == (caught.value.path, caught.value.code)
        assert str(path.parent) in str(caught.value)

    def test_a_refusal_carries_ecrds_own_code(self, out):
        """A directory to read and a link loop are named by ecrd's codes, not an errno."""
        (out / "dir").mkdir()
        (out / "a").symlink_to("b")
        (out / "b").symlink_to("a")

        with pytest.raises(FileError) as directory:
            read_file(out / "dir")
        with pytest.raises(FileError) as loop:
            update_file(out / "a", render=lambda _before: b"new")

        assert [(out / "dir", "not_regular"), (out / "a", "link_loop")] == [
            (directory.value.path, directory.value.code),
            (loop.value.path, loop.value.code),
        ]

    def test_an_output_translates_it_once_into_an_output_error(self, out):
        """An output's writer reports a file-layer failure as OutputError, the cause kept."""
        path = out / "config.json"
        path.mkdir()

        with pytest.raises(OutputError) as caught:
            NetrcOutput(OutputSpec(type="netrc", path=path)).apply(logins={}, remove={"h": "f"})

        cause = caught.value.__cause__
        assert isinstance(cause, FileError)
        assert (str(cause), "not_regular") == (str(caught.value), cause.code)
