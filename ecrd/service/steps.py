"""The steps of ``ecrd service install`` and ``uninstall``: each does one thing and says it.

A step is planned first (looking, changing nothing), then carried out, or only said with
``--dry-run``. Files are written atomically and only when their bytes change; commands are
found on ``PATH``, as a user typing them would find them.

When a step of an install fails, the files the install wrote are put back as they were
(``undo``), so that a failed install leaves nothing half-done; an uninstall goes on past a
failed step (``keep_going``), so that its files are removed even when ``systemctl`` fails.
"""

from __future__ import annotations

import enum
import shlex
import subprocess
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from ecrd.errors import FileError, ServiceError
from ecrd.files import replace_file
from ecrd.service.account import as_account
from ecrd.service.configuration import (
    Found,
    create,
    example_config,
    make_dirs,
    remove_if_example,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from ecrd.service.account import Account


@dataclass(frozen=True)
class Step:
    """One thing to do, with what to say once it is done and what to say instead of it.

    ``effect`` does it and returns what the program it ran printed (shown indented); a
    step without an effect is a note. ``undo`` puts back what ``effect`` changed and
    returns a line saying so.
    """

    did: str
    would: str
    effect: Callable[[], str] | None = None
    undo: Callable[[], str] | None = None

    @classmethod
    def note(cls, text: str) -> Step:
        """A line said as it is, with or without ``--dry-run``."""
        return cls(did=text, would=text)


class Change(enum.Enum):
    """What writing a file will do to it."""

    NEW = "new"
    CHANGED = "changed"
    SAME = "same"


def carry_out(steps: Sequence[Step], *, dry_run: bool, keep_going: bool = False) -> Iterator[str]:
    """Do each step and yield what it did, line by line; only yield the steps if ``dry_run``.

    A failed step stops the others and undoes the steps before it, newest first, saying
    each; with ``keep_going`` the others are still done, and the failures are raised at
    the end.

    Raises:
        ServiceError: a step failed; its message says what is left changed, if anything.
    """
    done: list[Step] = []
    failures: list[str] = []
    for step in steps:
        if dry_run:
            yield step.would
            continue
        try:
            output = step.effect() if step.effect is not None else ""
        except ServiceError as exc:
            if keep_going:
                failures.append(str(exc))
                continue
            yield from (undo() for undo in reversed([s.undo for s in done if s.undo]))
            kept = [s.did for s in done if s.effect is not None and s.undo is None]
            left = f"; still done: {'; '.join(kept)}" if kept else ""
            msg = f"{exc}{left}"
            raise ServiceError(msg) from exc
        done.append(step)
        yield step.did
        yield from (f"  {line}" for line in output.splitlines() if line.strip())
    if failures:
        msg = "; ".join(failures) + "; the other steps were done"
        raise ServiceError(msg)


def config_step(path: Path, *, found: Found, owner: Account | None, shared: bool) -> Step:
    """Create the configuration from the example when there is none; never overwrite one.

    ``owner``: the user whose home holds it; the file is created as them (not as root).
    ``shared``: a file in /etc, readable by all (``0644``, directories ``0755``).
    """
    if found is Found.EXAMPLE:
        return Step.note(f"configuration: {path} (exists, still the example)")
    if found is Found.OWN:
        return Step.note(f"configuration: {path} (exists, left as it is)")
    missing = _missing_directories(path.parent)
    example = example_config()
    return Step(
        did=f"created {path} from the example",
        would=f"would create {path} from the example",
        effect=partial(as_account, owner, partial(create, path, example=example, shared=shared)),
        undo=partial(as_account, owner, partial(_remove_config, path, example, missing)),
    )


def edit_then_start(config: Path, start: str) -> Step:
    """The last word of an install on the example configuration: edit it, then ``start``."""
    return Step.note(
        f"not started: {config} is the example, with placeholder registries; edit it "
        f"(check it with `ecrd check-config -c {config}`), then start ecrd: {start}"
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
    step = Step(
        did=f"{'wrote' if old is None else 'updated'} {path} ({detail})",
        would=f"would {'write' if old is None else 'update'} {path} ({detail})",
        effect=partial(_write, path, data, old),
        undo=partial(_put_back, path, data, old, _missing_directories(path.parent)),
    )
    return step, Change.NEW if old is None else Change.CHANGED


def directory_step(directory: Path, *, mode: int) -> Step:
    """Create ``directory`` and its missing parents with ``mode``."""
    missing = _missing_directories(directory)
    return Step(
        did=f"created {directory}",
        would=f"would create {directory}",
        effect=partial(_make_dirs, directory, mode=mode),
        undo=partial(_remove_directories, missing),
    )


def remove_step(path: Path) -> Step:
    """Remove a file, or an empty directory."""
    return Step(did=f"removed {path}", would=f"would remove {path}", effect=partial(_remove, path))


def run_step(argv: list[str]) -> Step:
    """Run a command; a failure stops the steps after it (unless ``keep_going``)."""
    line = shlex.join(argv)
    return Step(did=f"ran {line}", would=f"would run {line}", effect=partial(_run, argv))


def _missing_directories(directory: Path) -> list[Path]:
    """``directory`` and those of its parents that do not exist yet, deepest first."""
    missing: list[Path] = []
    current = directory
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    return missing


def _make_dirs(directory: Path, *, mode: int) -> str:
    try:
        make_dirs(directory, mode=mode)
    except FileError as exc:
        raise ServiceError(str(exc)) from exc
    return ""


def _remove_directories(missing: list[Path]) -> str:
    """Remove the directories an install created, if still empty; a line saying so."""
    removed = []
    for directory in missing:
        try:
            directory.rmdir()
        except OSError:
            break
        removed.append(str(directory))
    return f"removed {', '.join(removed)} again" if removed else ""


def _remove_config(path: Path, example: bytes, missing: list[Path]) -> str:
    said = remove_if_example(path, example=example)
    more = _remove_directories(missing)
    return f"{said}; {more}" if more else said


def _write(path: Path, data: bytes, old: bytes | None) -> str:
    try:
        make_dirs(path.parent, mode=0o755)
        written = replace_file(path, data, expected=old, mode=0o644)
    except FileError as exc:
        raise ServiceError(str(exc)) from exc
    if not written:
        msg = f"{path} changed while ecrd wrote it; look at it, then run the command again"
        raise ServiceError(msg)
    return ""


def _put_back(path: Path, data: bytes, old: bytes | None, missing: list[Path]) -> str:
    """Undo ``_write``: the former bytes back, or no file (and no directory it created)."""
    try:
        if old is not None:
            replace_file(path, old, expected=data, mode=0o644)
            return f"put {path} back as it was"
        path.unlink(missing_ok=True)
    except (OSError, FileError) as exc:
        return f"left {path}: {exc}"
    more = _remove_directories(missing)
    return f"removed {path} again" + (f"; {more}" if more else "")


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
