"""The steps of ``ecrd service install`` and ``uninstall``: each does one thing and says it.

A step is planned first (looking, changing nothing), then carried out, or only said with
``--dry-run``. Files are written atomically and only when their bytes change; commands are
found on ``PATH``, as a user typing them would find them.
"""

from __future__ import annotations

import enum
import os
import shlex
import subprocess
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import TYPE_CHECKING

from ecrd.errors import OutputError, ServiceError
from ecrd.files import make_dirs, replace_file

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

_EXAMPLE = "data/ecrd.example.yaml"


@dataclass(frozen=True)
class Step:
    """One thing to do, with what to say once it is done and what to say instead of it.

    ``effect`` does it and returns what the program it ran printed (shown indented);
    a step without an effect is a note.
    """

    did: str
    would: str
    effect: Callable[[], str] | None = None

    @classmethod
    def note(cls, text: str) -> Step:
        """A line said as it is, with or without ``--dry-run``."""
        return cls(did=text, would=text)


class Change(enum.Enum):
    """What writing a file will do to it."""

    NEW = "new"
    CHANGED = "changed"
    SAME = "same"


@dataclass(frozen=True)
class Account:
    """A user of this host, who will own what is created in their home."""

    name: str
    uid: int
    gid: int
    home: Path


def carry_out(steps: Sequence[Step], *, dry_run: bool) -> Iterator[str]:
    """Do each step and yield what it did, line by line; only yield the steps if ``dry_run``.

    Raises:
        EcrdError: a step failed; the steps before it are done, the later ones are not.
    """
    for step in steps:
        if dry_run:
            yield step.would
            continue
        output = step.effect() if step.effect is not None else ""
        yield step.did
        yield from (f"  {line}" for line in output.splitlines() if line.strip())


def example_config() -> bytes:
    """The annotated example configuration shipped in the package."""
    return resources.files("ecrd").joinpath(_EXAMPLE).read_bytes()


def config_step(path: Path, *, owner: Account | None = None, shared: bool = False) -> Step:
    """Create the configuration from the example when there is none; never overwrite one.

    ``shared``: a file in /etc, readable by all (``0644``, directories ``0755``); otherwise
    ``0600`` in ``0700`` directories, owned by ``owner`` when one is given.
    """
    if path.exists():
        return Step.note(f"configuration: {path} (exists, left as it is)")
    return Step(
        did=(
            f"created {path} from the example: list your registries in it "
            "(ecrd applies a saved change by itself)"
        ),
        would=f"would create {path} from the example",
        effect=partial(_create_config, path, owner=owner, shared=shared),
    )


def write_step(path: Path, data: bytes, *, detail: str) -> tuple[Step, Change]:
    """Write ``data`` to ``path`` (mode ``0644``) unless it holds those bytes already.

    Raises:
        ServiceError: the file exists but cannot be read.
    """
    try:
        old: bytes | None = path.read_bytes()
    except FileNotFoundError:
        old = None
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror}"
        raise ServiceError(msg) from exc
    if old == data:
        return Step.note(f"already installed: {path} is up to date"), Change.SAME
    verb = "write" if old is None else "update"
    step = Step(
        did=f"{'wrote' if old is None else 'updated'} {path} ({detail})",
        would=f"would {verb} {path} ({detail})",
        effect=partial(_write, path, data, old),
    )
    return step, Change.NEW if old is None else Change.CHANGED


def directory_step(directory: Path, *, mode: int) -> Step:
    """Create ``directory`` and its missing parents with ``mode``."""
    return Step(
        did=f"created {directory}",
        would=f"would create {directory}",
        effect=partial(make_directories, directory, mode=mode),
    )


def remove_step(path: Path) -> Step:
    """Remove a file, or an empty directory."""
    return Step(did=f"removed {path}", would=f"would remove {path}", effect=partial(_remove, path))


def run_step(argv: list[str]) -> Step:
    """Run a command; a failure stops the steps after it."""
    line = shlex.join(argv)
    return Step(did=f"ran {line}", would=f"would run {line}", effect=partial(_run, argv))


def make_directories(directory: Path, *, mode: int, owner: Account | None = None) -> str:
    """Create ``directory`` and its missing parents with ``mode``, owned by ``owner``.

    Raises:
        ServiceError: a directory could not be created or given to ``owner``.
    """
    try:
        created = make_dirs(directory, mode=mode)
    except OutputError as exc:
        raise ServiceError(str(exc)) from exc
    for new in created:
        if owner is not None:
            _chown(new, owner)
    return ""


def _create_config(path: Path, *, owner: Account | None, shared: bool) -> str:
    make_directories(path.parent, mode=0o755 if shared else 0o700, owner=owner)
    if not replace_file(path, example_config(), expected=None, mode=0o644 if shared else 0o600):
        return f"{path} appeared meanwhile: left as it is"
    if owner is not None:
        _chown(path, owner)
    return ""


def _write(path: Path, data: bytes, old: bytes | None) -> str:
    make_directories(path.parent, mode=0o755)
    if not replace_file(path, data, expected=old, mode=0o644):
        msg = f"{path} changed while ecrd wrote it; look at it, then run the command again"
        raise ServiceError(msg)
    return ""


def _remove(path: Path) -> str:
    try:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        msg = f"cannot remove {path}: {exc.strerror}"
        raise ServiceError(msg) from exc
    return ""


def _run(argv: list[str]) -> str:
    """Run ``argv`` and return what it printed.

    Raises:
        ServiceError: the program is missing or failed; the message carries its output.
    """
    line = shlex.join(argv)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        where = "macOS only" if argv[0] == "launchctl" else "hosts running systemd"
        msg = f"cannot run `{line}`: {argv[0]} is not on PATH (this kind of service is for {where})"
        raise ServiceError(msg) from exc
    output = "\n".join(part.strip() for part in (done.stdout, done.stderr) if part.strip())
    if done.returncode != 0:
        msg = f"`{line}` failed (exit status {done.returncode}): {output or 'it printed nothing'}"
        if "--user" in argv and "connect to bus" in output:
            msg += (
                "; `systemctl --user` needs your user manager, which runs in your login session:"
                " run this as that user in a session of theirs (not through sudo or su), or"
                " use --systemd-system USER on a build host"
            )
        raise ServiceError(msg)
    return output


def _chown(path: Path, owner: Account) -> None:
    try:
        os.chown(path, owner.uid, owner.gid)
    except OSError as exc:
        msg = f"cannot give {path} to {owner.name}: {exc.strerror}"
        raise ServiceError(msg) from exc
