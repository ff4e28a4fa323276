"""Credential helpers made for tests: a recording store, and programs that misbehave."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# A docker-credential-helpers store kept in NAME.json next to the program; every call is
# appended to NAME.log as [action, server URL] (never the secret).
_RECORDING = """\
#!{python} -S
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
name = os.path.basename(__file__)
db_path, log_path = os.path.join(here, name + ".json"), os.path.join(here, name + ".log")
action = sys.argv[1]
data = sys.stdin.read()
url = json.loads(data)["ServerURL"] if action == "store" else data.strip()
with open(log_path, "a") as log:
    log.write(json.dumps([action, url, os.environ.get("FAKE_HELPER_MARK")]) + "\\n")
db = {{}}
if os.path.exists(db_path):
    with open(db_path) as f:
        db = json.load(f)
if action == "store":
    creds = json.loads(data)
    db[url] = [creds["Username"], creds["Secret"]]
elif action in ("get", "erase") and url not in db:
    print("credentials not found in native keychain")
    sys.exit(1)
elif action == "get":
    print(json.dumps({{"ServerURL": url, "Username": db[url][0], "Secret": db[url][1]}}))
elif action == "erase":
    del db[url]
elif action == "list":
    print(json.dumps({{k: v[0] for k, v in db.items()}}))
with open(db_path, "w") as f:
    json.dump(db, f)
"""


class FakeHelper:
    """``docker-credential-NAME`` in ``bin_dir``: a store that records every call."""

    def __init__(self, bin_dir: Path, name: str) -> None:
        self.name = name
        self.program = bin_dir / f"docker-credential-{name}"
        self.program.write_text(_RECORDING.format(python=sys.executable))
        self.program.chmod(0o755)
        self._db = bin_dir / f"docker-credential-{name}.json"
        self._log = bin_dir / f"docker-credential-{name}.log"

    def calls(self) -> list[tuple[str, str]]:
        """Every call so far: (action, server URL)."""
        if not self._log.exists():
            return []
        return [tuple(json.loads(line)[:2]) for line in self._log.read_text().splitlines()]

    def marks(self) -> list[str | None]:
        """The value of FAKE_HELPER_MARK each call saw in its environment."""
        return [json.loads(line)[2] for line in self._log.read_text().splitlines()]

    def forget_calls(self) -> None:
        self._log.unlink(missing_ok=True)

    def entries(self) -> dict[str, tuple[str, str]]:
        """What the store holds: server URL -> (user name, secret)."""
        if not self._db.exists():
            return {}
        return {k: (v[0], v[1]) for k, v in json.loads(self._db.read_text()).items()}

    def put(self, server_url: str, username: str, secret: str) -> None:
        """Hold an entry, as `docker login` through this helper would leave it."""
        entries = {k: list(v) for k, v in self.entries().items()}
        entries[server_url] = [username, secret]
        self._db.write_text(json.dumps(entries))


def shell_helper(bin_dir: Path, name: str, body: str) -> Path:
    """``docker-credential-NAME`` in ``bin_dir`` as a small shell script running ``body``.

    Each run appends its action to NAME.log first.
    """
    program = bin_dir / f"docker-credential-{name}"
    log = bin_dir / f"docker-credential-{name}.log"
    program.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\n{body}\n')
    program.chmod(0o755)
    return program


def shell_calls(bin_dir: Path, name: str) -> list[str]:
    """The actions a ``shell_helper`` was run with."""
    log = bin_dir / f"docker-credential-{name}.log"
    return log.read_text().split() if log.exists() else []
