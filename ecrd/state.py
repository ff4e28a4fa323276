"""What ecrd remembers between runs; the only code touching the state directory.

Per host: its registry, expiry, last refresh, last error and which outputs hold it. Per
output: which entries ecrd wrote (so that it removes only its own), with a fingerprint of
each, never the secret itself. A lock file in the same directory serialises ecrd processes
(`ecrd refresh` next to a running daemon); nothing is ever locked in an output's directory.
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

from ecrd.errors import OutputError, StateError
from ecrd.outputs._atomic import read_file, replace_file

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

STATE_FILE = "state.json"
LOCK_FILE = "lock"
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

    def to_json(self) -> dict[str, Any]:
        """Plain data, times in ISO 8601."""
        data = asdict(self)
        for key in ("expires_at", "refreshed_at"):
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


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
