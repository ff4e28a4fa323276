"""The daemon lock (``daemon.lock``): held by the one `ecrd run` serving a state directory.

Which daemon serves a configuration is the control socket's answer (``ecrd.daemon.serving``).
This lock, taken before the socket is bound (``ecrd.daemon.control.serve_configuration``),
still has two jobs, both where the socket cannot answer alone:

- where the socket is a file in the state directory (macOS, no abstract namespace), the
  lock makes a socket file found there a dead daemon's, safe to replace, and its pid tells
  `ecrd status` who serves (the system does not name a unix socket's peer there);
- on Linux, when another user's process has taken the socket's name, the daemon runs on
  without a socket: the lock alone keeps a second daemon off the state directory, and
  tells `ecrd status` its pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import TYPE_CHECKING

from ecrd.errors import AlreadyRunningError
from ecrd.logs import get_logger
from ecrd.state._disk import ensure_directory
from ecrd.state.state_file import open_lock

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

DAEMON_LOCK_FILE = "daemon.lock"

log = get_logger("ecrd")

# Daemon locks this process holds, by directory: holding one twice is a no-op, not a
# deadlock (flock conflicts between two descriptors of one process).
_HELD: set[str] = set()
# The daemon lock holds its pid padded to this many bytes (see ``_write_pid``).
_PID_WIDTH = 16


class DaemonLock:
    """``daemon.lock`` in ``directory``; ``config`` names the configuration in messages."""

    def __init__(self, directory: Path, *, config: Path | None = None) -> None:
        self.directory = directory
        self.path = directory / DAEMON_LOCK_FILE
        self.config = config

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock, with this process's pid in it.

        Raises:
            AlreadyRunningError: another `ecrd run` serves this configuration.
            StateError: the lock file could not be opened.
        """
        key = os.path.realpath(self.directory)
        if key in _HELD:
            yield
            return
        ensure_directory(self.directory)
        fd = open_lock(self.path)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fd)
                configuration = self.config or self.directory
                msg = (
                    f"already running (pid {pid if pid is not None else 'unknown'}) "
                    f"for {configuration}; stop that one first, or use another configuration"
                )
                raise AlreadyRunningError(msg) from None
            _write_pid(fd, self.path, os.getpid())
            _HELD.add(key)
            try:
                yield
            finally:
                _HELD.discard(key)
                with contextlib.suppress(OSError):  # blanks over bytes it holds: no space needed
                    os.pwrite(fd, b" " * _PID_WIDTH, 0)
        finally:
            os.close(fd)

    def holder(self) -> int | None:
        """The pid of the `ecrd run` holding the lock, else ``None``."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_pid(fd)
            return None  # nobody holds it: the pid in it, if any, is a stopped daemon's
        finally:
            os.close(fd)


def _write_pid(fd: int, path: Path, pid: int) -> None:
    """Write ``pid`` over the daemon lock's first bytes, padded to a fixed width.

    The width never changes and a stop writes blanks over the pid instead of truncating the
    file, so a restart overwrites bytes the file already holds: that needs no free space, and
    a daemon restarted while the state file system is full still says which pid it is. A lock
    file that never held a pid needs a block; when the file system cannot give one, the
    daemon serves all the same (the lock is held; only the pid is unknown to ``status``).
    """
    try:
        os.pwrite(fd, f"{pid}\n".encode().ljust(_PID_WIDTH), 0)
        os.ftruncate(fd, _PID_WIDTH)  # an older, longer content: only ever shrinks
    except OSError as exc:
        log.error(
            "state_failed",
            path=str(path),
            error=f"cannot write the daemon's pid into {path}: {exc.strerror}",
            effect="the daemon runs; `ecrd status` cannot tell its pid until it restarts",
        )


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (ValueError, OSError):
        return None
