"""The state and tokens files' contents: plain values, and their JSON, read strictly.

Dataclasses with a small, explicit to/from-dict, not a validation library: the state is read
by `ecrd status` and at every start, where pydantic's schema build would cost more than the
whole read, and the format must stay a readable, versioned JSON document that ecrd owns
field by field. Reading is strict: a document of another shape is corrupt (``None``), and
the caller moves it aside instead of guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

VERSION = 2  # 2: "config", "next_refresh_at", tokens' "refresh_at"; 1 is read too
_TIMES = ("expires_at", "refreshed_at", "next_refresh_at")


@dataclass
class HostState:
    """The last known condition of one registry host."""

    host: str
    registry_id: str | None
    region: str
    group: str
    expires_at: datetime | None = None
    refreshed_at: datetime | None = None
    # When the daemon will next refresh it; meaningful only while a daemon runs.
    next_refresh_at: datetime | None = None
    last_error: str | None = None
    error_code: str | None = None
    outputs: list[str] = field(default_factory=list)
    # What users should act on though the host was written (a login another file shadows,
    # for instance), from the last round that wrote it.
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain data, times in ISO 8601."""
        return {
            "host": self.host,
            "registry_id": self.registry_id,
            "region": self.region,
            "group": self.group,
            **{k: _time_text(getattr(self, k)) for k in _TIMES},
            "last_error": self.last_error,
            "error_code": self.error_code,
            "outputs": list(self.outputs),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: object) -> HostState:
        """Read what ``to_json`` wrote.

        Raises:
            ValueError: ``data`` is not of that shape.
        """
        entry = _mapping(data)
        return cls(
            host=_text(entry["host"]),
            registry_id=_optional_text(entry.get("registry_id")),
            region=_text(entry.get("region", "")),
            group=_text(entry.get("group", "")),
            expires_at=_parse_time(entry.get("expires_at")),
            refreshed_at=_parse_time(entry.get("refreshed_at")),
            next_refresh_at=_parse_time(entry.get("next_refresh_at")),
            last_error=_optional_text(entry.get("last_error")),
            error_code=_optional_text(entry.get("error_code")),
            outputs=[_text(p) for p in _list(entry.get("outputs", []))],
            warnings=[_text(w) for w in _list(entry.get("warnings", []))],
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
    # output path -> what this configuration wrote there
    owned: dict[str, OwnedEntries] = field(default_factory=dict)
    config_error: str | None = None
    # Why the metrics textfile could not be written last time; None when it was (or none is set).
    metrics_error: str | None = None
    # The absolute path of the configuration file this state belongs to.
    config: str | None = None


def render_state(state: State) -> bytes:
    """The state file's bytes: one line, keys sorted where order means nothing.

    Not indented: json's C encoder only writes unindented JSON, and the indenting one in
    Python took longer than the rest of a 1,000-registry round's state work together.
    ``ecrd status`` is the way to read the state.
    """
    document = {
        "version": VERSION,
        "config": state.config,
        "hosts": {h: s.to_json() for h, s in sorted(state.hosts.items())},
        "owned": {
            p: {"type": o.type, "entries": dict(sorted(o.entries.items()))}
            for p, o in sorted(state.owned.items())
            if o.entries
        },
        "config_error": state.config_error,
        "metrics_error": state.metrics_error,
    }
    return (json.dumps(document) + "\n").encode()


def parse_state(data: bytes) -> State | None:
    """The state in ``data``; ``None`` when it is not a state file ecrd wrote."""
    try:
        document = _mapping(json.loads(data))
        _version(document)
        hosts = {_text(h): HostState.from_json(s) for h, s in _mapping(document["hosts"]).items()}
        owned = {}
        for path, value in _mapping(document.get("owned", {})).items():
            output = _mapping(value)
            entries = {_text(h): _text(f) for h, f in _mapping(output["entries"]).items()}
            owned[_text(path)] = OwnedEntries(type=_text(output["type"]), entries=entries)
        return State(
            hosts=hosts,
            owned=owned,
            config_error=_optional_text(document.get("config_error")),
            metrics_error=_optional_text(document.get("metrics_error")),
            config=_optional_text(document.get("config")),
        )
    except (ValueError, KeyError, TypeError):  # json's errors, UnicodeDecodeError: ValueError
        return None


def render_tokens(entries: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The tokens file's bytes (see ``parse_tokens``), on one line as the state file."""
    document = {"version": 1, "hosts": dict(sorted(entries.items()))}
    return (json.dumps(document) + "\n").encode()


def parse_tokens(data: bytes | None) -> dict[str, dict[str, Any]] | None:
    """Host -> ``{"username", "secret", "expires_at", "refresh_at"}``; ``None`` when corrupt.

    ``expires_at`` and ``refresh_at`` (``None``: not scheduled) are Unix seconds.
    """
    if data is None:
        return {}
    try:
        document = _mapping(json.loads(data))
        _version(document)
        entries: dict[str, dict[str, Any]] = {}
        for host, value in _mapping(document["hosts"]).items():
            entry = _mapping(value)
            refresh_at = entry.get("refresh_at")
            entries[_text(host)] = {
                "username": _text(entry["username"]),
                "secret": _text(entry["secret"]),
                "expires_at": _seconds(entry["expires_at"]),
                "refresh_at": None if refresh_at is None else _seconds(refresh_at),
            }
    except (ValueError, KeyError, TypeError):
        return None
    return entries


def _version(document: Mapping[str, object]) -> None:
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        msg = "no version"
        raise ValueError(msg)


def _mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        msg = "not an object"
        raise TypeError(msg)
    return value


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        msg = "not a list"
        raise TypeError(msg)
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        msg = "not a string"
        raise TypeError(msg)
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = "not a number"
        raise TypeError(msg)
    return float(value)


def _time_text(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: object) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(_text(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
