"""What ecrd remembers between runs; the only code touching the state directory.

Each configuration file has its own state directory (``paths.config_state_dir``): per host
its registry, expiry, last refresh, next scheduled refresh, last error, warnings and which
outputs hold it; per output which entries this configuration wrote (so that it removes only
its own), with a fingerprint of each, never the secret itself. A lock file in the same
directory serialises ecrd processes of one configuration (`ecrd refresh` next to a running
daemon); a second one (``daemon.lock``) is held by the one `ecrd run` serving it. Nothing
is ever locked in an output's directory.

The tokens file (``tokens.json``, ``0600``) is the one place here that holds secrets: the
current login of every host the configuration manages (aliases included), whatever its
outputs, for the consumers that read nothing else (``docker-credential-ecrd``, the kubelet
provider).

A state or tokens file that cannot be read as what ecrd wrote (empty, truncated, garbage,
another shape) is moved aside as ``NAME.corrupt-<UTC time>``, logged ``state_corrupt``, and
read as no state: a power cut must never keep ecrd from starting.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ecrd import paths
from ecrd.errors import AlreadyRunningError, OutputError, StateError
from ecrd.files import make_dirs, read_file, replace_file, update_file
from ecrd.logs import get_logger
from ecrd.state_model import (
    HostState,
    OwnedEntries,
    State,
    parse_state,
    parse_tokens,
    render_state,
    render_tokens,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping

    from ecrd.secret import Credentials

__all__ = ["HostState", "OwnedEntries", "State", "StateStore", "default_state_dir"]

STATE_FILE = paths.STATE_FILE
TOKENS_FILE = paths.TOKENS_FILE
LOCK_FILE = "lock"
DAEMON_LOCK_FILE = "daemon.lock"

log = get_logger("ecrd")

# Daemon locks this process holds, by directory: holding one twice is a no-op, not a
# deadlock (flock conflicts between two descriptors of one process).
_HELD: set[str] = set()
# The daemon lock holds its pid padded to this many bytes (see ``_write_pid``).
_PID_WIDTH = 16


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """The state root (``paths.state_root``), which holds every configuration's state."""
    return Path(paths.state_root(env))


