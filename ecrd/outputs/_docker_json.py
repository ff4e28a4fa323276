"""docker-format JSON files: read as docker reads them, written as docker writes them.

Read: an empty or missing file is ``{}``; a key given twice at the top level is read as Go's
decoder reads it into docker's ``ConfigFile`` (the objects of ``auths`` and the other maps
merge); what Python's ``json`` accepts but Go's does not (``NaN``, ``Infinity``, a BOM) is
refused. A file ecrd cannot parse is an ``OutputError`` naming the line and column of the
problem, and never quoting the file, whose values are passwords.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from ecrd.errors import OutputError

if TYPE_CHECKING:
    from pathlib import Path

_JSON_WHITESPACE = " \t\n\r"
# The top-level keys docker's ConfigFile reads as Go maps: given twice, their objects merge.
_DOCKER_MAPS = frozenset(
    {"auths", "credHelpers", "HttpHeaders", "proxies", "plugins", "aliases", "features"}
)


def render(document: dict[str, object]) -> bytes:
    """The document as docker writes it: tab indents, a final newline, UTF-8 kept readable."""
    try:
        return (json.dumps(document, indent="\t", ensure_ascii=False) + "\n").encode()
    except UnicodeEncodeError:  # a lone surrogate escape (\\ud800) read from the file
        return (json.dumps(document, indent="\t") + "\n").encode()


def parse(data: bytes | None, path: Path) -> dict[str, object]:
    """The file's JSON object; an empty or missing file is ``{}``, as docker reads it.

    Raises:
        OutputError: the file is not a JSON object with an object ``auths`` of objects.
    """
    if data is None:
        return {}
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise OutputError(_unparsable(path, line, None, "not UTF-8 text")) from exc
    if not text.strip(_JSON_WHITESPACE):
        return {}
    if text.startswith("\ufeff"):
        problem = "a byte order mark (BOM) starts the file, which docker cannot read"
        raise OutputError(_unparsable(path, 1, 1, problem))
    # "from None": a JSONDecodeError keeps the whole text, passwords included, in .doc.
    try:
        document = _loads(text)
    except json.JSONDecodeError as exc:
        raise OutputError(_unparsable(path, exc.lineno, exc.colno, exc.msg)) from None
    except _NotJsonError as exc:
        raise OutputError(_unparsable(path, None, None, str(exc))) from None
    except ValueError:  # int() refuses numbers of thousands of digits
        raise OutputError(_unparsable(path, None, None, "a number has too many digits")) from None
    except RecursionError:
        raise OutputError(_unparsable(path, None, None, "nested too deeply")) from None
    return _checked(document, text, path)


def _loads(text: str) -> object:
    """The JSON document in ``text``, a key given twice at the top level read as docker reads it.

    Raises:
        json.JSONDecodeError: it is not JSON.
        _NotJsonError: Python's json reads it, docker's does not.
        ValueError: a number has too many digits.
        RecursionError: it is nested too deeply.
    """
    repeated: dict[int, list[tuple[str, object]]] = {}

    def read_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
        read = dict(pairs)
        if len(read) < len(pairs):
            repeated[id(read)] = pairs  # alive until the end: its id is not reused
        return read

    document: object = json.loads(
        text,
        object_pairs_hook=read_object,
        parse_constant=_reject_constant,
        parse_float=_finite_float,
    )
    if isinstance(document, dict) and id(document) in repeated:
        return _as_docker_reads(repeated[id(document)])
    return document


def _as_docker_reads(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A top-level object with a key given more than once, as docker reads it.

    Go's decoder fills one map for all of them: the objects of ``auths`` (and of the other
    keys docker reads as maps) merge, a host given twice keeps its last entry; any other
    key keeps its last value. Each key stays where it first appeared. A later ``auths``
    that is not an object is an error for docker, and so it is here.

    Raises:
        _NotJsonError: a repeated ``auths`` is not an object (or null).
    """
    document: dict[str, object] = {}
    for key, value in pairs:
        old = document.get(key)
        if key == "auths" and value is not None and not isinstance(value, dict):
            msg = f'"auths" is given more than once, and one is not an object: {_kind(value)}'
            raise _NotJsonError(msg)
        if key in _DOCKER_MAPS and isinstance(old, dict) and isinstance(value, dict):
            document[key] = {**old, **value}
        else:
            document[key] = value
    return document


def _checked(document: object, text: str, path: Path) -> dict[str, object]:
    """The document, once sure that it, its ``auths`` and their entries are objects."""
    if not isinstance(document, dict):
        where = _position(text, ())
        msg = f"expected a JSON object, found {_kind(document)}"
        raise OutputError(_unparsable(path, *where, msg))
    entries = document.get("auths")
    if entries is None:
        return document
    if not isinstance(entries, dict):
        where = _position(text, ("auths",))
        msg = f'"auths" must be an object, found {_kind(entries)}'
        raise OutputError(_unparsable(path, *where, msg))
    for host, entry in entries.items():
        if not isinstance(entry, dict):
            where = _position(text, ("auths", host))
            msg = f'"auths" entry "{host}" must be an object, found {_kind(entry)}'
            raise OutputError(_unparsable(path, *where, msg))
    return document


def _unparsable(path: Path, line: int | None, column: int | None, problem: str) -> str:
    where = ""
    if line is not None:
        where = f"line {line}: " if column is None else f"line {line} column {column}: "
    return f"cannot parse {path}: {where}{problem}; fix or remove it, ecrd left it untouched"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _position(text: str, keys: tuple[str, ...]) -> tuple[int, int]:
    """Line and column of the value under ``keys`` in ``text``, a valid JSON document.

    Of keys given more than once, the last one holding the value wins, as docker reads them
    (the start of the document when none does).
    """
    found = _find(text, _skip_whitespace(text, 0), keys)
    index = 0 if found is None else found
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _find(text: str, index: int, keys: tuple[str, ...]) -> int | None:
    """Where the value under ``keys`` starts, in the value starting at ``index``."""
    if not keys:
        return index
    if text[index] != "{":
        return None
    decoder = json.JSONDecoder()
    found = None
    index = _skip_whitespace(text, index + 1)  # past "{"
    while text[index] != "}":
        name, index = decoder.raw_decode(text, index)
        index = _skip_whitespace(text, _skip_whitespace(text, index) + 1)  # past ":"
        if name == keys[0]:
            found = _find(text, index, keys[1:]) or found
        _, index = decoder.raw_decode(text, index)
        index = _skip_whitespace(text, index)
        if text[index] == ",":
            index = _skip_whitespace(text, index + 1)
    return found


def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in _JSON_WHITESPACE:
        index += 1
    return index


class _NotJsonError(ValueError):
    """What Python's json reads but docker's (Go) does not."""


def _reject_constant(name: str) -> object:
    msg = f"{name} is not valid JSON"
    raise _NotJsonError(msg)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        msg = f"the number {text[:20]} is too large"
        raise _NotJsonError(msg)
    return value
