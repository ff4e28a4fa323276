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
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from ecrd.emulator import protocol as proto

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType

__all__ = ["DEFAULT_ACCOUNT", "Call", "Emulator", "Fault", "FaultKind", "serve"]

_log = logging.getLogger("ecrd.emulator.server")

DEFAULT_ACCOUNT: Final = proto.DEFAULT_ACCOUNT
FaultKind = Literal[
    "http500", "throttle", "access_denied", "slow", "drop", "malformed", "past_expiry", "hang"
]
_FAULT_KINDS: Final = frozenset(get_args(FaultKind))
_CONTROL: Final = "/_emulator/"


@dataclass(frozen=True)
class Call:
    """One request the emulator answered, or failed on purpose."""

    at: datetime
    api: str  # "ecr" | "ecr-public" | "sts" | "unknown"
    operation: str
    region: str  # from the SigV4 credential scope, "" if unsigned
    access_key: str  # idem
    registry_ids: tuple[str, ...]
    fault: str | None

    def to_json(self) -> dict[str, Any]:
        """Return the call as JSON-ready data, ``at`` as ISO 8601."""
        return {**asdict(self), "at": self.at.isoformat(), "registry_ids": list(self.registry_ids)}


@dataclass(frozen=True)
class Fault:
    """A failure to inject into the next matching calls.

    ``count`` is how many calls it applies to (None: until cleared); ``api`` and ``region``
    narrow the calls it matches; ``delay`` is for "slow", which answers normally after it.
    "hang" holds the connection until the faults are cleared (then answers normally) or the
    emulator stops; "drop" closes the socket without an answer; "malformed" answers 200
    with a body that is not JSON; "past_expiry" answers normally with an expiry 1 h ago.
    """

    kind: FaultKind
    count: int | None = 1
    api: str | None = None
    region: str | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        fields = (self.kind, self.count, self.api, self.region, self.delay)
        if (
            self.kind not in _FAULT_KINDS
            or not (self.count is None or (type(self.count) is int and self.count > 0))
            or not all(v is None or isinstance(v, str) for v in (self.api, self.region))
            or not (isinstance(self.delay, (int, float)) and self.delay >= 0)
        ):
            msg = f"invalid fault {fields!r}: kind is one of {sorted(_FAULT_KINDS)}"
            raise ValueError(msg)

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """Build a fault from the control plane's JSON; raise ValueError if it is invalid."""
        if not isinstance(data, dict):
            msg = f"a fault is a JSON object, not {data!r}"
            raise ValueError(msg)  # noqa: TRY004 (the control plane answers 400 for ValueError)
        try:
            return cls(**data)
        except TypeError as exc:
            msg = f"invalid fault {data!r}: {exc}"
            raise ValueError(msg) from exc


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class _Backend:
    """State shared by the request threads: calls, faults, passwords and the clock."""

    def __init__(
        self,
        *,
        token_lifetime: timedelta,
        stable_passwords: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.passwords = proto.PasswordMaker(stable=stable_passwords, now=clock())
        self.stopping = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._faults: list[tuple[Fault, list[int | None]]] = []  # fault, [remaining]
        self._release = threading.Event()
        self._connections: set[socket.socket] = set()

    def record(self, request: proto.Request) -> tuple[Fault | None, threading.Event]:
        """Record a call, consume the first fault matching it; return it and the release."""
        with self._lock:
            fault = self._take_fault(request)
            self._calls.append(
                Call(
                    at=self.clock(),
                    api=request.api,
                    operation=request.operation,
                    region=request.region,
                    access_key=request.access_key,
                    registry_ids=request.registry_ids,
                    fault=fault.kind if fault else None,
                )
            )
            self._changed.notify_all()
            return fault, self._release

    def _take_fault(self, request: proto.Request) -> Fault | None:
        for index, (fault, remaining) in enumerate(self._faults):
            if fault.api not in (None, request.api) or fault.region not in (None, request.region):
                continue
            left = remaining[0]
            if left is not None:
                remaining[0] = left - 1
                if left <= 1:
                    del self._faults[index]
            return fault
        return None

    def calls(self, *, api: str | None = None, operation: str | None = None) -> list[Call]:
        with self._lock:
            return self._select(api=api, operation=operation)

    def _select(self, *, api: str | None, operation: str | None = None) -> list[Call]:
        return [c for c in self._calls if api in (None, c.api) and operation in (None, c.operation)]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def wait_for_calls(self, n: int, *, timeout: float, api: str | None) -> list[Call]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._select(api=api)) >= n, timeout):
                got = len(self._select(api=api))
                msg = f"expected {n} calls (api={api}) within {timeout} s, got {got}"
                raise TimeoutError(msg)
            return self._select(api=api)

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append((fault, [fault.count]))

    def clear_faults(self) -> None:
        """Forget every fault and release the requests they hold."""
        with self._lock:
            self._faults.clear()
            release, self._release = self._release, threading.Event()
        release.set()

    def track(self, connection: socket.socket, *, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
            if opened and self.stopping:
                proto.shut(connection)

    def close(self) -> None:
        """Release held requests and cut every open connection, idle ones included."""
        with self._lock:
            self.stopping = True
            connections = list(self._connections)
        self._release.set()
        for connection in connections:
            proto.shut(connection)

    def answer(self, request: proto.Request, fault: Fault | None) -> proto.Reply:
        """Answer a request as the service would, or with the error its fault calls for."""
        now = self.clock()
        kind = fault.kind if fault else None
        if kind in ("http500", "throttle", "access_denied"):
            return proto.fault_reply(request, kind)
        if kind == "malformed":
            return proto.Reply(200, "text/html", b"<html><body><h1>502 Bad Gateway</h1>")
        if kind == "past_expiry":
            expires_at = now - timedelta(hours=1)
        else:
            expires_at = now + self.token_lifetime
        return proto.answer(request, now=now, expires_at=expires_at, passwords=self.passwords)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], backend: _Backend) -> None:
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
        _log.debug("request_failed client=%s", client_address, exc_info=True)


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
        _log.debug(
            "call_received api=%s operation=%s region=%s fault=%s",
            request.api,
            request.operation,
            request.region,
            fault.kind if fault else None,
        )
        if fault is not None and fault.kind == "hang":
            release.wait()
        elif fault is not None and fault.kind == "slow":
            release.wait(fault.delay)
        if backend.stopping or (fault is not None and fault.kind == "drop"):
            self.close_connection = True
            proto.shut(self.connection)
            return
        self._send(backend.answer(request, fault))

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
        self._backend = _Backend(
            token_lifetime=token_lifetime,
            stable_passwords=stable_passwords,
            clock=clock or _utc_now,
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
        _log.debug("emulator_started url=%s", self.url)

    def stop(self) -> None:
        """Stop serving, release held requests, close connections and join the thread."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None or thread is None:
            return
        server.interrupt()
        thread.join()
        self._backend.close()
        server.server_close()
        _log.debug("emulator_stopped url=%s", self.url)

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
        emulator.start()
        sys.stdout.write(f"ECR emulator listening on {emulator.url}\n")
        sys.stdout.flush()
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        signal.signal(signal.SIGTERM, previous)
