"""A configuration value as messages show it: as YAML would spell it, or what kind it is."""

from __future__ import annotations

from datetime import date, datetime

_SHOWN = 60  # characters of a string shown in a message


def describe(value: object) -> str:  # noqa: PLR0911 -- one return per kind of value
    """A short description of a configuration value, as YAML would spell it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= _SHOWN else value[: _SHOWN - 3] + "..."
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)
        return "'" + shown.replace("'", "''") + "'"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"
