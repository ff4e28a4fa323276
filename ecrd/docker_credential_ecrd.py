"""``docker-credential-ecrd``: docker's credential-helper protocol, served from ecrd's state.

With ``"credHelpers": {"HOST": "ecrd"}`` in docker's ``config.json``, docker (and podman,
skopeo, buildah) run ``docker-credential-ecrd get`` with the host on stdin whenever they
need a login. The answer comes from the tokens file that every ``ecrd refresh`` and every
round of ``ecrd run`` keep fresh in the state directory: no AWS call, no lock, standard
library only (this module imports no other ecrd module, and os.path rather than pathlib,
so that it answers in a few milliseconds).

``store`` and ``erase`` are accepted and ignored, so that ``docker login`` and
``docker logout`` do not fail; ``list`` names the hosts it can serve; ``version`` prints
the version.
"""

from __future__ import annotations

import json
import os
import sys
import time

# Not from typing, whose import costs more than the rest of this module (mypy knows the idiom).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import IO

# docker-credential-helpers' own texts: docker compares the first one byte for byte.
NOT_FOUND = "credentials not found in native keychain"
MISSING_SERVER_URL = "no credentials server URL"
USAGE = "Usage: docker-credential-ecrd <store|get|erase|list|version>"
# The name ecrd.state.TOKENS_FILE gives the file.
TOKENS_FILE = "tokens.json"


class _HelperError(Exception):
    """A protocol error: its message goes to stdout, and the exit status is 1."""


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
        return 1
    return 0


def state_dir(env: Mapping[str, str]) -> str:
    """The state directory, by the rule of ``ecrd.state.default_state_dir``."""
    if env.get("STATE_DIRECTORY"):
        return env["STATE_DIRECTORY"].split(":")[0]
    if env.get("XDG_STATE_HOME"):
        return os.path.join(env["XDG_STATE_HOME"], "ecrd")  # noqa: PTH118
    home = env.get("HOME") or os.path.expanduser("~")  # noqa: PTH111
    return os.path.join(home, ".local", "state", "ecrd")  # noqa: PTH118


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
        host = server_host(server_url)
        tokens = _live_tokens(env)
        entry = tokens.get(host) or tokens.get(host.lower())
        if entry is None:
            raise _HelperError(NOT_FOUND)
        answer = {"ServerURL": server_url, "Username": entry[0], "Secret": entry[1]}
        stdout.write(json.dumps(answer, separators=(",", ":")) + "\n")
    elif action == "list":
        listing = {host: username for host, (username, _) in _live_tokens(env).items()}
        stdout.write(json.dumps(listing, separators=(",", ":")) + "\n")
    elif action in ("store", "erase"):
        stdin.read()  # ecrd manages these logins itself: nothing to keep, nothing to fail
    elif action == "version":
        stdout.write(f"docker-credential-ecrd (ecrd) {_version()}\n")
    else:
        msg = f"Unknown credential action `{action}`"
        raise _HelperError(msg)


def _live_tokens(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Host -> (user name, secret) of every live token, from every configuration's state.

    Stand-in (daemon branch) for INTERFACES §2: ``ROOT/tokens.json`` and every
    ``ROOT/configs/*/tokens.json``; per host, the entry that expires last.
    """
    root = state_dir(env)
    configs = os.path.join(root, "configs")  # noqa: PTH118 - ecrd.paths.CONFIGS
    try:
        names = sorted(os.listdir(configs))  # noqa: PTH208 - no pathlib: start-up time
    except OSError:
        names = []
    dirs = [root, *(os.path.join(configs, n) for n in names)]  # noqa: PTH118
    paths = [os.path.join(d, TOKENS_FILE) for d in dirs]  # noqa: PTH118
    best: dict[str, tuple[float, str, str]] = {}
    for path in paths:
        for host, entry in _tokens_in(path).items():
            if host not in best or entry[0] > best[host][0]:
                best[host] = entry
    return {host: (user, secret) for host, (_, user, secret) in best.items()}


def _tokens_in(path: str) -> dict[str, tuple[float, str, str]]:
    """Host -> (expiry, user name, secret) of the live tokens in one file; none if missing."""
    try:
        with open(path, "rb") as file:  # noqa: PTH123
            document = json.load(file)
        hosts = document["hosts"]
        now = time.time()
        live: dict[str, tuple[float, str, str]] = {}
        for host, entry in hosts.items():
            expires_at = float(entry["expires_at"])  # Unix seconds
            if expires_at > now:
                live[host] = (expires_at, str(entry["username"]), str(entry["secret"]))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        msg = f"cannot read {path}: {reason}; run docker-credential-ecrd as the user who runs ecrd"
        raise _HelperError(msg) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        msg = f"cannot parse {path}; run `ecrd refresh` to write it again"
        raise _HelperError(msg) from None
    return live


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - slow import

    try:
        return version("ecrd")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
