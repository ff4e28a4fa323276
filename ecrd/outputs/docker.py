"""Docker's ``config.json``: set ``auths`` entries, keep everything else as it was."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ecrd.errors import OutputError
from ecrd.outputs import Login, WriteResult, fingerprint
from ecrd.outputs._atomic import update_file

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from ecrd.config.model import OutputSpec

_JSON_WHITESPACE = " \t\n\r"


@dataclass(frozen=True)
class _Merge:
    data: bytes | None  # None: nothing to change
    removed: tuple[str, ...]


class DockerOutput:
    """A docker-format ``config.json`` (also podman's ``auth.json`` and helm's registry config).

    Each managed host gets ``auths[host] = {"auth": base64("AWS:" + password)}``, replacing
    the host's old entry whole, as ``docker login`` does. Other keys and entries keep their
    values and order; the file is written as docker writes it (tab indents).
    """

    def __init__(self, spec: OutputSpec) -> None:
        self.spec = spec

    def apply(self, *, logins: Mapping[str, Login], remove: Mapping[str, str]) -> WriteResult:
        """Set ``logins`` and drop the entries in ``remove``, in one atomic write at most.

        Raises:
            OutputError: the file could not be read, parsed or written; it is unchanged.
        """
        path = self.spec.path
        auths = {host: login.password.docker_auth(login.username) for host, login in logins.items()}
        merged = _Merge(data=None, removed=())
        warnings: tuple[str, ...] = ()

        def render(before: bytes | None) -> bytes | None:
            nonlocal merged, warnings
            document = _parse(before, path)
            warnings = _shadowed(document, auths, path)
            merged = _merge(document, auths, remove)
            return merged.data

        written = update_file(path, render=render)
        return WriteResult(
            path=path,
            written=written,
            fingerprints={host: fingerprint(auth) for host, auth in auths.items()},
            removed=merged.removed if written else (),
            warnings=warnings,
        )


def _merge(
    document: dict[str, object], auths: Mapping[str, str], remove: Mapping[str, str]
) -> _Merge:
    """Apply ``auths`` and ``remove`` to ``document`` (in place); render it if it changed."""
    entries = document.get("auths")
    if not isinstance(entries, dict):  # absent or null
        if not auths:
            return _Merge(data=None, removed=())
        entries = {}
        document["auths"] = entries
    changed = False
    for host, auth in auths.items():
        entry = {"auth": auth}
        if entries.get(host) != entry:
            entries[host] = entry
            changed = True
    removed: list[str] = []
    for host, digest in remove.items():
        if host in auths:
            continue
        old = entries.get(host)
        value = old.get("auth") if isinstance(old, dict) else None
        if isinstance(value, str) and fingerprint(value) == digest:
            del entries[host]
            removed.append(host)
    if not changed and not removed:
        return _Merge(data=None, removed=())
    return _Merge(data=_render(document), removed=tuple(removed))


def _render(document: dict[str, object]) -> bytes:
    """The document as docker writes it: tab indents, a final newline, UTF-8 kept readable."""
    try:
        return (json.dumps(document, indent="\t", ensure_ascii=False) + "\n").encode()
    except UnicodeEncodeError:  # a lone surrogate escape (\\ud800) read from the file
        return (json.dumps(document, indent="\t") + "\n").encode()


def _shadowed(document: dict[str, object], auths: Mapping[str, str], path: Path) -> tuple[str, ...]:
    """Warnings for managed hosts whose ``auths`` entry docker skips for a credential helper.

    Docker asks ``credHelpers[host]`` when the key exists (an empty value means "use
    auths"), else ``credsStore`` when it is set.
    """
    helpers = document.get("credHelpers")
    helpers = helpers if isinstance(helpers, dict) else {}
    store = document.get("credsStore")
    warnings: list[str] = []
    for host in auths:
        if host in helpers:
            name = helpers[host]
            if isinstance(name, str) and name:
                warnings.append(
                    f"{host}: docker reads this host's credentials from the credential helper "
                    f"'docker-credential-{name}' (credHelpers in {path}), not from auths; ecrd "
                    f"wrote auths, which docker will not use: remove {host} from credHelpers, "
                    "or use a helper ecrd can store into"
                )
        elif isinstance(store, str) and store:
            warnings.append(
                f"{host}: docker reads this host's credentials from the credential helper "
                f"'docker-credential-{store}' (credsStore in {path}), not from auths; ecrd "
                f'wrote auths, which docker will not use: remove credsStore, or set credHelpers["{host}"] '
                'to "" so that docker reads auths for this host'
            )
    return tuple(warnings)


def _parse(data: bytes | None, path: Path) -> dict[str, object]:
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
        document: object = json.loads(
            text, parse_constant=_reject_constant, parse_float=_finite_float
        )
    except json.JSONDecodeError as exc:
        raise OutputError(_unparsable(path, exc.lineno, exc.colno, exc.msg)) from None
    except _NotJsonError as exc:
        raise OutputError(_unparsable(path, None, None, str(exc))) from None
    except ValueError:  # int() refuses numbers of thousands of digits
        raise OutputError(_unparsable(path, None, None, "a number has too many digits")) from None
    except RecursionError:
        raise OutputError(_unparsable(path, None, None, "nested too deeply")) from None
    return _checked(document, text, path)


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

    Later duplicates of a key win, as in ``json.loads``.
    """
    decoder = json.JSONDecoder()
    index = _skip_whitespace(text, 0)
    for key in keys:
        index = _skip_whitespace(text, index + 1)  # past "{"
        found = index
        while text[index] != "}":
            name, index = decoder.raw_decode(text, index)
            index = _skip_whitespace(text, _skip_whitespace(text, index) + 1)  # past ":"
            if name == key:
                found = index
            _, index = decoder.raw_decode(text, index)
            index = _skip_whitespace(text, index)
            if text[index] == ",":
                index = _skip_whitespace(text, index + 1)
        index = found
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


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
