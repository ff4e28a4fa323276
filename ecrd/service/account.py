"""The user a system service runs as, and doing work in their home as them.

Root installing ``ecrd@USER`` must not create or change files in USER's home as root:
USER controls every name there, and a symlink planted at ``~USER/.config/ecrd/config.yaml``
would make root create, overwrite or chown whatever it points to. So that work runs in a
child process that has dropped to USER's uid, gid and groups: it can do nothing USER could
not do, whatever the links say.
"""

from __future__ import annotations

import os
import pwd
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ecrd.errors import ServiceError

if TYPE_CHECKING:
    from collections.abc import Callable

_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_OK, _FAILED = b"o", b"e"


@dataclass(frozen=True)
class Account:
    """A user of this host, the one ``ecrd@USER`` runs as."""

    name: str
    uid: int
    gid: int
    home: Path

    @classmethod
    def named(cls, user: str) -> Account:
        """The account called ``user``.

        Raises:
            ServiceError: the name cannot be a systemd instance, or there is no such user.
        """
        instance_name(user)
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            msg = (
                f"there is no user {user!r} on this host: name the user whose docker and netrc "
                f"files ecrd keeps fresh, or create it first (useradd --create-home {user})"
            )
            raise ServiceError(msg) from None
        return cls(name=user, uid=entry.pw_uid, gid=entry.pw_gid, home=Path(entry.pw_dir))


def instance_name(user: str) -> str:
    """``user``, when it can name a systemd instance (``ecrd@USER``).

    Raises:
        ServiceError: it cannot (a space, a slash ...).
    """
    if not _USER_NAME.fullmatch(user):
        msg = f"{user!r} cannot name a systemd instance (ecrd@USER): give the name of a user of this host"
        raise ServiceError(msg)
    return user


def as_account(account: Account | None, work: Callable[[], str]) -> str:
    """Return ``work()`` done as ``account``.

    In a child process dropped to the account when this process is root and the account is
    another user; here otherwise (``None``, the account we are, or no right to switch:
    then this process can do no more than its own user may).

    Raises:
        ServiceError: ``work`` raised it (its message comes back from the child), or the
            child could not become the account.
    """
    if account is None or os.geteuid() != 0 or account.uid == 0:
        return work()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its result is checked through the parent
        os.close(reader)
        _child(account, work, writer)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        answer = pipe.read()
    _, status = os.waitpid(pid, 0)
    if answer[:1] == _OK and os.waitstatus_to_exitcode(status) == 0:
        return answer[1:].decode()
    if answer[:1] == _FAILED:
        raise ServiceError(answer[1:].decode())
    msg = f"the process working as {account.name} ended without an answer (status {status})"
    raise ServiceError(msg)


def _child(account: Account, work: Callable[[], str], writer: int) -> None:  # pragma: no cover
    """Become ``account``, do ``work``, write the answer, and exit without cleanup.

    ``os._exit``: the parent's atexit handlers, buffers and pytest must not run twice.
    """
    try:
        try:
            os.setgroups(os.getgrouplist(account.name, account.gid))
            os.setresgid(account.gid, account.gid, account.gid)
            os.setresuid(account.uid, account.uid, account.uid)
        except OSError as exc:
            msg = f"cannot work as {account.name}: {exc.strerror}"
            raise ServiceError(msg) from exc
        answer = _OK + work().encode()
    except ServiceError as exc:
        answer = _FAILED + str(exc).encode()
    except BaseException as exc:  # noqa: BLE001 - anything must come back as a message
        answer = _FAILED + f"working as {account.name}: {type(exc).__name__}: {exc}".encode()
    try:
        with os.fdopen(writer, "wb") as pipe:
            pipe.write(answer)
    finally:
        os._exit(0)
