"""A local Amazon ECR endpoint on loopback, for tests, CI and demos.

It speaks the real protocols (AWS JSON 1.1 for ECR and ECR Public, the query protocol for
STS) over plain HTTP, so boto3 runs for real against it: endpoint resolution, SigV4 signing,
retries and response parsing. Signatures are not checked. Every answered request is
recorded as a `Call`; a `Fault` makes the next matching calls fail on purpose.
"""

from __future__ import annotations

import json
import logging
import selectors
import signal
import socket
import socketserver
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Final

from ecrd.emulator import protocol as proto
from ecrd.emulator._backend import DEFAULT_ACCOUNT, Backend, Call, Fault, FaultKind, utc_now
from ecrd.errors import EcrdError

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from types import FrameType, TracebackType

__all__ = ["DEFAULT_ACCOUNT", "Call", "Emulator", "Fault", "FaultKind", "serve"]

# stdlib logging, silent unless configured: tests and benchmarks embed the emulator.
log = logging.getLogger("ecrd.emulator")
_CONTROL: Final = "/_emulator/"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.backend = backend
        self._wake_up, self._wake_up_writer = socket.socketpair()
        super().__init__(address, _Handler)

    def serve_until_interrupted(self) -> None:
        """Accept connections until `interrupt`: unlike serve_forever, stops at once."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_up, selectors.EVENT_READ)
            while all(key.fileobj is self.socket for key, _ in selector.select()):
                self.handle_request()

    def interrupt(self) -> None:
        """Make `serve_until_interrupted` return."""
        self._wake_up_writer.close()

    def server_close(self) -> None:
        super().server_close()
        self._wake_up.close()
        self._wake_up_writer.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn): slow offline, unused here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, _request: object, client_address: object) -> None:
        # socketserver calls this from inside its except clause.
        log.debug("request_failed client=%s", client_address, exc_info=True)  # noqa: LOG014


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.backend.track(self.connection, opened=True)

    def finish(self) -> None:
        self.server.backend.track(self.connection, opened=False)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (overridden name)
        """Keep http.server's per-request lines off stderr."""

    def do_POST(self) -> None:
        """Serve the AWS APIs and the control plane."""
        self._dispatch()

    def do_GET(self) -> None:
        """Serve the control plane."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Serve the control plane."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Serve the control plane."""
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if self.path.startswith(_CONTROL):
            self._send(self._control(self.command, self.path[len(_CONTROL) :], body))
        elif self.command == "POST":
            self._serve_api(body)
        else:
            self._send(proto.json_error(404, "UnknownOperationException", "not found"))

    def _serve_api(self, body: bytes) -> None:
        backend = self.server.backend
        request = proto.parse_request(self.headers, body)
        fault, release = backend.record(request)
        if fault is not None and fault.kind == "hang":
            release.wait()
        elif fault is not None and fault.kind == "slow":
            release.wait(fault.delay)
        status: int | None = None  # none: the connection was cut without an answer
        if backend.stopping or (fault is not None and fault.kind == "drop"):
            self.close_connection = True
            proto.shut(self.connection)
        else:
            reply = backend.answer(request, fault)
            status = reply.status
            self._send(reply)
        # What was asked and answered; never the body, which holds the token.
        log.debug(
            "request_served api=%s operation=%s region=%s status=%s fault=%s",
            request.api,
            request.operation,
            request.region,
            status,
            fault.kind if fault else None,
        )

    def _control(self, method: str, path: str, body: bytes) -> proto.Reply:
        backend = self.server.backend
        try:
            data = json.loads(body) if body else None
            if (method, path) == ("GET", "calls"):
                return proto.json_reply([c.to_json() for c in backend.calls()])
            if (method, path) == ("DELETE", "calls"):
                backend.clear_calls()
            elif (method, path) == ("POST", "faults"):
                backend.inject(Fault.from_json(data))
            elif (method, path) == ("DELETE", "faults"):
                backend.clear_faults()
            elif (method, path) == ("PUT", "token-lifetime"):
                seconds = data.get("seconds") if isinstance(data, dict) else None
                if not isinstance(seconds, (int, float)) or seconds < 0:
                    return proto.json_error(400, "InvalidParameterException", "need 'seconds'")
                backend.token_lifetime = timedelta(seconds=seconds)
            elif method == "GET" and path.startswith("password/"):
                registry_id = path.removeprefix("password/")
                password = backend.passwords.password_for(registry_id)
                return proto.json_reply({"registry_id": registry_id, "password": password})
            else:
                return proto.json_error(404, "UnknownOperationException", "not found")
        except (ValueError, LookupError) as exc:
            status = 404 if isinstance(exc, LookupError) else 400
            return proto.json_error(status, "InvalidParameterException", str(exc))
        return proto.json_reply({})

    def _send(self, reply: proto.Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("x-amzn-RequestId", proto.request_id())
        self.end_headers()
        self.wfile.write(reply.body)


class Emulator:
    """An ECR, ECR Public and STS endpoint served from a background thread.

    Use it as a context manager, or call `start` and `stop`. ``token_lifetime`` may be
    changed while it runs.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: timedelta = timedelta(hours=12),
        stable_passwords: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._backend = Backend(
            token_lifetime=token_lifetime,
            stable_passwords=stable_passwords,
            clock=clock or utc_now,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._started = False

    def start(self) -> None:
        """Bind the port (0 picks a free one) and serve from a daemon thread."""
        if self._started:
            msg = "an Emulator starts only once"
            raise RuntimeError(msg)
        self._started = True
        self._server = _Server((self._host, self._port), self._backend)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_until_interrupted,
            name=f"ecrd-emulator-{self._port}",
            daemon=True,
        )
        self._thread.start()
        log.debug("emulator_started url=%s", self.url)

    def stop(self) -> None:
        """Stop serving, release held requests, close connections and join the thread."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None or thread is None:
            return
        server.interrupt()
        thread.join()
        self._backend.close()
        server.server_close()
        log.debug("emulator_stopped url=%s", self.url)

    def __enter__(self) -> Emulator:  # noqa: PYI034 (not meant to be subclassed)
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port it listens on (the one picked, once started with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        """The endpoint URL to give boto3, such as ``http://127.0.0.1:PORT``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def token_lifetime(self) -> timedelta:
        """How long the tokens it issues from now on stay valid."""
        return self._backend.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: timedelta) -> None:
        self._backend.token_lifetime = value

    def calls(self, *, api: str | None = None, operation: str | None = None) -> list[Call]:
        """Return the calls recorded so far, oldest first, optionally narrowed."""
        return self._backend.calls(api=api, operation=operation)

    def clear_calls(self) -> None:
        """Forget the calls recorded so far."""
        self._backend.clear_calls()

    def wait_for_calls(
        self, n: int, *, timeout: float = 10.0, api: str | None = None
    ) -> list[Call]:
        """Block until at least ``n`` calls are recorded and return them.

        Raises:
            TimeoutError: fewer than ``n`` calls arrived within ``timeout`` seconds.
        """
        return self._backend.wait_for_calls(n, timeout=timeout, api=api)

    def inject(self, fault: Fault) -> None:
        """Apply ``fault`` to the next matching calls; the oldest matching fault wins."""
        self._backend.inject(fault)

    def clear_faults(self) -> None:
        """Forget every fault and release hanging or slow requests, which then answer."""
        self._backend.clear_faults()

    def password_for(self, registry_id: str) -> str:
        """Return the password for ``registry_id`` ("public" for ECR Public).

        With ``stable_passwords`` it is the one every call issues; otherwise it is the last
        one issued. Raises LookupError when no password was issued yet for that id.
        """
        return self._backend.passwords.password_for(registry_id)


def serve(*, host: str, port: int, token_lifetime: timedelta, stable_passwords: bool) -> None:
    """Run an emulator in the foreground until SIGINT or SIGTERM."""
    stopped = threading.Event()

    def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    emulator = Emulator(
        host=host, port=port, token_lifetime=token_lifetime, stable_passwords=stable_passwords
    )
    try:
        try:
            emulator.start()
        except OSError as exc:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            msg = (
                f"cannot listen on {where}: {exc.strerror or exc}; pick another --port,"
                " or --port 0 for a free one"
            )
            raise EcrdError(msg) from None
        sys.stdout.write(f"ECR emulator listening on {emulator.url}\n")
        sys.stdout.flush()
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        signal.signal(signal.SIGTERM, previous)
