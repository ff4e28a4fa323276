"""Notifier: systemd's notify protocol over a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from ecrd.daemon.notify import Notifier

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def abstract_socket() -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket in the abstract namespace, named as systemd would: ``@name``."""
    name = f"ecrd-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    yield "@" + name, sock
    sock.close()


class TestNotifier:
    def test_every_message_reaches_an_abstract_socket(self, abstract_socket):
        """READY, STATUS, RELOADING (with MONOTONIC_USEC), STOPPING, WATCHDOG, in order."""
        address, sock = abstract_socket
        notifier = Notifier({"NOTIFY_SOCKET": address})

        notifier.ready("2 hosts in 1 groups")
        notifier.status("1 failing")
        notifier.reloading()
        notifier.stopping()
        notifier.watchdog()
        received = [sock.recv(4096).decode() for _ in range(5)]

        assert "READY=1\nSTATUS=2 hosts in 1 groups" == received[0]
        assert "STATUS=1 failing" == received[1]
        assert received[2].startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert received[2].split("=")[-1].isdigit()
        assert ["STOPPING=1", "WATCHDOG=1"] == received[3:]

    def test_without_notify_socket_nothing_is_sent_and_nothing_fails(self, monkeypatch):
        """Not under systemd: every call is a no-op that opens no socket."""
        opened: list[object] = []
        monkeypatch.setattr(socket, "socket", lambda *a: opened.append(a))
        notifier = Notifier({})

        notifier.ready("x")
        notifier.watchdog()

        assert [] == opened
        assert None is notifier.watchdog_interval

    def test_a_socket_that_is_gone_is_ignored(self, tmp_path):
        """Systemd gone (no such socket): the daemon carries on."""
        notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})

        notifier.ready("x")
        notifier.status("y")

        assert not (tmp_path / "gone").exists()

    @pytest.mark.parametrize(
        ("environ", "expected"),
        [
            ({"WATCHDOG_USEC": "400000"}, timedelta(seconds=0.2)),
            ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": str(os.getpid())}, timedelta(seconds=0.2)),
            ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"}, None),
            ({"WATCHDOG_USEC": "0"}, None),
            ({"WATCHDOG_USEC": "soon"}, None),
            ({}, None),
        ],
    )
    def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process(self, environ, expected):
        """Half of WATCHDOG_USEC, unless WATCHDOG_PID names another process or it is unset."""
        notifier = Notifier({"NOTIFY_SOCKET": "@x", **environ})

        assert expected == notifier.watchdog_interval
