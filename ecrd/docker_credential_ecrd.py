"""``docker-credential-ecrd``: docker's credential-helper protocol, served from ecrd's state.

With ``"credHelpers": {"HOST": "ecrd"}`` in docker's ``config.json``, docker (and podman,
skopeo, buildah, Nomad's docker driver) run ``docker-credential-ecrd get`` with the host on
stdin whenever they need a login. The answer comes from the tokens files that every
``ecrd refresh`` and every round of ``ecrd run`` keep fresh, one per configuration under
the state root (``ecrd.paths``): per host, the entry that expires last. No AWS call, no
lock.

It runs on every image pull, so it must start as fast as a bare ``python3``: it imports
``ecrd.paths`` and built-in modules only, not even ``json`` (whose ``re`` import would
double its start-up): CPython's ``_json`` accelerator parses and quotes, with ``json`` as
the fallback elsewhere.

``store`` and ``erase`` are accepted and ignored, so that ``docker login`` and
``docker logout`` do not fail; ``list`` names the hosts it can serve; ``version`` prints
the version.
"""

from __future__ import annotations

import os
import sys
import time

from ecrd import paths

# Not from typing, whose import costs more than the rest of this module (mypy knows the idiom).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import IO

# docker-credential-helpers' own texts: docker compares the first one byte for byte.
NOT_FOUND = "credentials not found in native keychain"
MISSING_SERVER_URL = "no credentials server URL"
USAGE = "Usage: docker-credential-ecrd <store|get|erase|list|version>"
# Nomad's docker driver runs one helper for every image: a "not found" fails public pulls.
EMPTY_ON_MISS = "ECRD_HELPER_EMPTY_ON_MISS"
_TRUE = ("1", "true", "yes", "on")
_WHITESPACE = " \t\n\r"


class Token:
    """One host's login as a tokens file holds it (times in Unix seconds)."""

    __slots__ = ("expires_at", "path", "refresh_at", "secret", "username")

    def __init__(
        self, *, username: str, secret: str, expires_at: float, refresh_at: float | None, path: str
    ) -> None:
        self.username = username
        self.secret = secret
        self.expires_at = expires_at
        self.refresh_at = refresh_at  # when the daemon will refresh it; None without a daemon
        self.path = path

    def __repr__(self) -> str:
        return f"Token(path={self.path!r}, expires_at={self.expires_at!r}, secret='***')"


class _HelperError(Exception):
    """A protocol error: its message goes to stdout, the hint to stderr, and the exit status is 1."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def main(argv: Sequence[str] | None = None) -> int:
    """Run one action of the protocol; return the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1:
        sys.stdout.write(f"{USAGE}\n")
        return 1
    try:
        _act(args[0], sys.stdin, sys.stdout, os.environ)
    except _HelperError as exc:
        sys.stdout.write(f"{exc}\n")
        if exc.hint:
            sys.stderr.write(f"{exc.hint}\n")
        return 1
    return 0


def server_host(server_url: str) -> str:
    """The host of a server URL, as docker reduces it: no scheme, no path.

    ``https://HOST``, ``http://HOST/v2/`` and ``HOST`` all give ``HOST`` (with its port).
    """
    url = server_url.strip()
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            url = url[len(scheme) :]
            break
    return url.split("/", 1)[0]


def _act(action: str, stdin: IO[str], stdout: IO[str], env: Mapping[str, str]) -> None:
    if action == "get":
        server_url = stdin.read().strip()
        if not server_url:
            raise _HelperError(MISSING_SERVER_URL)
        host = server_host(server_url).lower()
        tokens, problems = read_tokens(env)
        token = tokens.get(host)
        if token is None:
            if problems:
                raise _HelperError(problems[0])
            if env.get(EMPTY_ON_MISS, "").strip().lower() in _TRUE:
                stdout.write(dumps({"ServerURL": server_url, "Username": "", "Secret": ""}) + "\n")
                return
            raise _HelperError(NOT_FOUND)
        if token.expires_at <= time.time():
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(token.expires_at))
            hint = (
                f"ecrd: the token for {host} expired at {when}; is ecrd running? see `ecrd status`"
            )
            raise _HelperError(NOT_FOUND, hint=hint)
        answer = {"ServerURL": server_url, "Username": token.username, "Secret": token.secret}
        stdout.write(dumps(answer) + "\n")
    elif action == "list":
        now = time.time()
        tokens, _ = read_tokens(env)
        listing = {h: t.username for h, t in sorted(tokens.items()) if t.expires_at > now}
        stdout.write(dumps(listing) + "\n")
    elif action in ("store", "erase"):
        stdin.read()  # ecrd manages these logins itself: nothing to keep, nothing to fail
    elif action == "version":
        stdout.write(f"docker-credential-ecrd (ecrd) {_version()}\n")
    else:
        msg = f"Unknown credential action `{action}`"
        raise _HelperError(msg)


