"""``docker-credential-ecrd``: docker's credential-helper protocol, served from ecrd's state.

With ``"credHelpers": {"HOST": "ecrd"}`` in docker's ``config.json``, docker (and podman,
skopeo, buildah, Nomad's docker driver) run ``docker-credential-ecrd get`` with the host on
stdin whenever they need a login. The answer comes from the tokens files that every
``ecrd refresh`` and every round of ``ecrd run`` keep fresh, one per configuration under
the state root (``ecrd.paths``), each holding the current login of every host its
configuration manages, whatever its outputs: per host, the entry that expires last. No AWS
call, no lock. The files are read as ecrd reads an output (``ecrd.safe_read``): run as
root, it never follows another user's link, nor blocks on a FIFO.

It runs on every image pull, so it must start as fast as a bare ``python3``: it imports
``ecrd.paths``, ``ecrd.hostport`` and ``ecrd.safe_read`` (standard library only, nothing
heavy) and built-in modules only, not even ``json`` (whose ``re`` import would double its
start-up): CPython's ``_json`` accelerator parses and quotes, with ``json`` as the fallback
elsewhere.

``store`` and ``erase`` are accepted and ignored, so that ``docker login`` and
``docker logout`` do not fail; ``list`` names the hosts it can serve; ``version`` prints
the version.
"""

from __future__ import annotations

import os
import sys
import time

from ecrd import paths
from ecrd.hostport import url_host
from ecrd.safe_read import RefusedFileError, read_regular

# Not from typing, whose import costs more than the rest of this module (mypy knows the idiom).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import IO

# docker-credential-helpers' own texts: docker compares the first one byte for byte.
NOT_FOUND = "credentials not found in native keychain"
MISSING_SERVER_URL = "no credentials server URL"
USAGE = "Usage: docker-credential-ecrd <store|get|erase|list|version>"
HELP = f"""{USAGE}

docker's credential helper for the Amazon ECR logins that ecrd keeps fresh. docker, podman,
skopeo and Nomad run it with a registry host on stdin (`get`); it answers from the
tokens.json files under ecrd's state directory, never calling AWS. Run it as the user who
runs ecrd, or give it ecrd's state directory:

  STATE_DIRECTORY            ecrd's state directory (/var/lib/ecrd/USER under ecrd@USER;
                             default: ~/.local/state/ecrd)
  ECRD_HELPER_EMPTY_ON_MISS  1: answer empty credentials for hosts ecrd does not manage
"""
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
    if args[0] in ("--help", "-h"):  # as docker-credential-helpers answer them
        sys.stdout.write(HELP)
        return 0
    if args[0] in ("--version", "-v"):
        args = ["version"]
    try:
        _act(args[0], sys.stdin, sys.stdout, os.environ)
    except _HelperError as exc:
        sys.stdout.write(f"{exc}\n")
        if exc.hint:
            sys.stderr.write(f"{exc.hint}\n")
        return 1
    return 0


def _act(action: str, stdin: IO[str], stdout: IO[str], env: Mapping[str, str]) -> None:
    if action == "get":
        server_url = stdin.read().strip()
        if not server_url:
            raise _HelperError(MISSING_SERVER_URL)
        host = lookup_host(server_url)
        found = read_tokens(env)
        token = found.tokens.get(host)
        if token is None:
            if found.problems:
                raise _HelperError(found.problems[0])
            if env.get(EMPTY_ON_MISS, "").strip().lower() in _TRUE:
                stdout.write(dumps({"ServerURL": server_url, "Username": "", "Secret": ""}) + "\n")
                _say(found.nothing_found())
                return
            raise _HelperError(NOT_FOUND, hint=found.nothing_found())
        if token.expires_at <= time.time():
            raise _HelperError(NOT_FOUND, hint=expired_notice(host, token.expires_at))
        answer = {"ServerURL": server_url, "Username": token.username, "Secret": token.secret}
        stdout.write(dumps(answer) + "\n")
    elif action == "list":
        now = time.time()
        found = read_tokens(env)
        listing = {h: t.username for h, t in sorted(found.tokens.items()) if t.expires_at > now}
        stdout.write(dumps(listing) + "\n")
        _say(found.nothing_found())
    elif action in ("store", "erase"):
        stdin.read()  # ecrd manages these logins itself: nothing to keep, nothing to fail
    elif action == "version":
        stdout.write(f"docker-credential-ecrd (ecrd) {_version()}\n")
    else:
        msg = f"Unknown credential action `{action}`"
        raise _HelperError(msg)


def _say(line: str | None) -> None:
    if line:
        sys.stderr.write(f"{line}\n")


