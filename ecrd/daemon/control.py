"""One daemon and one writer per configuration: the daemon's control socket.

`ecrd run` binds a unix socket named after its user and its configuration file, and keeps it
for its whole life. Binding it is the lock that makes it the only daemon of that
configuration, whatever ``STATE_DIRECTORY`` says (a second `ecrd run` finds the name taken
and exits with the holder's pid). `ecrd refresh` connects to it: with a daemon there, the
daemon refreshes every group now, in one round, and answers with that round's result, so
that the state, the metrics and the environment (proxy, profile, endpoint) used are the
daemon's own; with none, `ecrd refresh` refreshes by itself.

Where the socket lives, and who is at the other end, is ``ecrd.daemon.serving``: the one
answer to "which daemon serves this configuration". A name taken by another user's process
is not a daemon of this configuration: the daemon logs ``control_unavailable`` and runs on
with the state directory's lock alone. Where the socket is a file in the state directory
(macOS), it is bound once that lock is held, so a socket file found there is a dead
daemon's and is replaced.

The protocol is one JSON line each way: ``{"request": "refresh"}``, then
``{"result": ROUND}`` or ``{"error": MESSAGE}``. A round holds per host its name, registry,
region, group, expiry, outputs, error and whether it is failing; the problems met, each as
host, path, code and message; and, for an `ecrd refresh` of an earlier version, per output its
error and the warnings (an answer without problems is read from those). No secret ever
crosses the socket.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import socket
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecrd.daemon.serving import IO_SECONDS, Peer, address, connect, peer_of, trusted
from ecrd.errors import AlreadyRunningError, ControlError, EcrdError
from ecrd.logs import get_logger
from ecrd.problems import CODES, NOT_READ, OUTPUT_FAILED, WARNING, Problem, messages, with_code
from ecrd.refresh_round import HostResult, RoundResult

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ecrd.state import StateStore

log = get_logger("ecrd")

# A request is one short line; an answer holds a line per host (10,000 hosts fit).
REQUEST_LIMIT = 4096
ANSWER_LIMIT = 16 * 1024 * 1024
# Requests answered at once; more are told the daemon is busy.
MAX_REQUESTS = 4
# `ecrd refresh` waits for the daemon's round this much longer than one attempt may take:
# the round's writes, and a group that was just starting when the request came.
ANSWER_MARGIN_SECONDS = 10.0
_LISTEN_BACKLOG = 8


@contextlib.contextmanager
def serve_configuration(
    *, store: StateStore, config_path: Path, abstract: bool | None = None
) -> Iterator[socket.socket | None]:
    """Hold the configuration's daemon locks; yield the control socket's listener.

    ``None`` when no control socket could be bound (the reason is logged): the daemon runs,
    and `ecrd refresh` beside it refreshes by itself.

    Raises:
        AlreadyRunningError: another `ecrd run` serves this configuration.
        StateError: the state directory's lock could not be taken.
    """
    with store.daemon_lock.hold():
        listener = _bind(
            address(config_path=config_path, state_dir=store.directory, abstract=abstract),
            config_path=config_path,
        )
        try:
            yield listener
        finally:
            if listener is not None:
                _close_listener(listener)


def _bind(where: str, *, config_path: Path) -> socket.socket | None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        if not where.startswith("\0"):
            # The state directory's lock is held: a socket file here is a dead daemon's.
            with contextlib.suppress(FileNotFoundError):
                Path(where).unlink()
        listener.bind(where)
        listener.listen(_LISTEN_BACKLOG)
        listener.setblocking(False)  # noqa: FBT003 - socket's own signature
    except OSError as exc:
        listener.close()
        if exc.errno != errno.EADDRINUSE:
            log.warning("control_unavailable", config=str(config_path), error=exc.strerror)
            return None
        holder = _holder(where)
        if holder is not None and holder.uid != os.geteuid():
            log.warning(
                "control_unavailable",
                config=str(config_path),
                error=f"the socket's name is taken by a process of uid {holder.uid}",
            )
            return None
        pid = holder.pid if holder is not None else "unknown"
        msg = (
            f"already running (pid {pid}) for {config_path}; stop that one first, or use"
            " another configuration"
        )
        raise AlreadyRunningError(msg) from None
    return listener


def _holder(where: str) -> Peer | None:
    """Who listens at ``where`` (None when nobody answers)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as probe:
        probe.settimeout(IO_SECONDS)
        try:
            probe.connect(where)
        except OSError:
            return None
        return peer_of(probe)


