"""Durations as users write them: ``90s``, ``5m``, ``4h``, ``1h30m`` or a number of seconds."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from ecrd.config.describe import describe

EXPECTED = "a duration such as 90s, 5m, 4h, 1h30m or a number of seconds"

_UNITS = re.compile(
    r"(?P<sign>[-+]?)(?=\d)(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?",
)
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")


def parse_duration(value: object) -> timedelta:
    """Read a duration: ``90s``, ``5m``, ``4h``, ``1h30m``, ``1h30m15s``, or seconds.

    A number of seconds may be an ``int``, a ``float`` or a string of digits (``"90"``,
    ``"0.5"``). Units are ``h``, ``m`` and ``s``, each at most once, in that order.

    Raises:
        ValueError: the value is not a duration, is negative or is too long; the message
            says what was expected and what was found.
    """
    seconds = _seconds(value)
    if isinstance(seconds, float) and not math.isfinite(seconds):
        msg = f"expected {EXPECTED}, got {describe(value)}"
        raise ValueError(msg)
    if seconds < 0:
        msg = f"a duration cannot be negative, got {describe(value)}"
        raise ValueError(msg)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        msg = f"a duration must be shorter than a million years, got {describe(value)}"
        raise ValueError(msg) from None


def format_duration(value: timedelta, *, rounded: bool = False) -> str:
    """A duration as users write it: ``1h30m15s``, ``90s`` is ``1m30s``, ``0s``; ``0.5s``.

    ``rounded`` gives the two largest units for people reading a table, the second one
    zero-padded (``2d03h``, ``11h59m``, ``4m05s``, ``7s``); a negative duration reads as ``0s`` then,
    as a time already passed.
    """
    if rounded:
        seconds = max(0, int(value.total_seconds()))
        days, seconds = divmod(seconds, 86400)
        hours, rest = divmod(seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        if days:
            return f"{days}d{hours:02d}h"
        if hours:
            return f"{hours}h{minutes:02d}m"
        return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
    if value.microseconds:
        return f"{value.total_seconds():g}s"
    seconds = int(value.total_seconds())
    parts = ((seconds // 3600, "h"), (seconds // 60 % 60, "m"), (seconds % 60, "s"))
    return "".join(f"{count}{unit}" for count, unit in parts if count) or "0s"


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        msg = f"expected {EXPECTED}, got {describe(value)}"
        raise ValueError(msg)  # noqa: TRY004 -- ValueError is the documented contract
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    match = _UNITS.fullmatch(text)
    if match is None or not any(match.group(u) for u in "hms"):
        msg = f"expected {EXPECTED}, got {describe(value)}"
        raise ValueError(msg)
    total = sum(int(match.group(u) or 0) * size for u, size in (("h", 3600), ("m", 60), ("s", 1)))
    return -total if match.group("sign") == "-" else total
