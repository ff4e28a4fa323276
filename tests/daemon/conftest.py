"""Fixtures for the daemon's tests: the real `ecrd run` as a process, its log events, systemd.

The daemon runs as ``python -m ecrd run`` against an in-process emulator whose tokens live
seconds. Its stderr (JSON lines) is read on a background thread, so a test waits for an
event (``daemon.wait_for("token_refreshed", group=...)``), a call recorded by the emulator
or a datagram on the notify socket, never for a fixed time.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import pytest

from ecrd.emulator.server import Call, Emulator
from tests.daemon.harness import Harness
from tests.process import ecrd

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

# Registries in two regions, so two groups: one GetAuthorizationToken call each.
WEST = "111111111111"
WEST_HOST = f"{WEST}.dkr.ecr.us-west-2.amazonaws.com"
EU = "222222222222"
EU_HOST = f"{EU}.dkr.ecr.eu-west-1.amazonaws.com"
EAST = "333333333333"
EAST_HOST = f"{EAST}.dkr.ecr.us-east-2.amazonaws.com"
# Another account in us-west-2: the same group as WEST, one call for both.
WEST2 = "444444444444"
WEST2_HOST = f"{WEST2}.dkr.ecr.us-west-2.amazonaws.com"

# Tokens live 2 s and are refreshed every second (1 s before they expire, and min_interval);
# retries after 0.5 s, then 1 s.
FAST = {
    "before_expiry": "1",
    "jitter": "0",
    "min_interval": "1s",
    "retry_initial": "0.5",
    "retry_max": "1",
}
# Tokens live an hour: no regular refresh comes during a test, so calls can be counted.
SLOW = {**FAST, "before_expiry": "30m"}
SHORT_LIFETIME = timedelta(seconds=2)
LONG_LIFETIME = timedelta(hours=1)
# How long a test waits for something that should take well under a second.
WAIT = 10.0
# A fresh `ecrd run` imports boto3 and builds botocore clients (models loaded cold) in its
# first attempt: on a loaded machine that takes seconds. Until the daemon has ended a first
# attempt, a wait gives it this much more room; what the tests time comes after.
START = 3 * WAIT
FIRST_ATTEMPT_ENDED = frozenset({"token_refreshed", "refresh_failed"})
# The daemon must stop within two seconds of SIGTERM or SIGINT.
STOP_SECONDS = 2.0


class Endpoint(Protocol):
    """Where the daemon sends its ECR calls: the emulator, or an endpoint that never answers."""

    @property
    def url(self) -> str:
        """The endpoint's ``http://127.0.0.1:PORT``."""
        ...


@dataclass
class Outputs:
    """Where a test's daemon writes: a docker config and a netrc, each in its own directory."""

    docker: Path
    netrc: Path

    def auths(self) -> dict[str, Any]:
        """The ``auths`` of the docker config, {} when it does not exist."""
        if not self.docker.exists():
            return {}
        auths: dict[str, Any] = json.loads(self.docker.read_text())["auths"]
        return auths

    def directory_listing(self) -> dict[str, list[str]]:
        """Every name in the outputs' directories, to find temporary files left behind."""
        return {
            str(d): sorted(p.name for p in d.iterdir())
            for d in (self.docker.parent, self.netrc.parent)
            if d.exists()
        }


def config_yaml(
    *,
    endpoint: str,
    registries: Sequence[str],
    outputs: Outputs | Sequence[tuple[str, Path]],
    refresh: Mapping[str, str] = FAST,
) -> str:
    """A configuration file's text."""
    pairs = (
        [("docker", outputs.docker), ("netrc", outputs.netrc)]
        if isinstance(outputs, Outputs)
        else list(outputs)
    )
    lines = ["refresh:"]
    lines += [f"  {key}: {value}" for key, value in refresh.items()]
    lines += ["aws:", f"  endpoint_url: {endpoint}", "outputs:"]
    lines += [f"  - {{type: {kind}, path: {path}}}" for kind, path in pairs]
    lines += ["registries:"] + [f"  - {r}" for r in registries]
    return "\n".join(lines) + "\n"


