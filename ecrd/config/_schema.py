"""The keys of each section, and the check of each value on its own.

A section is a mapping of keys to ``Key``s; ``read_section`` checks a mapping read from
YAML against it and reports each mistake (unknown key, missing key, bad value) at the
place in the file where it is written. The checks are plain functions that raise
``ValueError`` with a message saying what was expected and what was found: no schema is
built at import, so that ``ecrd check-config`` starts in milliseconds.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ecrd.config._located import dotted, within
from ecrd.config.describe import describe
from ecrd.config.durations import parse_duration
from ecrd.config.hosts import check_host, is_valid_region
from ecrd.config.model import OUTPUT_TYPES
from ecrd.hostport import host_name, split_port

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ecrd.config._located import DocPath, Tree
    from ecrd.config.model import OutputType

_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+", re.ASCII)
_SPACE = re.compile(r"\s")
LOOPBACK = "127.0.0.1"


# --- Values -----------------------------------------------------------------------------------


def _min_interval(value: object) -> timedelta:
    duration = parse_duration(value)
    if duration < timedelta(seconds=1):
        msg = f"expected at least 1s, got {describe(value)}"
        raise ValueError(msg)
    return duration


def _positive_duration(value: object) -> timedelta:
    duration = parse_duration(value)
    if duration <= timedelta(0):
        msg = f"expected a duration longer than 0s, got {describe(value)}"
        raise ValueError(msg)
    return duration


def _region(value: object) -> str:
    if not isinstance(value, str) or not is_valid_region(value):
        msg = f"expected an AWS region such as us-east-1, got {describe(value)}"
        raise ValueError(msg)
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = f"expected a name, got {describe(value)}"
        raise ValueError(msg)
    return value


def _role_arn(value: object) -> str:
    if not isinstance(value, str) or not _ROLE_ARN.fullmatch(value):
        msg = (
            "expected an IAM role ARN such as arn:aws:iam::123456789012:role/NAME,"
            f" got {describe(value)}"
        )
        raise ValueError(msg)
    return value


def _endpoint_url(value: object) -> str:
    if isinstance(value, str):
        scheme, _, rest = value.partition("://")
        host = rest.split("/", 1)[0]
        if scheme.lower() in ("http", "https") and host and not _SPACE.search(rest):
            return value
    msg = f"expected an http:// or https:// URL, got {describe(value)}"
    raise ValueError(msg)


def _host(value: object) -> str:
    problem = check_host(value) if isinstance(value, str) else None
    if not isinstance(value, str) or problem:
        msg = (
            "expected a host name with an optional port, such as registry.example.internal"
            f" or registry.example.internal:5000, got {describe(value)}"
        )
        raise ValueError(msg + (f" ({problem})" if problem else ""))
    return value.lower()


def _hosts(value: object) -> list[str]:
    # Each item's mistake is reported at the item: see read_section.
    if not isinstance(value, list):
        msg = f"expected a list, got {describe(value)}"
        raise ValueError(msg)  # noqa: TRY004 -- ValueError is the checks' contract
    return value


def _registry_id(value: object) -> str | int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        msg = f"expected a registry id of 12 digits, such as '123456789012', got {describe(value)}"
        raise ValueError(msg)  # noqa: TRY004 -- idem
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        msg = f"expected true or false, got {describe(value)}"
        raise ValueError(msg)  # noqa: TRY004 -- idem
    return value


def _output_type(value: object) -> OutputType:
    for known in OUTPUT_TYPES:
        if value == known:
            return known
    hint = did_you_mean(value, OUTPUT_TYPES) if isinstance(value, str) else ""
    *first, last = OUTPUT_TYPES
    msg = f"expected {', '.join(first)} or {last}, got {describe(value)}{hint}"
    raise ValueError(msg)


def _path_text(value: object) -> str:
    if not isinstance(value, str) or not value:
        msg = f"expected a file path, got {describe(value)}"
        raise ValueError(msg)
    return value


def _listen(value: object) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` (loopback); ``[::1]:PORT`` for IPv6."""
    expected = f"expected HOST:PORT such as {LOOPBACK}:9464 or [::1]:9464, got {describe(value)}"
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise ValueError(expected)
    text = value if ":" in value else f":{value}"
    if text.startswith(":"):
        text = LOOPBACK + text
    try:
        host, port = split_port(text)
    except ValueError as exc:
        msg = f"{expected} ({exc})"
        raise ValueError(msg) from None
    problem = check_host(host)
    if port is None or problem:
        raise ValueError(expected + (f" ({problem})" if problem else " (no port)"))
    return host_name(host), port


