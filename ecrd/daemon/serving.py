"""Which `ecrd run` serves a configuration: the one that holds its control socket.

Every command that asks "is a daemon serving this configuration?" asks here: `ecrd status`
(its ``daemon:`` line and JSON key), `ecrd refresh` (which hands the refresh to that
daemon) and `ecrd demo`'s banner. The answer is the process listening on the
configuration's control socket (``ecrd.daemon.control``): binding that socket is what makes
a process the configuration's daemon, whatever ``STATE_DIRECTORY`` each side was given.

Where the socket lives:

- Linux: in the abstract namespace, ``@ecrd/UID/SHA256(realpath(CONFIG))``. It exists only
  while the process lives (a crash leaves nothing to clean up), and depends on no
  directory or environment variable. Anyone may connect to an abstract socket, so the
  other end's uid is checked (``SO_PEERCRED``): only a daemon of this user (or root) is
  this configuration's daemon, and the kernel names its pid.
- Elsewhere (macOS): ``control.sock`` in the configuration's state directory. There the
  system does not name the other end, and the state directory's daemon lock, taken before
  the socket is bound, says which pid holds it.

A daemon whose socket name was taken by another user's process runs without a socket, on
its state directory's lock alone (``ecrd.state.daemon_lock``): `ecrd status` still finds it
there.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from ecrd.state import StateStore

SOCKET_FILE = "control.sock"
# A client has this long to connect, send its request, and take the answer once ready.
IO_SECONDS = 2.0
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Peer:
    """The process at the other end of a unix socket (``SO_PEERCRED``)."""

    pid: int
    uid: int


def address(*, config_path: Path, state_dir: Path, abstract: bool | None = None) -> str:
    """The control socket's address for ``config_path`` (see the module's docstring).

    ``abstract`` defaults to whether the system has an abstract namespace (Linux).
    """
    if abstract is None:
        abstract = sys.platform.startswith("linux")
    if not abstract:
        return str(state_dir / SOCKET_FILE)
    real = os.path.realpath(config_path)
    digest = hashlib.sha256(real.encode(errors="surrogateescape")).hexdigest()
    return f"\0ecrd/{os.geteuid()}/{digest}"


def peer_of(connection: socket.socket) -> Peer | None:
    """The pid and uid of the other end; None where the system does not say (not Linux)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    pid, uid, _gid = _PEERCRED.unpack(
        connection.getsockopt(socket.SOL_SOCKET, option, _PEERCRED.size)
    )
    return Peer(pid=pid, uid=uid)


def trusted(peer: Peer | None) -> bool:
    """The same user, or root. Without SO_PEERCRED the socket file's 0700 directory decides."""
    return peer is None or peer.uid in (os.geteuid(), 0)


def connect(
    *, config_path: Path, state_dir: Path, abstract: bool | None = None
) -> tuple[socket.socket, Peer | None] | None:
    """A connection to the daemon serving ``config_path``, and who it is (see ``peer_of``).

    ``None`` when no daemon of this user serves it. The socket is the caller's to close.
    """
    where = address(config_path=config_path, state_dir=state_dir, abstract=abstract)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(IO_SECONDS)
        sock.connect(where)
        peer = peer_of(sock)
    except OSError:  # nobody there (a dead daemon's socket file included)
        sock.close()
        return None
    if not trusted(peer):
        sock.close()
        return None
    return sock, peer


def serving_pid(
    *, config_path: Path, store: StateStore, abstract: bool | None = None
) -> int | None:
    """The pid of the `ecrd run` serving ``config_path`` (``store`` is its state), or None.

    The pid the kernel gives for the control socket's listener; where it gives none, or no
    socket answers, the holder of ``store``'s daemon lock (see the module's docstring).
    """
    connected = connect(config_path=config_path, state_dir=store.directory, abstract=abstract)
    if connected is not None:
        sock, peer = connected
        sock.close()
        if peer is not None:
            return peer.pid
    return store.daemon_lock.holder()
