"""A client of docker's credential helpers (``docker-credential-NAME``), as docker runs them.

The protocol of github.com/docker/docker-credential-helpers: the action is the only
argument; ``store`` reads ``{"ServerURL", "Username", "Secret"}`` JSON on stdin, ``get``
and ``erase`` read the server URL, ``list`` prints ``{"ServerURL": "Username"}``. A helper
reports an error by exiting non-zero with its message on stdout.

Helpers run with ecrd's own environment (``pass`` needs ``GNUPGHOME`` and
``PASSWORD_STORE_DIR``), never through a shell, in a session of their own, so that a helper
that hangs is killed with whatever it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ecrd.errors import EcrdError
from ecrd.secret import Credentials, Secret

if TYPE_CHECKING:
    from collections.abc import Collection

PREFIX: Final = "docker-credential-"
DEFAULT_TIMEOUT: Final = 10.0
# What every helper of docker-credential-helpers prints for an unknown server URL.
NOT_FOUND: Final = "credentials not found in native keychain"
# What a helper that cannot store prints (amazon-ecr-credential-helper's ecr-login).
NOT_IMPLEMENTED: Final = "not implemented"

_EXCERPT_LENGTH = 200
# A run this long of base64 characters may be a token: it is never quoted.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9+/=_-]{32,}")
# A window this long of a known secret found in a message withholds the whole message.
_SECRET_WINDOW = 12


class HelperError(EcrdError):
    """A credential helper is missing, failed, hung or refused the action.

    ``broken`` is true when the helper cannot be used at all (missing, hung, refusing
    ``store``): the caller skips its other calls in the same round. The message names the
    program and the action, and never carries a secret.
    """

    def __init__(self, message: str, *, broken: bool = False) -> None:
        super().__init__(message)
        self.broken = broken


@dataclass(frozen=True)
class CredentialHelper:
    """The program ``docker-credential-NAME``, found on ``PATH`` when it is first run."""

    name: str
    timeout: float = DEFAULT_TIMEOUT

    @property
    def program(self) -> str:
        """The program's name, as users see it in their configuration and on ``PATH``."""
        return PREFIX + self.name

    def store(self, *, server_url: str, login: Credentials) -> None:
        """Store ``login`` under ``server_url``, replacing what the helper held for it.

        Raises:
            HelperError: the helper is missing, failed, hung or cannot store.
        """
        data = json.dumps(
            {
                "ServerURL": server_url,
                "Username": login.username,
                "Secret": login.password.reveal(),
            }
        )
        secret = login.password.reveal()
        self._run("store", data, secrets=(secret, login.password.docker_auth(login.username)))

    def get(self, server_url: str) -> tuple[str, Secret] | None:
        """The user name and secret the helper holds for ``server_url``; ``None`` for nothing.

        Raises:
            HelperError: the helper is missing, failed, hung or answered nonsense.
        """
        try:
            out = self._run("get", server_url)
        except _NotFoundError:
            return None
        try:
            answer = json.loads(out)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            msg = f"{self.program} get answered something that is not credentials JSON"
            raise HelperError(msg) from None
        username, secret = answer.get("Username"), answer.get("Secret")
        if not isinstance(username, str) or not isinstance(secret, str):
            msg = f"{self.program} get answered JSON without a Username and a Secret"
            raise HelperError(msg)
        if not username and not secret:  # docker-credential-pass's way of saying "not found"
            return None
        return username, Secret(secret)

    def erase(self, server_url: str) -> None:
        """Erase what the helper holds for ``server_url``; nothing held is not an error.

        Raises:
            HelperError: the helper is missing, failed or hung.
        """
        with contextlib.suppress(_NotFoundError):
            self._run("erase", server_url)

    def list(self) -> dict[str, str]:
        """Every server URL the helper holds, with its user name.

        Raises:
            HelperError: the helper is missing, failed, hung or answered nonsense.
        """
        out = self._run("list", "")
        try:
            answer = json.loads(out)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            msg = f"{self.program} list answered something that is not a JSON object"
            raise HelperError(msg) from None
        return {str(k): str(v) for k, v in answer.items()}

    def _run(self, action: str, data: str, *, secrets: Collection[str] = ()) -> str:
        """Run ``PROGRAM ACTION`` with ``data`` on stdin; return its stdout.

        Raises:
            HelperError: as for the public methods.
            _NotFoundError: the helper answered docker's "credentials not found".
        """
        path = shutil.which(self.program)
        if path is None:
            msg = f"{self.program} is not installed (not found on PATH)"
            raise HelperError(msg, broken=True)
        try:
            process = subprocess.Popen(
                [path, action],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            msg = f"cannot run {path}: {reason}"
            raise HelperError(msg, broken=True) from None
        with process:
            try:
                out, err = process.communicate(data.encode(), timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill(process)
                msg = f"{self.program} {action} did not answer within {self.timeout:g} s"
                raise HelperError(msg, broken=True) from None
        stdout = out.decode(errors="replace")
        if process.returncode == 0:
            return stdout
        message = stdout.strip() or err.decode(errors="replace").strip()
        if message == NOT_FOUND:
            raise _NotFoundError
        if action == "store" and message.lower() == NOT_IMPLEMENTED:
            msg = f'{self.program} cannot store credentials (it answers "{NOT_IMPLEMENTED}")'
            raise HelperError(msg, broken=True)
        status = _exit_status(process.returncode)
        said = _excerpt(message, secrets)
        msg = f"{self.program} {action} failed ({status}){': ' + said if said else ''}"
        raise HelperError(msg)


class _NotFoundError(Exception):
    """The helper answered docker's "credentials not found" message."""


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the helper and everything it started (its session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.kill()
    # Leaving the ``with`` block reaps it; a grandchild that left the session and still
    # holds the pipes is not waited for: the pipes are closed there.


def _exit_status(returncode: int) -> str:
    """How the helper ended, for users: its exit status, or the signal that killed it."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def _excerpt(message: str, secrets: Collection[str]) -> str:
    """The first line of a helper's message, short, with nothing that may be a secret.

    A helper may repeat its input: runs that look like tokens are masked, and a message
    that still holds a piece of a known secret is withheld whole.
    """
    line = next((s.strip() for s in message.splitlines() if s.strip()), "")
    line = "".join(c if c.isprintable() else "?" for c in line)
    if len(line) > _EXCERPT_LENGTH:
        line = line[:_EXCERPT_LENGTH] + "..."
    line = _TOKEN_LIKE.sub("***", line)
    windows = (line[i : i + _SECRET_WINDOW] for i in range(len(line) - _SECRET_WINDOW + 1))
    if any(w in s for w in windows for s in secrets if s):
        return "(its message is not shown: it repeats part of the credentials)"
    return line
