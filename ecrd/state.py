"""What ecrd remembers between runs; the only code touching the state directory.

Per host: its registry, expiry, last refresh, last error, warnings and which outputs hold
it. Per output: which entries ecrd wrote (so that it removes only its own), with a
fingerprint of each, never the secret itself. A lock file in the same directory serialises
ecrd processes (`ecrd refresh` next to a running daemon); nothing is ever locked in an
output's directory.

The tokens file (``tokens.json``, ``0600``) is the one place here that holds secrets: each
configured host's current login, which ``docker-credential-ecrd`` serves to docker.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecrd.errors import AlreadyRunningError, OutputError, StateError
from ecrd.files import read_file, replace_file, update_file

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping

    from ecrd.secret import Credentials


STATE_FILE = "state.json"
# Read by ecrd.docker_credential_ecrd, which keeps its own copy of the name (it imports no ecrd module).
TOKENS_FILE = "tokens.json"
LOCK_FILE = "lock"
DAEMON_LOCK_FILE = "daemon.lock"
_VERSION = 1


@dataclass
class HostState:
    """The last known condition of one registry host."""

    host: str
    registry_id: str | None
    region: str
    group: str
    expires_at: datetime | None = None
    refreshed_at: datetime | None = None
    last_error: str | None = None
    error_code: str | None = None
    outputs: list[str] = field(default_factory=list)
    # What users should act on though the host was written (a credential helper that
    # cannot store, for instance), from the last round that wrote it.
    warnings: list[str] = field(default_factory=list)
    # When the daemon will next refresh it (stand-in for ROUND's field, INTERFACES §2).
    next_refresh_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain data, times in ISO 8601."""
        data = asdict(self)
        for key in ("expires_at", "refreshed_at", "next_refresh_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HostState:
        """Read what ``to_json`` wrote."""
        return cls(
            host=str(data["host"]),
            registry_id=data.get("registry_id"),
            region=str(data.get("region", "")),
            group=str(data.get("group", "")),
            expires_at=_parse_time(data.get("expires_at")),
            refreshed_at=_parse_time(data.get("refreshed_at")),
            last_error=data.get("last_error"),
            error_code=data.get("error_code"),
            outputs=[str(p) for p in data.get("outputs", [])],
            warnings=[str(w) for w in data.get("warnings", [])],
            next_refresh_at=_parse_time(data.get("next_refresh_at")),
        )


@dataclass
class OwnedEntries:
    """The entries ecrd wrote into one output: host -> fingerprint of the entry."""

    type: str
    entries: dict[str, str] = field(default_factory=dict)


@dataclass
class State:
    """Everything in the state file; mutated only inside ``StateStore.transaction``."""

    hosts: dict[str, HostState] = field(default_factory=dict)
    # output path -> what ecrd wrote there
    owned: dict[str, OwnedEntries] = field(default_factory=dict)
    config_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain data for the state file."""
        return {
            "version": _VERSION,
            "hosts": {h: s.to_json() for h, s in sorted(self.hosts.items())},
            "owned": {
                p: {"type": o.type, "entries": dict(sorted(o.entries.items()))}
                for p, o in sorted(self.owned.items())
                if o.entries
            },
            "config_error": self.config_error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> State:
        """Read what ``to_json`` wrote."""
        return cls(
            hosts={h: HostState.from_json(s) for h, s in data.get("hosts", {}).items()},
            owned={
                p: OwnedEntries(
                    type=str(o["type"]), entries={h: str(f) for h, f in o["entries"].items()}
                )
                for p, o in data.get("owned", {}).items()
            },
            config_error=data.get("config_error"),
        )


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$STATE_DIRECTORY`` (its first path) under systemd, else ``$XDG_STATE_HOME/ecrd``."""
    env = os.environ if env is None else env
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]) / "ecrd"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".local" / "state" / "ecrd"


