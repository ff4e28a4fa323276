"""What the emulator's request threads share: the calls, the faults, the passwords, the clock.

Private to `ecrd.emulator`; `ecrd.emulator.server` serves HTTP on top of it.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from ecrd.emulator import protocol as proto

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable

DEFAULT_ACCOUNT: Final = proto.DEFAULT_ACCOUNT
FaultKind = Literal[
    "http500", "throttle", "access_denied", "slow", "drop", "malformed", "past_expiry", "hang"
]
_FAULT_KINDS: Final = frozenset(get_args(FaultKind))


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


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Backend:
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