def _close_listener(listener: socket.socket) -> None:
    name = listener.getsockname()
    listener.close()
    if isinstance(name, str) and name and not name.startswith("\0"):
        with contextlib.suppress(OSError):
            Path(name).unlink()


class ControlServer:
    """Answers `ecrd refresh` requests on the daemon's control socket, from its own thread."""

    def __init__(self, listener: socket.socket, *, refresh: Callable[[], RoundResult]) -> None:
        self._listener = listener
        self._refresh = refresh
        self._wake_read, self._wake_write = os.pipe2(os.O_CLOEXEC)
        self._slots = threading.BoundedSemaphore(MAX_REQUESTS)
        self._thread = threading.Thread(target=self._serve, name="ecrd-control", daemon=True)

    def start(self) -> None:
        """Start accepting requests."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests (one being answered gets the daemon's stop as its error)."""
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"\0")
        self._thread.join(timeout=IO_SECONDS)
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self._listener.fileno(), self._wake_read], [], [])
            if self._wake_read in ready:
                return
            try:
                connection, _ = self._listener.accept()
            except OSError:  # taken back by the client meanwhile, or out of descriptors
                continue
            if not self._slots.acquire(blocking=False):
                _answer(connection, {"error": "the daemon is busy with other requests; try again"})
                connection.close()
                continue
            threading.Thread(
                target=self._handle, args=(connection,), name="ecrd-control-request", daemon=True
            ).start()

    def _handle(self, connection: socket.socket) -> None:
        try:
            connection.setblocking(True)  # noqa: FBT003 - socket's own signature
            connection.settimeout(IO_SECONDS)
            peer = peer_of(connection)
            if not trusted(peer):
                log.warning("control_refused", uid=peer.uid if peer else None)
                return
            try:
                request = json.loads(_read_line(connection, limit=REQUEST_LIMIT))
            except (OSError, ValueError):
                return
            if not isinstance(request, dict) or request.get("request") != "refresh":
                _answer(connection, {"error": f"unknown request {str(request)[:80]!r}"})
                return
            log.info("refresh_requested", pid=peer.pid if peer else None)
            try:
                answer: dict[str, Any] = {"result": encode_result(self._refresh())}
            except EcrdError as exc:
                answer = {"error": str(exc)}
            _answer(connection, answer)
        finally:
            connection.close()
            self._slots.release()


def request_refresh(
    *, config_path: Path, state_dir: Path, timeout: float, abstract: bool | None = None
) -> RoundResult | None:
    """Have the daemon serving ``config_path`` refresh every group now; its round's result.

    ``None`` when no daemon of this user serves the configuration: refresh by yourself.
    ``timeout`` bounds the wait for the round.

    Raises:
        ControlError: a daemon serves the configuration but gave no round (it failed to
            write it, stopped, or did not answer within ``timeout``).
    """
    connected = connect(config_path=config_path, state_dir=state_dir, abstract=abstract)
    if connected is None:
        return None
    sock, peer = connected
    with sock:
        daemon = f"the daemon (pid {peer.pid})" if peer is not None else "the daemon"
        try:
            sock.sendall(b'{"request": "refresh"}\n')
            sock.settimeout(timeout)
            line = _read_line(sock, limit=ANSWER_LIMIT)
        except TimeoutError:
            msg = (
                f"{daemon} serving {config_path} gave no answer within {timeout:g} s; its log"
                " says why (journalctl -u ecrd, or ~/Library/Logs/ecrd/ecrd.log)"
            )
            raise ControlError(msg) from None
        except OSError as exc:
            msg = f"{daemon} serving {config_path} did not answer: {exc.strerror or exc}"
            raise ControlError(msg) from None
    if not line:
        msg = f"{daemon} serving {config_path} closed the connection (stopping?); run it again"
        raise ControlError(msg)
    try:
        answer = json.loads(line)
        if "error" in answer:
            msg = f"{daemon} serving {config_path}: {answer['error']}"
            raise ControlError(msg)
        return decode_result(answer["result"])
    except (ValueError, KeyError, TypeError, AttributeError):
        msg = f"{daemon} serving {config_path} answered something ecrd cannot read"
        raise ControlError(msg) from None