class StateStore:
    """The state directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE

    @classmethod
    def for_config(cls, config_path: Path, *, env: Mapping[str, str] | None = None) -> StateStore:
        """Stand-in (daemon branch) for ROUND's version (INTERFACES §7)."""
        from ecrd.paths import config_state_dir, state_root  # noqa: PLC0415

        return cls(Path(config_state_dir(root=state_root(env), config=str(config_path))))

    @contextlib.contextmanager
    def hold_daemon_lock(self) -> Iterator[None]:
        """Stand-in (daemon branch) for ROUND's version (INTERFACES §7)."""
        self._ensure_directory()
        path = self.directory / DAEMON_LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = self.daemon_pid()
                msg = f"already running (pid {pid}) for the configuration in {self.directory}"
                raise AlreadyRunningError(msg) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)

    def daemon_pid(self) -> int | None:
        """Stand-in (daemon branch) for ROUND's version (INTERFACES §7)."""
        try:
            fd = os.open(self.directory / DAEMON_LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.read(fd, 32).decode(errors="replace").strip()
                return int(text) if text.isdigit() else None
            return None
        finally:
            os.close(fd)

    def record_schedule(self, *, next_refresh: Mapping[str, datetime | None]) -> None:
        """Stand-in (daemon branch) for ROUND's version (INTERFACES §7)."""
        with self.transaction() as state:
            for host, at in next_refresh.items():
                if host in state.hosts:
                    state.hosts[host].next_refresh_at = at

    def read(self) -> State | None:
        """The state as last saved, or ``None`` when there is none yet. Takes no lock."""
        data = self._read_bytes()
        return None if data is None else self._parse(data)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[State]:
        """Lock the directory, load the state, yield it, and save it if it changed."""
        self._ensure_directory()
        lock_path = self.directory / LOCK_FILE
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            msg = f"cannot open {lock_path}: {exc.strerror}; check the state directory's owner and mode"
            raise StateError(msg) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            before = self._read_bytes()
            state = State() if before is None else self._parse(before)
            yield state
            after = (json.dumps(state.to_json(), indent=2) + "\n").encode()
            if after != before:
                try:
                    replace_file(self.path, after, expected=before, mode=0o600)
                except OutputError as exc:
                    raise StateError(str(exc)) from exc
        finally:
            os.close(fd)

    def write_tokens(
        self, *, tokens: Mapping[str, Credentials], hosts: Collection[str], now: datetime
    ) -> None:
        """Update the tokens file that ``docker-credential-ecrd`` reads; call in ``transaction``.

        ``tokens`` replace their hosts' entries; the entries of the other ``hosts`` (groups
        not refreshed now) stay; hosts not in ``hosts`` and expired entries go. The file is
        replaced atomically, created ``0600`` in the ``0700`` state directory, and not
        written when its bytes would not change.

        Raises:
            StateError: the file could not be written.
        """
        path = self.directory / TOKENS_FILE

        def render(before: bytes | None) -> bytes | None:
            entries = {
                h: e for h, e in _read_tokens(before).items() if h in hosts and h not in tokens
            }
            for host, token in tokens.items():
                entries[host] = {
                    "username": token.username,
                    "secret": token.password.reveal(),
                    # Unix seconds: the helper compares them with time.time(), importing
                    # nothing to parse a date.
                    "expires_at": round(token.expires_at.timestamp(), 3),
                }
            live = {h: e for h, e in sorted(entries.items()) if e["expires_at"] > now.timestamp()}
            if before is None and not live:
                return None
            return (json.dumps({"version": _VERSION, "hosts": live}, indent=2) + "\n").encode()

        self._ensure_directory()
        try:
            update_file(path, render=render)
        except OutputError as exc:
            raise StateError(str(exc)) from exc

    def _ensure_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create the state directory {self.directory}: {exc.strerror}"
            raise StateError(msg) from exc

    def _read_bytes(self) -> bytes | None:
        try:
            return read_file(self.path)
        except OutputError as exc:
            raise StateError(str(exc)) from exc

    def _parse(self, data: bytes) -> State:
        try:
            return State.from_json(json.loads(data))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            msg = (
                f"cannot parse the state file {self.path}: {exc}; move it away "
                "(ecrd then starts afresh, and forgets which entries it wrote)"
            )
            raise StateError(msg) from exc


def _read_tokens(data: bytes | None) -> dict[str, dict[str, Any]]:
    """The entries of a tokens file; nothing for a file that is missing or unreadable.

    The file holds nothing but what a refresh rewrites, so a damaged one is simply replaced.
    """
    try:
        document = json.loads(data or b"{}")
        hosts = document["hosts"] if isinstance(document, dict) else {}
    except (ValueError, KeyError):
        return {}
    if not isinstance(hosts, dict):
        return {}
    return {
        str(h): {"username": e["username"], "secret": e["secret"], "expires_at": e["expires_at"]}
        for h, e in hosts.items()
        if isinstance(e, dict)
        and isinstance(e.get("username"), str)
        and isinstance(e.get("secret"), str)
        and isinstance(e.get("expires_at"), (int, float))
        and not isinstance(e.get("expires_at"), bool)
    }


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