class DaemonProcess:
    """A running `ecrd run` and everything it printed, as events and as raw text."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str]) -> None:
        self.args = list(args)
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
        )
        self._changed = threading.Condition()
        self.events: list[dict[str, Any]] = []
        self.stray: list[str] = []  # stderr lines that are not JSON events
        self.stdout: list[str] = []
        self._open = 2
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stderr, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[bytes], events: bool) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            with self._changed:
                if not events:
                    self.stdout.append(line)
                else:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        event = None
                    if isinstance(event, dict) and "event" in event:
                        self.events.append(event)
                    else:
                        self.stray.append(line)
                self._changed.notify_all()
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    # -- waiting -------------------------------------------------------------------------

    def _attempted(self) -> bool:
        """True once the daemon has ended an attempt (its start and first clients are done)."""
        return any(e.get("event") in FIRST_ATTEMPT_ENDED for e in self.events)

    def mark(self) -> int:
        """The number of events so far: pass it as ``since`` to wait for later ones only."""
        with self._changed:
            return len(self.events)

    def find(
        self, event: str | None = None, *, since: int = 0, **match: Any
    ) -> list[dict[str, Any]]:
        """The events so far named ``event`` whose keys equal ``match``."""
        with self._changed:
            return [e for e in self.events[since:] if _matches(e, event, match)]

    def index(self, event: dict[str, Any]) -> int:
        """The position of ``event`` (as returned by ``wait_for``) among all events."""
        with self._changed:
            return next(i for i, e in enumerate(self.events) if e is event)

    def wait_for(
        self,
        event: str,
        *,
        timeout: float = WAIT,
        since: int = 0,
        count: int = 1,
        where: Callable[[dict[str, Any]], bool] | None = None,
        **match: Any,
    ) -> dict[str, Any]:
        """Wait for the ``count``-th event named ``event`` matching ``match`` and ``where``.

        Before the daemon has ended a first attempt, the wait may go on ``START`` seconds
        more. Fails with the daemon's recent output when it does not come or the daemon exits.
        """

        def found() -> list[dict[str, Any]]:
            hits = [e for e in self.events[since:] if _matches(e, event, match)]
            return [e for e in hits if where is None or where(e)]

        def ready() -> bool:
            return len(found()) >= count or self._open == 0

        with self._changed:
            done = self._changed.wait_for(ready, timeout)
            if not done and not self._attempted():
                done = self._changed.wait_for(ready, START)
                timeout += START
            hits = found()
            if done and len(hits) >= count:
                return hits[count - 1]
        pytest.fail(
            f"no {count}x {event} {match} within {timeout} s "
            f"(exit code {self.proc.poll()}):\n{self.tail()}"
        )

    def tail(self, n: int = 40) -> str:
        """The last events and stray lines, for failure messages."""
        with self._changed:
            lines = [json.dumps(e) for e in self.events[-n:]] + self.stray[-n:]
        return "\n".join(lines)

    def output(self) -> str:
        """Everything printed so far on stdout and stderr."""
        with self._changed:
            return "\n".join([*self.stdout, *(json.dumps(e) for e in self.events), *self.stray])

    # -- signals ---------------------------------------------------------------------------

    def send(self, signum: int) -> None:
        """Send a signal to the daemon."""
        self.proc.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, *, timeout: float = STOP_SECONDS) -> int:
        """Send ``signum`` and return the exit code; fail when it takes over ``timeout`` s."""
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"ecrd run did not stop within {timeout} s of {signum}:\n{self.tail()}")
        self._close()
        return code

    def kill(self) -> None:
        """Kill the daemon if it still runs (test teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=WAIT)
        self._close()

    def _close(self) -> None:
        for reader in self._readers:
            reader.join(timeout=WAIT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def holding(host: str) -> Callable[[dict[str, Any]], bool]:
    """A ``where`` for events whose ``hosts`` include ``host``."""

    def has_host(event: dict[str, Any]) -> bool:
        return host in event.get("hosts", ())

    return has_host


def wait_for_fault(emulator: Emulator, kind: str, *, timeout: float = WAIT) -> Call:
    """Wait until the emulator has answered (or is holding) a call with the fault ``kind``."""
    seen = 0
    while True:
        try:
            calls = emulator.wait_for_calls(seen + 1, timeout=timeout)
        except TimeoutError:
            pytest.fail(f"no call with fault {kind} within {timeout} s: {emulator.calls()}")
        found = [c for c in calls if c.fault == kind]
        if found:
            return found[0]
        seen = len(calls)


def _matches(event: dict[str, Any], name: str | None, match: Mapping[str, Any]) -> bool:
    if name is not None and event.get("event") != name:
        return False
    return all(k in event and event[k] == v for k, v in match.items())


def parse_time(value: str) -> datetime:
    """An ISO 8601 time from an event or the status JSON."""
    return datetime.fromisoformat(value)


@pytest.fixture
def outputs(tmp_path: Path) -> Outputs:
    """Output paths in two directories of their own (created by the daemon)."""
    return Outputs(docker=tmp_path / "docker" / "config.json", netrc=tmp_path / "netrc" / "netrc")


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the configuration lives: a directory of its own, as a ConfigMap would be.

    It is ``$ECRD_CONFIG`` too, so that ``ecrd status`` reads this configuration's state.
    """
    directory = tmp_path / "etc"
    directory.mkdir()
    monkeypatch.setenv("ECRD_CONFIG", str(directory / "config.yaml"))
    return directory / "config.yaml"


@pytest.fixture
def fast_emulator() -> Iterator[Emulator]:
    """An ECR endpoint whose tokens live 2 seconds, a new password each call."""
    with Emulator(token_lifetime=SHORT_LIFETIME) as emu:
        yield emu


@pytest.fixture
def slow_emulator() -> Iterator[Emulator]:
    """An ECR endpoint whose tokens live an hour: no regular refresh during a test."""
    with Emulator(token_lifetime=LONG_LIFETIME) as emu:
        yield emu


@pytest.fixture
def start_daemon() -> Iterator[Callable[..., DaemonProcess]]:
    """Start `ecrd run -c CONFIG` at debug level with JSON logs; killed at teardown if alive.

    At teardown, any line on its stderr that is not a JSON event fails the test.
    """
    started: list[DaemonProcess] = []

    def start(
        config: Path,
        *extra: str,
        env: Mapping[str, str] | None = None,
        log_args: Sequence[str] = ("--log-format", "json", "--log-level", "debug"),
        prefix: Sequence[str] = (),
        launcher: Sequence[str] | None = None,
    ) -> DaemonProcess:
        command = [sys.executable, "-m", "ecrd", "run", "-c", str(config), *log_args]
        if launcher is not None:  # the daemon with a test seam: tests/daemon/launch.py
            command = [sys.executable, "-m", "tests.daemon.launch", str(config), *launcher]
        args = [*prefix, *command, *extra]
        root = str(Path(__file__).parents[2])
        daemon = DaemonProcess(args, {**os.environ, "PYTHONPATH": root, **(env or {})})
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()
    # Off a TTY every line on stderr is a JSON event: nothing else may slip in (a
    # traceback, a library's plain-text warning).
    stray = [line for daemon in started for line in daemon.stray]
    if stray:
        pytest.fail(f"ecrd run printed lines that are not JSON events: {stray}")


@pytest.fixture
def write_config(config_path: Path, outputs: Outputs) -> Callable[..., str]:
    """Write the test's configuration: ``write(endpoint, *hosts, refresh=...)``; its text.

    The registries ``hosts`` on ``endpoint`` (the emulator, or one that never answers),
    written to the test's outputs.
    """

    def write(endpoint: Endpoint, *hosts: str, refresh: Mapping[str, str]) -> str:
        text = config_yaml(
            endpoint=endpoint.url, registries=hosts, outputs=outputs, refresh=refresh
        )
        config_path.write_text(text)
        return text

    return write


@pytest.fixture
def start_written(
    start_daemon: Callable[..., DaemonProcess],
    write_config: Callable[..., str],
    config_path: Path,
    outputs: Outputs,
) -> Callable[..., DaemonProcess]:
    """Start `ecrd run` on ``hosts`` and wait until its first round wrote each of them.

    ``start(emulator, *hosts, refresh=..., env=..., written=...)`` writes the configuration
    as ``write_config`` does, starts the daemon as ``start_daemon`` does (``env`` and other
    options passed on), and waits for an ``output_written`` to ``written`` (the netrc output
    unless told) holding each host.
    """

    def start(
        emulator: Emulator,
        *hosts: str,
        refresh: Mapping[str, str],
        env: Mapping[str, str] | None = None,
        written: Path | None = None,
        **options: Any,
    ) -> DaemonProcess:
        write_config(emulator, *hosts, refresh=refresh)
        daemon = start_daemon(config_path, env=env, **options)
        path = str(written or outputs.netrc)
        for host in hosts:
            daemon.wait_for("output_written", path=path, where=holding(host))
        return daemon

    return start


def ecrd_status(*args: str) -> subprocess.CompletedProcess[str]:
    """`ecrd status` run as another process, as a user would next to the daemon."""
    return ecrd("status", *args)


@dataclass
class NotifySocket:
    """A datagram socket standing in for systemd's ``$NOTIFY_SOCKET``."""

    path: Path
    sock: socket.socket
    messages: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def receive(self) -> None:
        """Collect datagrams until the socket is closed (background thread)."""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:  # shut down at teardown
                return
            with self.changed:
                self.messages.append(data.decode())
                self.changed.notify_all()

    def mark(self) -> int:
        """The number of messages so far."""
        with self.changed:
            return len(self.messages)

    def wait_for(self, line: str, *, since: int = 0, count: int = 1, timeout: float = WAIT) -> int:
        """Wait for the ``count``-th message holding ``line`` (such as READY=1); its index."""

        def hits() -> list[int]:
            return [
                i
                for i, m in enumerate(self.messages)
                if i >= since and any(part.startswith(line) for part in m.split("\n"))
            ]

        with self.changed:
            if self.changed.wait_for(lambda: len(hits()) >= count, timeout):
                return hits()[count - 1]
            got = list(self.messages)
        pytest.fail(f"no {count}x {line!r} on the notify socket within {timeout} s: {got}")


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    """A bound AF_UNIX datagram socket, as systemd provides for Type=notify services.

    Bound in a short temporary directory of its own: tmp_path can exceed the 107 bytes an
    AF_UNIX address may hold.
    """
    directory = Path(tempfile.mkdtemp(prefix="ecrd-notify-"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = directory / "notify"
    sock.bind(str(path))
    notify = NotifySocket(path=path, sock=sock)
    reader = threading.Thread(target=notify.receive, daemon=True)
    reader.start()
    yield notify
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    reader.join(timeout=WAIT)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """A daemon harness, stopped at teardown; hanging fetches are released."""
    h = Harness(tmp_path)
    yield h
    h.source.release()
    h.stop()