def answer_timeout(attempt_timeout: float) -> float:
    """How long `ecrd refresh` waits for the daemon's round."""
    return attempt_timeout + ANSWER_MARGIN_SECONDS


def encode_result(result: RoundResult) -> dict[str, Any]:
    """A round's result as JSON values (no secret is in a result)."""
    return {
        "hosts": [
            {
                "host": h.host,
                "registry_id": h.registry_id,
                "region": h.region,
                "group": h.group,
                "expires_at": _iso(h.expires_at),
                "refreshed_at": _iso(h.refreshed_at),
                "outputs": list(h.outputs),
                "error": h.error,
                "failing": h.failing,
            }
            for h in result.hosts
        ],
        "problems": [
            {"host": p.host, "path": p.path, "code": p.code, "message": p.message}
            for p in result.problems
        ],
        # What an `ecrd refresh` of an earlier version reads instead of the problems.
        "output_errors": {
            p.path: p.message for p in with_code(result.problems, OUTPUT_FAILED) if p.path
        },
        "warnings": list(messages(p for p in result.problems if not p.failing)),
        "written": list(result.written),
    }


def decode_result(data: dict[str, Any]) -> RoundResult:
    """The round ``encode_result`` gave (or the daemon of an earlier version).

    Raises:
        ValueError, KeyError, TypeError: ``data`` is not such a round.
    """
    hosts = tuple(
        HostResult(
            host=str(h["host"]),
            registry_id=None if h["registry_id"] is None else str(h["registry_id"]),
            region=str(h["region"]),
            group=str(h["group"]),
            expires_at=_time(h["expires_at"]),
            refreshed_at=_time(h["refreshed_at"]),
            outputs=tuple(str(p) for p in h["outputs"]),
            error=None if h["error"] is None else str(h["error"]),
            failing=bool(h["failing"]),
        )
        for h in data["hosts"]
    )
    if "problems" in data:
        problems = tuple(_problem(p) for p in data["problems"])
    else:
        problems = _earlier_problems(data, hosts)
    return RoundResult(
        hosts=hosts, problems=problems, written=tuple(str(p) for p in data["written"])
    )


def _problem(data: dict[str, Any]) -> Problem:
    """One problem of the answer; a code this ecrd does not know is a warning."""
    code = str(data["code"])
    return Problem(
        host=None if data["host"] is None else str(data["host"]),
        path=None if data["path"] is None else str(data["path"]),
        code=next((c for c in CODES if c == code), WARNING),
        message=str(data["message"]),
    )


def _earlier_problems(data: dict[str, Any], hosts: tuple[HostResult, ...]) -> tuple[Problem, ...]:
    """The problems of a daemon of an earlier version, which sends errors and warnings only.

    A host written but failing for another reason than the outputs' errors is a login its
    clients do not read.
    """
    output_errors = {str(k): str(v) for k, v in dict(data["output_errors"]).items()}
    joined = "; ".join(output_errors.values())
    return (
        *(
            Problem(host=h.host, path=None, code=NOT_READ, message=h.error)
            for h in hosts
            if h.error is not None and h.outputs and h.error != joined
        ),
        *(
            Problem(host=None, path=p, code=OUTPUT_FAILED, message=m)
            for p, m in output_errors.items()
        ),
        *(Problem(host=None, path=None, code=WARNING, message=str(w)) for w in data["warnings"]),
    )


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    when = datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        msg = f"a time without its zone: {value!r}"
        raise ValueError(msg)
    return when


def _read_line(connection: socket.socket, *, limit: int) -> bytes:
    """Bytes up to the first newline (or the end); at most ``limit``.

    Raises:
        ValueError: no newline within ``limit`` bytes.
        OSError: the connection failed or timed out.
    """
    data = bytearray()
    while b"\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            msg = f"a line longer than {limit} bytes"
            raise ValueError(msg)
    return bytes(data.split(b"\n", 1)[0])


def _answer(connection: socket.socket, answer: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        connection.settimeout(IO_SECONDS)
        connection.sendall(json.dumps(answer).encode() + b"\n")