class StateStore:
    """The state directory of one configuration."""

    def __init__(self, directory: Path, *, config: Path | None = None) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self.config = config

    @classmethod
    def for_config(cls, config_path: Path, *, env: Mapping[str, str] | None = None) -> StateStore:
        """The store of ``config_path``, under ``paths.state_root(env)``.

        A state file left directly in the root by an older ecrd (one state for every
        configuration) is moved, once, into the default configuration's directory, so that
        the entries it owns are not orphaned by the upgrade.
        """
        root = paths.state_root(env)
        absolute = Path(os.path.abspath(config_path))  # noqa: PTH100 - no symlink resolution
        directory = Path(paths.config_state_dir(root=root, config=str(absolute)))
        store = cls(directory, config=absolute)
        if (Path(root) / STATE_FILE).exists():
            store._adopt_legacy(Path(root), env)
        return store

    @classmethod
    def for_user(cls, config_path: Path, *, env: Mapping[str, str] | None = None) -> StateStore:
        """Like ``for_config``, for a configuration the user did not name (`ecrd status`).

        When that configuration has no state and the root holds exactly one
        configuration's state (the template unit's, run with its own configuration file),
        that one is the store: its ``config`` is read from its state file.
        """
        store = cls.for_config(config_path, env=env)
        if store.directory.exists():
            return store
        found = [
            Path(d) for d in paths.config_state_dirs(paths.state_root(env)) if Path(d).is_dir()
        ]
        if len(found) != 1:
            return store
        other = cls(found[0])
        state = other.read()
        if state is not None and state.config:
            other.config = Path(state.config)
        return other

    def read(self) -> State | None:
        """The state as last saved, or ``None`` when there is none (or it was corrupt)."""
        data = self._read_bytes(self.path)
        if data is None:
            return None
        state = self._parse_or_move_aside(data)
        if state is not None and self.config is not None and state.config is None:
            state.config = str(self.config)
        return state

    @contextlib.contextmanager
    def transaction(self) -> Iterator[State]:
        """Lock the directory, load the state, yield it, and save it if it changed.

        Raises:
            StateError: the directory could not be locked, or the state not saved.
        """
        with self._locked(LOCK_FILE):
            before = self._read_bytes(self.path)
            state = None if before is None else self._parse_or_move_aside(before)
            if state is None:
                before = None
                state = State()
            if self.config is not None:
                state.config = str(self.config)
            yield state
            after = render_state(state)
            if after != before:
                self._save(after, before)

    def write_tokens(
        self,
        *,
        tokens: Mapping[str, Credentials],
        keep: Collection[str],
        now: datetime,
    ) -> None:
        """Rewrite the tokens file that the consumers read; call in ``transaction``.

        ``tokens`` are the logins fetched for this round's hosts; the entries of ``keep``
        (managed hosts not fetched this round) stay as they were; every
        other entry goes, and so do expired ones. A file left with no entry is removed. The
        file is replaced atomically, ``0600`` in the ``0700`` state directory, and not
        written when its bytes would not change. A new token's ``refresh_at`` is unknown
        until the daemon records its schedule.

        Raises:
            StateError: the file could not be written.
        """
        path = self.directory / TOKENS_FILE
        current = self._read_bytes(path)
        if current is not None and parse_tokens(current) is None:
            self._move_aside(path)

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

        try:
            if render(self._read_bytes(path)) is None:
                path.unlink(missing_ok=True)
                return
            self._ensure_directory()
            update_file(path, render=render)
        except OutputError as exc:
            raise StateError(str(exc)) from exc
        except OSError as exc:
            msg = f"cannot remove {path}: {exc.strerror}; check the state directory's owner"
            raise StateError(msg) from exc

    def record_schedule(self, *, next_refresh: Mapping[str, datetime | None]) -> None:
        """Note when the daemon will next refresh each host (state and tokens file).

        Raises:
            StateError: the state could not be saved.
        """
        with self.transaction() as state:
            for host, when in next_refresh.items():
                if host in state.hosts:
                    state.hosts[host].next_refresh_at = when
            path = self.directory / TOKENS_FILE

            def render(before: bytes | None) -> bytes | None:
                entries = parse_tokens(before) if before is not None else None
                if not entries:
                    return None
                for host, when in next_refresh.items():
                    if host in entries:
                        entries[host]["refresh_at"] = when.timestamp() if when else None
                return render_tokens(entries)

            try:
                update_file(path, render=render)
            except OutputError as exc:
                raise StateError(str(exc)) from exc

    @contextlib.contextmanager
    def hold_daemon_lock(self) -> Iterator[None]:
        """Hold this configuration's daemon lock, with this process's pid in it.

        Raises:
            AlreadyRunningError: another `ecrd run` serves this configuration.
            StateError: the lock file could not be opened.
        """
        key = os.path.realpath(self.directory)
        if key in _HELD:
            yield
            return
        self._ensure_directory()
        fd = self._open_lock(DAEMON_LOCK_FILE)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fd)
                configuration = self.config or self.directory
                msg = (
                    f"already running (pid {pid if pid is not None else 'unknown'}) "
                    f"for {configuration}; stop that one first, or use another configuration"
                )
                raise AlreadyRunningError(msg) from None
            _write_pid(fd, self.directory / DAEMON_LOCK_FILE, os.getpid())
            _HELD.add(key)
            try:
                yield
            finally:
                _HELD.discard(key)
                with contextlib.suppress(OSError):  # blanks over bytes it holds: no space needed
                    os.pwrite(fd, b" " * _PID_WIDTH, 0)
        finally:
            os.close(fd)

    def daemon_pid(self) -> int | None:
        """The pid of the `ecrd run` holding this configuration's daemon lock, else ``None``."""
        try:
            fd = os.open(self.directory / DAEMON_LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_pid(fd)
            return None  # nobody holds it: the pid in it, if any, is a stopped daemon's
        finally:
            os.close(fd)

    def others_owned(self) -> dict[str, set[str]]:
        """What the other configurations under the same root own: output path -> hosts.

        Read without their locks: a removal checked against it is at worst deferred.
        """
        owned: dict[str, set[str]] = {}
        for directory in paths.config_state_dirs(str(self.directory.parent.parent)):
            if Path(directory) == self.directory:
                continue
            try:
                data = read_file(Path(directory) / STATE_FILE)
            except OutputError:
                continue
            state = parse_state(data) if data is not None else None
            for path, entries in (state.owned if state else {}).items():
                owned.setdefault(path, set()).update(entries.entries)
        return owned

    def _adopt_legacy(self, root: Path, env: Mapping[str, str] | None) -> None:
        """Move an older ecrd's root state (and tokens) here, if this is the default config."""
        from ecrd.config.load import default_config_path  # noqa: PLC0415 - upgrades only

        default = os.path.abspath(default_config_path(env=env))  # noqa: PTH100
        if str(self.config) != default or self.path.exists():
            return
        self._ensure_directory()
        moved = [n for n in (STATE_FILE, TOKENS_FILE) if _move_new(root / n, self.directory / n)]
        if moved:
            log.info("state_migrated", source=str(root), path=str(self.directory), files=moved)

    def _save(self, after: bytes, before: bytes | None) -> None:
        try:
            saved = replace_file(self.path, after, expected=before, mode=0o600)
        except OutputError as exc:
            raise StateError(str(exc)) from exc
        if not saved:
            msg = (
                f"{self.path} changed while ecrd held its lock (another program writes it); "
                "this round's state was not saved: stop that program"
            )
            raise StateError(msg)

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        self._ensure_directory()
        fd = self._open_lock(name)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _open_lock(self, name: str) -> int:
        path = self.directory / name
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            msg = f"cannot open {path}: {exc.strerror}; check the state directory's owner and mode"
            raise StateError(msg) from exc

    def _ensure_directory(self) -> None:
        try:
            make_dirs(self.directory)
        except OutputError as exc:
            raise StateError(str(exc)) from exc

    def _read_bytes(self, path: Path) -> bytes | None:
        try:
            return read_file(path)
        except OutputError as exc:
            raise StateError(str(exc)) from exc

    def _parse_or_move_aside(self, data: bytes) -> State | None:
        state = parse_state(data)
        if state is None:
            self._move_aside(self.path)
        return state

    def _move_aside(self, path: Path) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        try:
            path.rename(aside)
        except OSError as exc:
            log.error("state_corrupt", path=str(path), moved_to=None, error=exc.strerror)
            return
        log.error("state_corrupt", path=str(path), moved_to=str(aside))


def _move_new(source: Path, target: Path) -> bool:
    """Move ``source`` to ``target`` unless ``target`` exists; whether it moved."""
    try:
        # link, then unlink: never over a file a concurrent process has just written
        os.link(source, target)
        source.unlink()
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.EEXIST):
            log.warning("state_migration_failed", path=str(source), error=exc.strerror)
        return False
    return True


def _write_pid(fd: int, path: Path, pid: int) -> None:
    """Write ``pid`` over the daemon lock's first bytes, padded to a fixed width.

    The width never changes and a stop writes blanks over the pid instead of truncating the
    file, so a restart overwrites bytes the file already holds: that needs no free space, and
    a daemon restarted while the state file system is full still says which pid it is. A lock
    file that never held a pid needs a block; when the file system cannot give one, the
    daemon serves all the same (the lock is held; only the pid is unknown to ``status``).
    """
    try:
        os.pwrite(fd, f"{pid}\n".encode().ljust(_PID_WIDTH), 0)
        os.ftruncate(fd, _PID_WIDTH)  # an older, longer content: only ever shrinks
    except OSError as exc:
        log.error(
            "state_failed",
            path=str(path),
            error=f"cannot write the daemon's pid into {path}: {exc.strerror}",
            effect="the daemon runs; `ecrd status` cannot tell its pid until it restarts",
        )


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (ValueError, OSError):
        return None
