"""The tokens file (``tokens.json``, ``0600``): the consumers' copy of every managed login.

The one file of the state directory that holds secrets: the current login of every host
the configuration manages (aliases included), whatever its outputs, for the consumers that
read nothing else (``docker-credential-ecrd``, the kubelet provider, which parse it with the
standard library alone). Not to be confused with ``ecrd.ecr``, the code that asks AWS.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ecrd import paths
from ecrd.errors import StateError
from ecrd.files import update_file
from ecrd.state._disk import ensure_directory, move_aside, read_bytes, state_errors
from ecrd.state_model import parse_tokens, render_tokens

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from pathlib import Path

    from ecrd.secret import Credentials

TOKENS_FILE = paths.TOKENS_FILE


class TokensFile:
    """``tokens.json`` in ``directory``; written inside the state file's transaction."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / TOKENS_FILE

    def write(
        self,
        *,
        tokens: Mapping[str, Credentials],
        keep: Collection[str],
        now: datetime,
    ) -> None:
        """Rewrite the file that the consumers read; call in the state's ``transaction``.

        ``tokens`` are the logins fetched for this round's hosts; the entries of ``keep``
        (managed hosts not fetched this round) stay as they were; every
        other entry goes, and so do expired ones. A file left with no entry is removed. The
        file is replaced atomically, ``0600`` in the ``0700`` state directory, and not
        written when its bytes would not change. A new token's ``refresh_at`` is unknown
        until the daemon records its schedule.

        Raises:
            StateError: the file could not be written.
        """
        path = self.path
        current = read_bytes(path)
        if current is not None and parse_tokens(current) is None:
            move_aside(path)

        def render(before: bytes | None) -> bytes | None:
            entries = {
                h: e
                for h, e in (parse_tokens(before) or {}).items()
                if h in keep and h not in tokens
            }
            for host, token in tokens.items():
                entries[host] = {
                    "username": token.username,
                    "secret": token.password.reveal(),
                    # Unix seconds: the helper compares them with time.time(), importing
                    # nothing to parse a date.
                    "expires_at": round(token.expires_at.timestamp(), 3),
                    "refresh_at": None,
                }
            live = {h: e for h, e in entries.items() if e["expires_at"] > now.timestamp()}
            return render_tokens(live) if live else None

        if render(read_bytes(path)) is None:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                msg = f"cannot remove {path}: {exc.strerror}; check the state directory's owner"
                raise StateError(msg) from exc
            return
        ensure_directory(self.directory)
        with state_errors():
            update_file(path, render=render)

    def record_schedule(self, *, next_refresh: Mapping[str, datetime | None]) -> None:
        """Note each host's next refresh (``refresh_at``) in its entry, if it has one.

        Raises:
            StateError: the file could not be written.
        """

        def render(before: bytes | None) -> bytes | None:
            entries = parse_tokens(before) if before is not None else None
            if not entries:
                return None
            for host, when in next_refresh.items():
                if host in entries:
                    entries[host]["refresh_at"] = when.timestamp() if when else None
            return render_tokens(entries)

        with state_errors():
            update_file(self.path, render=render)

    def expiries(self) -> dict[str, datetime]:
        """Each host's login expiry as the file holds it; empty when unreadable or corrupt.

        What the consumers can answer: a host missing here is served by no consumer until
        its next refresh writes it. Never raises: the worst is a refresh sooner than needed.
        """
        try:
            entries = parse_tokens(read_bytes(self.path))
        except StateError:
            return {}
        return {
            host: datetime.fromtimestamp(entry["expires_at"], tz=timezone.utc)
            for host, entry in (entries or {}).items()
        }
