"""systemd's notify protocol: READY=1, STATUS=..., RELOADING=1, WATCHDOG=1.

Written here because the protocol is one datagram to ``$NOTIFY_SOCKET`` and the libraries
for it are either unmaintained (sdnotify) or need a C build against libsystemd
(systemd-python), which laptops and slim images do not have.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping


class Notifier:
    """Sends state changes to systemd; does nothing when not started by systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # A leading '@' names a socket in the abstract namespace.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._watchdog = _watchdog_interval(env)

    @property
    def watchdog_interval(self) -> timedelta | None:
        """How often to send WATCHDOG=1 (half of ``WATCHDOG_USEC``), or None."""
        return self._watchdog

    def ready(self, status: str) -> None:
        """The service is up (after its first round of refreshes)."""
        self._send(f"READY=1\nSTATUS={status}")

    def reloading(self) -> None:
        """A configuration reload starts; ``ready`` ends it."""
        monotonic_usec = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1_000_000)
        self._send(f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec}")

    def status(self, status: str) -> None:
        """A one-line summary for `systemctl status`."""
        self._send(f"STATUS={status}")

    def stopping(self) -> None:
        """The service is shutting down."""
        self._send("STOPPING=1")

    def watchdog(self) -> None:
        """Still alive."""
        self._send("WATCHDOG=1")

    def _send(self, message: str) -> None:
        if not self._address:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            try:
                sock.connect(self._address)
                sock.sendall(message.encode())
            except OSError:
                # systemd gone or the socket not ours: nothing useful to do about it.
                return


def _watchdog_interval(env: Mapping[str, str]) -> timedelta | None:
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return timedelta(microseconds=int(usec) / 2)
