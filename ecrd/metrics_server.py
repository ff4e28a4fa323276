"""``/metrics`` over HTTP with bounded connections: a few at a time, each for a short time.

prometheus_client's ``start_http_server`` is a ``ThreadingHTTPServer``: one thread and one
file descriptor per connection, for as long as the client keeps it open. Any local user
holding a thousand idle connections then takes every descriptor of the daemon, and each
refresh fails on ``Too many open files`` until they close. Here one thread serves every
connection from a ``selectors`` loop: at most ``MAX_CONNECTIONS`` are open (a new one closes
the oldest), each is closed ``CONNECTION_SECONDS`` after it was accepted, answered or not,
and a request larger than ``MAX_REQUEST_BYTES`` is refused. A scrape asks once and reads
one answer, so none of this limits Prometheus.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ecrd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable

log = get_logger("ecrd")

MAX_CONNECTIONS = 16
CONNECTION_SECONDS = 10.0
MAX_REQUEST_BYTES = 8192
# After the process ran out of descriptors, accepting waits this long (the loop would spin).
_ACCEPT_PAUSE = 1.0
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class _Connection:
    sock: socket.socket
    deadline: float
    received: bytearray = field(default_factory=bytearray)
    answer: memoryview | None = None


class MetricsServer:
    """Serves ``render()`` at ``/metrics`` (and ``/``) from one thread; ``stop()`` ends it."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        render: Callable[[], bytes],
        max_connections: int = MAX_CONNECTIONS,
        connection_seconds: float = CONNECTION_SECONDS,
    ) -> None:
        """Listen on ``host:port`` at once (the serving starts with ``start``).

        Raises:
            OSError: the address cannot be listened on.
        """
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family, backlog=64)
        self._listener.setblocking(False)  # noqa: FBT003 - the socket module's own signature
        self._render = render
        self._max = max_connections
        self._seconds = connection_seconds
        self._connections: dict[socket.socket, _Connection] = {}  # oldest first
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)  # noqa: FBT003
        self._stopping = False
        self._paused_until: float | None = None
        self._thread = threading.Thread(target=self._serve, name="ecrd-metrics", daemon=True)

    @property
    def open_connections(self) -> int:
        """How many connections are open now."""
        return len(self._connections)

    def start(self) -> None:
        """Serve from a thread of its own."""
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close every connection and the listener, release the port."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\0")
        if self._thread.is_alive():
            self._thread.join()
        for connection in list(self._connections.values()):
            self._close(connection)
        self._selector.close()
        for sock in (self._listener, self._wake_read, self._wake_write):
            sock.close()

    # -- the loop ------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stopping:
            now = time.monotonic()
            self._expire(now)
            for key, events in self._selector.select(self._timeout(now)):
                if key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj is self._wake_read:
                    with contextlib.suppress(OSError):
                        self._wake_read.recv(64)
                else:
                    connection = self._connections.get(key.fileobj)  # type: ignore[call-overload]
                    if connection is None:
                        continue
                    if events & selectors.EVENT_READ:
                        self._receive(connection)
                    elif events & selectors.EVENT_WRITE:
                        self._send(connection)

    def _timeout(self, now: float) -> float | None:
        deadlines = [c.deadline for c in self._connections.values()]
        if self._paused_until is not None:
            deadlines.append(self._paused_until)
        return max(min(deadlines) - now, 0.0) if deadlines else None

    def _expire(self, now: float) -> None:
        for connection in [c for c in self._connections.values() if c.deadline <= now]:
            self._close(connection)
        if self._paused_until is not None and self._paused_until <= now:
            self._paused_until = None
            self._selector.register(self._listener, selectors.EVENT_READ)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                log.warning("metrics_connection_refused", error=exc.strerror)
                self._selector.unregister(self._listener)
                self._paused_until = time.monotonic() + _ACCEPT_PAUSE
                return
            if len(self._connections) >= self._max:
                # The oldest goes: idle connections held on purpose cannot lock a scrape out.
                self._close(next(iter(self._connections.values())))
            sock.setblocking(False)  # noqa: FBT003
            connection = _Connection(sock=sock, deadline=time.monotonic() + self._seconds)
            self._connections[sock] = connection
            self._selector.register(sock, selectors.EVENT_READ)

    def _receive(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(connection)
            return
        connection.received += data
        end = connection.received.find(b"\r\n\r\n")
        if end < 0 and len(connection.received) <= MAX_REQUEST_BYTES:
            return
        answer = self._answer(bytes(connection.received[:end]) if end >= 0 else None)
        connection.answer = memoryview(answer)
        self._selector.modify(connection.sock, selectors.EVENT_WRITE)
        self._send(connection)

    def _answer(self, head: bytes | None) -> bytes:
        if head is None:
            return _response(431, b"request too large\n", head_only=False)
        method, _, rest = head.partition(b"\r\n")[0].partition(b" ")
        target = rest.partition(b" ")[0].partition(b"?")[0]
        if method not in (b"GET", b"HEAD"):
            return _response(405, b"only GET and HEAD\n", head_only=False)
        if target not in (b"/metrics", b"/"):
            return _response(404, b"not found: ecrd serves /metrics\n", head_only=False)
        return _response(200, self._render(), head_only=method == b"HEAD")

    def _send(self, connection: _Connection) -> None:
        answer = connection.answer
        if answer is None:
            return
        try:
            sent = connection.sock.send(answer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(connection)
            return
        connection.answer = answer[sent:]
        if not connection.answer:
            self._close(connection)

    def _close(self, connection: _Connection) -> None:
        self._connections.pop(connection.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection.sock)
        connection.sock.close()


def _response(status: int, body: bytes, *, head_only: bool) -> bytes:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(
        status, "Request Header Fields Too Large"
    )
    content_type = _CONTENT_TYPE if status == 200 else "text/plain; charset=utf-8"  # noqa: PLR2004
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head if head_only else head + body
