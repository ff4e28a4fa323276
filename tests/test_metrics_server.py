"""/metrics with bounded connections: a few at a time, each for a short time, one thread.

These serve a fixed body; ``tests/daemon/test_metrics_limits.py`` holds a thousand idle
connections to a real ``ecrd run``.
"""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest

from ecrd.metrics_server import MetricsServer

if TYPE_CHECKING:
    from collections.abc import Iterator

BODY = b"ecrd_config_valid 1.0\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str = "/metrics") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


@pytest.fixture
def served() -> Iterator[tuple[MetricsServer, int]]:
    """A server of BODY allowing 4 connections of at most 0.3 s each."""
    port = free_port()
    server = MetricsServer(
        host="127.0.0.1",
        port=port,
        render=lambda: BODY,
        max_connections=4,
        connection_seconds=0.3,
    )
    server.start()
    try:
        yield server, port
    finally:
        server.stop()


def idle(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that send nothing."""
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]


def closed_by_peer(sock: socket.socket) -> bool:
    """Block until the server closes ``sock`` (True), or 10 s pass (False)."""
    sock.settimeout(10)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


class TestMetricsServer:
    def test_metrics_answers_and_other_paths_and_methods_are_refused(self, served):
        """GET /metrics: 200 and the body; another path 404; POST 405."""
        _, port = served
        request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", method="POST")

        with pytest.raises(urllib.error.HTTPError) as posted:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 - http on loopback
        posted.value.close()

        assert (200, BODY) == get(port)
        assert 404 == get(port, "/other")[0]
        assert 405 == posted.value.code

    def test_a_scrape_is_answered_while_more_idle_connections_are_held_than_allowed(self, served):
        """Forty idle connections, four allowed: the oldest are closed, the scrape answered."""
        server, port = served
        held = idle(port, 40)
        try:
            answer = get(port)
            first_closed = closed_by_peer(held[0])
            open_now = server.open_connections
        finally:
            for sock in held:
                sock.close()

        assert (200, BODY) == answer
        assert first_closed
        assert open_now <= 4

    def test_an_idle_connection_is_closed_after_its_time(self, served):
        """A connection that never sends a request is closed by the server."""
        _, port = served
        (sock,) = idle(port, 1)
        with sock:
            closed = closed_by_peer(sock)

        assert closed

    def test_an_oversized_request_is_refused(self, served):
        """A request head past the limit gets 431 and the connection closed."""
        _, port = served
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20_000)
            answer = sock.recv(100)

        assert answer.startswith(b"HTTP/1.1 431 ")

    def test_stop_releases_the_port_and_the_thread(self):
        """After stop, no thread of the server remains and the port can be bound again."""
        port = free_port()
        server = MetricsServer(host="127.0.0.1", port=port, render=lambda: BODY)
        server.start()
        held = idle(port, 3)

        server.stop()
        names = [t.name for t in threading.enumerate()]
        again = MetricsServer(host="127.0.0.1", port=port, render=lambda: BODY)
        again.start()
        answer = get(port)
        again.stop()
        for sock in held:
            sock.close()

        assert "ecrd-metrics" not in names
        assert (200, BODY) == answer