def lookup_host(server_url: str) -> str:
    """The key of ``server_url``'s host in a tokens file: as ecrd's configuration writes hosts.

    The configuration keeps a host as given, in lower case (``[::1]:5000``,
    ``registry.example.internal:5000``); docker, skopeo and the kubelet ask with a URL or an
    image's host, in any case.
    """
    return url_host(server_url).lower()


def expired_notice(host: str, expires_at: float) -> str:
    """The stderr line for a host whose token has expired."""
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires_at))
    return f"ecrd: the token for {host} expired at {when}; is ecrd running? see `ecrd status`"


class Found:
    """What the tokens files under the state root hold: per host the entry expiring last.

    ``problems`` are the files that could not be read, one message each; ``files`` how
    many tokens files were read; ``looked`` the directories searched, for a message.
    """

    __slots__ = ("files", "looked", "problems", "root", "tokens", "variable")

    def __init__(self, *, root: str, variable: str | None, looked: list[str]) -> None:
        self.root = root
        self.variable = variable  # the environment variable the root came from, if any
        self.looked = looked
        self.tokens: dict[str, Token] = {}
        self.problems: list[str] = []
        self.files = 0

    def nothing_found(self) -> str | None:
        """One line saying where no tokens file was found; ``None`` when one was read."""
        if self.files or self.problems:
            return None
        source = (
            "from STATE_DIRECTORY"
            if self.variable
            else f"STATE_DIRECTORY is not set; running as uid {os.geteuid()}"
        )
        return (
            f"ecrd: no {paths.TOKENS_FILE} under {self.root} ({source}): no login of ecrd's "
            "found; set STATE_DIRECTORY to the state directory of the ecrd that manages "
            "these hosts (/var/lib/ecrd/USER under ecrd@USER), or run this as its user"
        )


def read_tokens(env: Mapping[str, str], *, directories: Sequence[str] | None = None) -> Found:
    """Host (lower case) -> the entry that expires last, across every configuration.

    ``directories`` narrows the search to those state directories (default: the state root
    and every configuration's directory under it). Expired entries are kept (their expiry
    makes the hint); the caller decides. A missing file holds nothing (ecrd has not
    refreshed yet); a file that must not be read (another user's link, a FIFO, a device, a
    file over 16 MiB) is a problem, read no further.
    """
    root = paths.state_root(env)
    if directories is None:
        # The root itself holds the tokens of an ecrd from before one directory per
        # configuration, which a daemon started before an upgrade still writes.
        directories = [root, *paths.config_state_dirs(root)]
    found = Found(
        root=root,
        variable="STATE_DIRECTORY" if env.get("STATE_DIRECTORY") else None,
        looked=list(directories),
    )
    for directory in directories:
        path = os.path.join(directory, paths.TOKENS_FILE)  # noqa: PTH118
        try:
            data = read_regular(path)
        except RefusedFileError as exc:
            found.problems.append(str(exc))
            continue
        if data is None:
            continue
        found.files += 1
        try:
            entries = parse_tokens(data, path=path)
        except ValueError:
            found.problems.append(f"cannot parse {path}; run `ecrd refresh` to write it again")
            continue
        for host, token in entries.items():
            held = found.tokens.get(host)
            if held is None or token.expires_at > held.expires_at:
                found.tokens[host] = token
    return found


def parse_tokens(data: bytes, *, path: str) -> dict[str, Token]:
    """The entries of one tokens file; a malformed entry is skipped.

    An entry whose expiry is no Unix seconds ecrd could have written (``NaN``,
    ``Infinity``, ``1e300``, before 1970 or past the year 9999) is malformed; such a
    ``refresh_at`` reads as unknown.

    Raises:
        ValueError: the file is not a tokens document at all.
    """
    try:
        document = loads(data.decode("utf-8"))
    except RecursionError:
        msg = "nested too deep"
        raise ValueError(msg) from None
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
        if isinstance(username, str) and isinstance(secret, str) and _is_time(expires_at):
            found[str(host).lower()] = Token(
                username=username,
                secret=secret,
                expires_at=float(expires_at),  # type: ignore[arg-type]
                # A refresh time that is no time: not scheduled, as far as anyone can tell.
                refresh_at=float(refresh_at) if _is_time(refresh_at) else None,  # type: ignore[arg-type]
                path=path,
            )
    return found


# 9999-12-31T23:59:59Z: later is no time a token expires (and what time.gmtime can show).
_LAST_SECOND = 253402300799


def _is_time(value: object) -> bool:
    """Unix seconds between 1970 and the year 9999 (NaN and infinities are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 <= value <= _LAST_SECOND


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
