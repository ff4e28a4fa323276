"""Fakes shared by the test suites: a token source that records its calls, a clock, fixed times."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ecrd.daemon.notify import Notifier
from ecrd.errors import TokenError
from ecrd.refresh_round import RoundResult
from ecrd.secret import Credentials, Secret

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from ecrd.config.model import Group

# A fixed expiry for credentials whose expiry a test does not look at.
EXPIRES_AT = datetime(2030, 1, 1, tzinfo=timezone.utc)
# Where a FakeClock starts: twelve hours before EXPIRES_AT.
START = EXPIRES_AT - timedelta(hours=12)


@dataclass
class FakeClock:
    """A wall clock that moves only when told to; call it for the time."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        """Move on by ``delta``; returns the new time."""
        self.now += delta
        return self.now


@dataclass
class FakeTokenSource:
    """A ``TokenSource`` with canned credentials that records every call by group name.

    Each call answers the next queued answer for its group (``queue``); else, for a group
    whose region is in ``failing``, an AccessDeniedException; else credentials for each of
    the group's registries, living ``lifetime`` from ``clock()``, their password
    ``password(region)``. A password holds ``generation``: a test moves it on for the next
    calls to answer new ones, and ``new_each_call`` does so at every call. A password is
    long (longer than a netrc line reader's buffer, than a helper's small read). A group
    named in ``hang`` blocks until ``release()``.
    """

    clock: Callable[[], datetime] = field(default=lambda: START)
    lifetime: timedelta = timedelta(hours=12)
    failing: set[str] = field(default_factory=set)
    generation: int = 0
    new_each_call: bool = False
    calls: list[str] = field(default_factory=list)
    answers: dict[str, list[Sequence[Credentials] | TokenError]] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    _released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fetch(self, group: Group) -> Sequence[Credentials]:
        """See ``TokenSource.fetch``."""
        with self._lock:
            self.calls.append(group.name)
            if self.new_each_call:
                self.generation = len(self.calls)
            queued = self.answers.get(group.name)
            answer = queued.pop(0) if queued else None
        if group.name in self.hang:
            self._released.wait()
        if isinstance(answer, TokenError):
            raise answer
        if answer is not None:
            return answer
        if group.key.region in self.failing:
            msg = f"group {group.name}: access denied"
            raise TokenError(msg, code="AccessDeniedException")
        return self.credentials(group)

    def credentials(self, group: Group) -> list[Credentials]:
        """What a call for ``group`` answers by default."""
        expires_at = self.clock() + self.lifetime
        return [
            Credentials(
                username="AWS",
                password=Secret(self.password(group.key.region)),
                expires_at=expires_at,
                registry_id=rid,
            )
            for rid in (group.registry_ids or (None,))
        ]

    def password(self, region: str) -> str:
        """The password a call answers now for the registries of ``region``."""
        return f"pw-{region}-{self.generation}-" + "x" * 2100

    def queue(self, group: str, *answers: Sequence[Credentials] | TokenError) -> None:
        """Answer the next calls for ``group`` with ``answers``, in order."""
        with self._lock:
            self.answers.setdefault(group, []).extend(answers)

    def count(self, group: str) -> int:
        """How many calls ``group`` got."""
        with self._lock:
            return self.calls.count(group)

    def release(self) -> None:
        """Let hanging calls return."""
        self._released.set()


class RecordingNotifier(Notifier):
    """A ``Notifier`` that keeps what it would send to systemd."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        super().__init__(environ or {})
        self.messages: list[str] = []
        self._lock = threading.Lock()

    def _send(self, message: str) -> None:
        with self._lock:
            self.messages.append(message)

    def count(self, line: str) -> int:
        """How many messages hold ``line`` (``WATCHDOG=1``)."""
        with self._lock:
            return sum(line in m.split("\n") for m in self.messages)

    def lines(self, prefix: str) -> list[str]:
        """The messages' lines that start with ``prefix`` (``READY=1``, ``STATUS=``)."""
        return [line for m in self.messages for line in m.split("\n") if line.startswith(prefix)]


@dataclass
class RecordingNotice:
    """A ``DesktopNotice`` that keeps the notices it was asked to show."""

    shown: list[tuple[str, str]] = field(default_factory=list)

    def show(self, title: str, message: str) -> bool:
        """Keep it."""
        self.shown.append((title, message))
        return True


@dataclass
class RecordingMetrics:
    """The daemon's calls to ``ecrd.metrics.Metrics``, in order."""

    calls: list[tuple[str, object]] = field(default_factory=list)
    configs: list[object] = field(default_factory=list)  # the configuration given with each

    def observe_round(self, result: RoundResult) -> None:
        """Keep it."""
        self.calls.append(("round", result))

    def observe_config(self, *, valid: bool, config: object = None) -> None:
        """Keep it."""
        self.calls.append(("config", valid))
        self.configs.append(config)

    def observe_state(self, state: object) -> None:
        """Keep it."""
        self.calls.append(("state", state))

    def write_textfile(self, path: object) -> None:
        """Keep it."""
        self.calls.append(("textfile", path))

    def serve(self, *, host: str, port: int) -> Callable[[], None]:
        """Keep it."""
        self.calls.append(("serve", (host, port)))
        return lambda: None

    def rounds(self) -> list[RoundResult]:
        """The results of the rounds observed, in order."""
        return [arg for n, arg in self.calls if n == "round" and isinstance(arg, RoundResult)]

    def named(self, name: str) -> list[object]:
        """The arguments of the calls named ``name``."""
        return [arg for n, arg in self.calls if n == name]


def sequence(values: Sequence[float]) -> Iterator[float]:
    """The values in turn, for ever: a random source a test can predict."""
    while True:
        yield from values