def read_tokens(env: Mapping[str, str]) -> tuple[dict[str, Token], list[str]]:
    """Host (lower case) -> the entry that expires last, across every configuration.

    Expired entries are kept (their expiry makes the hint); the caller decides. Also
    returns what could not be read, one message per file, for when nothing is found. A
    missing file holds nothing (ecrd has not refreshed yet).
    """
    root = paths.state_root(env)
    best: dict[str, Token] = {}
    problems: list[str] = []
    # The root itself holds the tokens of an ecrd from before one directory per
    # configuration, which a daemon started before an upgrade still writes.
    for directory in (root, *paths.config_state_dirs(root)):
        path = os.path.join(directory, paths.TOKENS_FILE)  # noqa: PTH118
        try:
            with open(path, "rb") as file:  # noqa: PTH123
                data = file.read()
        except FileNotFoundError:
            continue
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            problems.append(
                f"cannot read {path}: {reason}; run docker-credential-ecrd as the user who runs ecrd"
            )
            continue
        try:
            found = parse_tokens(data, path=path)
        except ValueError:
            problems.append(f"cannot parse {path}; run `ecrd refresh` to write it again")
            continue
        for host, token in found.items():
            held = best.get(host)
            if held is None or token.expires_at > held.expires_at:
                best[host] = token
    return best, problems


def parse_tokens(data: bytes, *, path: str) -> dict[str, Token]:
    """The entries of one tokens file; a malformed entry is skipped.

    Raises:
        ValueError: the file is not a tokens document at all.
    """
    document = loads(data.decode("utf-8"))
    hosts = document.get("hosts") if isinstance(document, dict) else None
    if not isinstance(hosts, dict):
        msg = "not a tokens file"
        raise ValueError(msg)  # noqa: TRY004 (the caller reports every ValueError alike)
    found: dict[str, Token] = {}
    for host, entry in hosts.items():
        if not isinstance(entry, dict):
            continue
        username, secret = entry.get("username"), entry.get("secret")
        expires_at, refresh_at = entry.get("expires_at"), entry.get("refresh_at")
        if (
            isinstance(username, str)
            and isinstance(secret, str)
            and _is_number(expires_at)
            and (refresh_at is None or _is_number(refresh_at))
        ):
            found[str(host).lower()] = Token(
                username=username,
                secret=secret,
                expires_at=float(expires_at),  # type: ignore[arg-type]
                refresh_at=None if refresh_at is None else float(refresh_at),
                path=path,
            )
    return found


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Context:
    """What ``_json.make_scanner`` reads from a ``json.JSONDecoder``: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # "NaN", "Infinity" and "-Infinity", as json.loads reads them


def loads(text: str) -> object:
    """``json.loads(text)`` without importing ``json`` for a sound document.

    Raises:
        ValueError: ``text`` is not one JSON document.
    """
    try:
        from _json import make_scanner  # noqa: PLC0415 - CPython's own accelerator
    except ImportError:  # another Python: the module, whatever it costs
        return _json_module_loads(text)
    stripped = text.strip(_WHITESPACE)
    try:
        value, end = make_scanner(_Context())(stripped, 0)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - the scanner's errors need json.decoder: let json say it
        return _json_module_loads(text)
    if end != len(stripped):
        return _json_module_loads(text)
    return value


def _json_module_loads(text: str) -> object:
    import json  # noqa: PLC0415 - only for what the fast path cannot read

    return json.loads(text)


def dumps(mapping: Mapping[str, str]) -> str:
    """``json.dumps(mapping, separators=(",", ":"))`` of strings, without importing ``json``."""
    try:
        from _json import encode_basestring_ascii as quote  # noqa: PLC0415
    except ImportError:
        import json  # noqa: PLC0415

        return json.dumps(mapping, separators=(",", ":"))
    return "{" + ",".join(f"{quote(k)}:{quote(v)}" for k, v in mapping.items()) + "}"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - slow import

    try:
        return version("ecrd")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