# --- Sections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One key of a section: the check of its value, and whether it must be given.

    ``null`` is "not set" for optional keys (the model's default applies) unless
    ``nullable`` is false, when the check sees it and says what was expected.
    """

    check: Callable[[object], object]
    required: bool = False
    nullable: bool = True
    items: Callable[[object], object] | None = None  # the check of each item of a list


_DURATION = Key(parse_duration, nullable=False)
_REGION = Key(_region)
_NAME = Key(_name)
_ROLE = Key(_role_arn)
_URL = Key(_endpoint_url)

REFRESH: Mapping[str, Key] = {
    "before_expiry": _DURATION,
    "jitter": _DURATION,
    "retry_initial": _DURATION,
    "retry_max": _DURATION,
    "min_interval": Key(_min_interval, nullable=False),
    "attempt_timeout": Key(_positive_duration, nullable=False),
}
METRICS: Mapping[str, Key] = {"textfile": Key(_path_text), "listen": Key(_listen)}
AWS: Mapping[str, Key] = {
    "region": _REGION,
    "profile": _NAME,
    "role_arn": _ROLE,
    "endpoint_url": _URL,
}
OUTPUT: Mapping[str, Key] = {
    "type": Key(_output_type, required=True, nullable=False),
    "path": Key(_path_text, required=True, nullable=False),
}
REGISTRY: Mapping[str, Key] = {
    "registry_id": Key(_registry_id),
    "region": _REGION,
    "profile": _NAME,
    "role_arn": _ROLE,
    "endpoint_url": _URL,
    "hosts": Key(_hosts, nullable=False, items=_host),
    "public": Key(_flag, nullable=False),
}


def read_section(
    keys: Mapping[str, Key], value: object, *, at: DocPath, tree: Tree, required: bool = False
) -> dict[str, Any] | None:  # Any: values read from YAML, each checked by its Key
    """The keys written in ``value`` (at ``at``) with their checked values, or ``None``.

    ``None`` means a mistake was found and reported to ``tree``; every mistake of the
    section is reported, not only the first. A missing section (``null``) is an empty
    mapping, unless it is ``required``. A key written as ``null`` is in the result, as
    ``None``, when its ``Key`` is nullable (a registry's ``profile: null`` overrides
    ``aws.profile``).
    """
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        tree.report(at, f"{dotted(at)}: expected a mapping, got {describe(value)}")
        return None
    out: dict[str, Any] = {}
    ok = True
    for name, key in keys.items():
        if name not in value:
            if key.required:
                tree.report(at, f"missing key '{name}' {within(at)}")
                ok = False
            continue
        written = value[name]
        if written is None and key.nullable:
            out[name] = None
            continue
        checked = _check(key, written, at=(*at, name), tree=tree)
        ok = ok and checked is not _BAD
        out[name] = checked
    for name in value:
        if name not in keys:
            report_unknown_key((*at, name), known=tuple(keys), tree=tree)
            ok = False
    return out if ok else None


_BAD = object()


def _check(key: Key, value: object, *, at: DocPath, tree: Tree) -> object:
    try:
        checked = key.check(value)
    except ValueError as exc:
        tree.report(at, f"{dotted(at)}: {exc}")
        return _BAD
    if key.items is None or not isinstance(checked, list):
        return checked
    items = [_check(Key(key.items), item, at=(*at, i), tree=tree) for i, item in enumerate(checked)]
    return _BAD if _BAD in items else tuple(items)


def report_unknown_key(path: DocPath, *, known: tuple[str, ...], tree: Tree) -> None:
    """Report the key at ``path`` as unknown, with the closest of ``known`` or all of them."""
    key = str(path[-1])
    hint = did_you_mean(key, known) or f" (expected one of: {', '.join(known)})"
    msg = f"unknown key {describe(key)} {within(path[:-1])}{hint}"
    tree.report(path, msg, key=True)


def did_you_mean(value: str, known: tuple[str, ...] | list[str]) -> str:
    """`` (did you mean 'X'?)`` with the closest of ``known``, or an empty string."""
    close = difflib.get_close_matches(value, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
