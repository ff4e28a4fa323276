"""What ``ecrd service`` installs, on which machine, and which ``ecrd`` the service runs.

A ``Target`` is the kind of service (and for the template unit, its user); a ``System`` is
the machine's side of it: where ``/`` is and who is installing. Tests pass a ``System``
whose root is a temporary directory; the program uses the real one.
"""

from __future__ import annotations

import enum
import os
import pwd
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ecrd.errors import ServiceError


class Kind(enum.Enum):
    """What ecrd is installed as."""

    SYSTEMD_USER = "systemd-user"
    SYSTEMD_SYSTEM = "systemd-system"
    LAUNCHD = "launchd"


@dataclass(frozen=True)
class Target:
    """The kind of service, and for ``SYSTEMD_SYSTEM`` the user it runs as."""

    kind: Kind
    user: str | None = None


@dataclass(frozen=True)
class System:
    """The machine: ``root`` stands for ``/`` in system paths; ``euid`` is who installs."""

    root: Path = Path("/")
    euid: int = field(default_factory=os.geteuid)

    @property
    def units(self) -> Path:
        """Where system units are installed: ``/etc/systemd/system``."""
        return self.root / "etc" / "systemd" / "system"

    @property
    def etc_ecrd(self) -> Path:
        """Shared configurations: ``/etc/ecrd``."""
        return self.root / "etc" / "ecrd"

    def lingers(self, user: str) -> bool:
        """Whether ``user``'s manager keeps running after they log out (``enable-linger``)."""
        return (self.root / "var" / "lib" / "systemd" / "linger" / user).exists()

    def user_name(self) -> str:
        """The name of the user running this process (its uid when it has none)."""
        try:
            return pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            return str(os.getuid())


def default_kind(*, platform: str | None = None) -> Kind:
    """A launchd agent on macOS, the systemd user unit elsewhere."""
    platform = sys.platform if platform is None else platform
    return Kind.LAUNCHD if platform == "darwin" else Kind.SYSTEMD_USER


def find_ecrd(*, executable: str | None = None, argv0: str | None = None) -> Path:
    """The absolute path of this installation's ``ecrd`` command.

    The console script next to the running Python (``sys.executable``), which pip and pipx
    put there; else the script this process was started as. Not a search of ``PATH``,
    which may find another installation.

    Raises:
        ServiceError: neither is an executable ``ecrd``.
    """
    executable = sys.executable if executable is None else executable
    argv0 = sys.argv[0] if argv0 is None else argv0
    if executable:
        beside = Path(executable).absolute().parent / "ecrd"
        if _is_executable(beside):
            return beside
    if argv0 and Path(argv0).name == "ecrd" and _is_executable(Path(argv0)):
        return Path(argv0).resolve()
    msg = (
        f"cannot find this installation's ecrd command: it is not next to {executable}, "
        "and this process was not started as ecrd; install ecrd with pip or pipx "
        "(they create the command), then run `ecrd service` through it"
    )
    raise ServiceError(msg)


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
