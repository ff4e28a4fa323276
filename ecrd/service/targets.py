"""``ecrd service``: install, remove or show ecrd as a systemd service or a launchd agent.

Looking and doing are apart. ``plan_install`` and ``plan_uninstall`` look at the machine
and return steps (``service_steps``), each saying what it does; nothing changes until
``carry_out`` does them, and with ``--dry-run`` it only says them. Installing twice changes
nothing the second time. The files are rendered by ``service_systemd`` and
``service_launchd`` with the absolute paths of this installation's ``ecrd`` and of the
configuration file. The systemd steps are here; the launchd ones in ``service_launchd``.
"""

from __future__ import annotations

import enum
import os
import pwd
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from ecrd.config import default_config_path
from ecrd.errors import ServiceError
from ecrd.service.launchd import plan_launchd_install, plan_launchd_uninstall, render_plist
from ecrd.service.steps import (
    Account,
    Change,
    Step,
    config_step,
    remove_step,
    run_step,
    write_step,
)
from ecrd.service.systemd import (
    DROP_IN,
    TEMPLATE_UNIT,
    USER_UNIT,
    render_drop_in,
    render_template_unit,
    render_user_unit,
    template_allows,
)
from ecrd.state import default_state_dir

# Stands for "/" when ecrd writes system files (/etc/...): tests point it at a directory.
SYSTEM_ROOT_VARIABLE = "ECRD_SYSTEM_ROOT"
_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


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


def render_service(*, target: Target, config: Path | None) -> str:
    """The unit or property list ``install`` would write.

    For ``--systemd-system``, the template shared by all users, without the drop-in.

    Raises:
        ServiceError: this installation's ``ecrd`` cannot be found.
    """
    ecrd = find_ecrd()
    if target.kind is Kind.SYSTEMD_USER:
        return render_user_unit(ecrd=ecrd, config=_user_config(config))
    if target.kind is Kind.SYSTEMD_SYSTEM:
        return render_template_unit(ecrd=ecrd)
    return render_plist(ecrd=ecrd, config=_user_config(config), home=Path.home()).decode()


def plan_install(*, target: Target, config: Path | None, dry_run: bool) -> list[Step]:
    """The steps installing ecrd as ``target`` and starting it; changes nothing itself.

    Raises:
        ServiceError: ``ecrd`` cannot be found, the user does not exist, or installing a
            system unit without being root (unless ``dry_run``).
    """
    ecrd = find_ecrd()
    if target.kind is Kind.SYSTEMD_USER:
        return _install_user_unit(ecrd=ecrd, config=_user_config(config))
    if target.kind is Kind.SYSTEMD_SYSTEM:
        account = _account(_instance_user(target))
        steps = _root_note(f"install --systemd-system {account.name}", dry_run=dry_run)
        return steps + _install_template(ecrd=ecrd, account=account, config=config)
    return plan_launchd_install(ecrd=ecrd, config=_user_config(config), home=Path.home())


def plan_uninstall(*, target: Target, config: Path | None, dry_run: bool) -> list[Step]:
    """The steps stopping ecrd and removing its files; configuration and state stay.

    Raises:
        ServiceError: removing a system unit without being root (unless ``dry_run``).
    """
    if target.kind is Kind.SYSTEMD_USER:
        return _uninstall_user_unit(config=_user_config(config))
    if target.kind is Kind.SYSTEMD_SYSTEM:
        user = _instance_user(target)
        steps = _root_note(f"uninstall --systemd-system {user}", dry_run=dry_run)
        return steps + _uninstall_template(user=user)
    return plan_launchd_uninstall(
        config=_user_config(config), home=Path.home(), state=default_state_dir()
    )


# -- systemd user unit -------------------------------------------------------------------


def _install_user_unit(*, ecrd: Path, config: Path) -> list[Step]:
    unit = _user_unit_directory() / USER_UNIT
    data = render_user_unit(ecrd=ecrd, config=config).encode()
    write, change = write_step(unit, data, detail=f"runs {ecrd} run --config {config}")
    systemctl = ["systemctl", "--user"]
    steps = [config_step(config), write, *_systemctl_steps(systemctl, USER_UNIT, change)]
    user = _current_user()
    linger = _system_root() / "var" / "lib" / "systemd" / "linger" / user
    if not linger.exists():
        steps.append(
            Step.note(
                "ecrd runs while you are logged in; to keep it running after you log out: "
                f"loginctl enable-linger {user}"
            )
        )
    steps.append(Step.note("status: systemctl --user status ecrd"))
    steps.append(Step.note("logs:   journalctl --user -u ecrd -f"))
    return steps


def _uninstall_user_unit(*, config: Path) -> list[Step]:
    unit = _user_unit_directory() / USER_UNIT
    if not unit.exists():
        return [Step.note(f"not installed: there is no {unit}")]
    systemctl = ["systemctl", "--user"]
    return [
        run_step([*systemctl, "disable", "--now", USER_UNIT]),
        remove_step(unit),
        run_step([*systemctl, "daemon-reload"]),
        Step.note(f"kept the configuration {config} and the state {default_state_dir()}"),
    ]


def _systemctl_steps(systemctl: list[str], unit: str, change: Change) -> list[Step]:
    """Load a new or changed unit; enable and start it, restart it when it changed."""
    if change is Change.SAME:
        return [run_step([*systemctl, "enable", "--now", unit])]
    steps = [run_step([*systemctl, "daemon-reload"])]
    if change is Change.NEW:
        return [*steps, run_step([*systemctl, "enable", "--now", unit])]
    return [
        *steps,
        run_step([*systemctl, "enable", unit]),
        run_step([*systemctl, "restart", unit]),
    ]


def _user_unit_directory() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "systemd" / "user"


# -- systemd template unit for build hosts ------------------------------------------------


def _install_template(*, ecrd: Path, account: Account, config: Path | None) -> list[Step]:
    user = account.name
    config = _system_config(account, config)
    units = _system_unit_directory()
    home = None if template_allows(user=user, home=account.home) else account.home
    template, template_change = write_step(
        units / TEMPLATE_UNIT,
        render_template_unit(ecrd=ecrd).encode(),
        detail=f"runs {ecrd} run as the instance's user",
    )
    reads = f"ecrd@{user} reads {config}" + (f" and may write in {home}" if home else "")
    drop_in, drop_in_change = write_step(
        _drop_in_path(user),
        render_drop_in(user=user, config=config, home=home).encode(),
        detail=reads,
    )
    in_home = config.is_relative_to(account.home)
    steps = [config_step(config, owner=account if in_home else None, shared=not in_home)]
    closed = _closed_directory(ecrd, account)
    if closed is not None:
        steps.insert(
            0,
            Step.note(
                f"warning: {user} cannot run {ecrd}: {closed} is closed to {user}; install ecrd "
                f"where {user} can run it (python3 -m venv /opt/ecrd && /opt/ecrd/bin/pip "
                "install ecrd), then install the service with that ecrd"
            ),
        )
    steps += [template, drop_in]
    change = Change.SAME
    if Change.CHANGED in (template_change, drop_in_change):
        change = Change.CHANGED
    elif Change.NEW in (template_change, drop_in_change):
        change = Change.NEW
    steps += _systemctl_steps(["systemctl"], f"ecrd@{user}.service", change)
    others = _other_instances(user)
    if template_change is Change.CHANGED and others:
        steps.append(
            Step.note(
                f"{', '.join(others)} run the former unit until restarted: systemctl restart {' '.join(others)}"
            )
        )
    if not account.home.is_dir():
        steps.append(
            Step.note(f"{user}'s home {account.home} does not exist: ecrd cannot write files there")
        )
    steps.append(Step.note(f"status: systemctl status ecrd@{user}"))
    steps.append(Step.note(f"logs:   journalctl -u ecrd@{user} -f"))
    steps.append(Step.note(f"state:  /var/lib/ecrd/{user}"))
    return steps


def _uninstall_template(*, user: str) -> list[Step]:
    template = _system_unit_directory() / TEMPLATE_UNIT
    drop_in = _drop_in_path(user)
    if not template.exists() and not drop_in.exists():
        return [Step.note(f"not installed: there is no {template}")]
    steps: list[Step] = []
    if template.exists():
        steps.append(run_step(["systemctl", "disable", "--now", f"ecrd@{user}.service"]))
    if drop_in.exists():
        steps.append(remove_step(drop_in))
        if not [p for p in drop_in.parent.iterdir() if p != drop_in]:
            steps.append(remove_step(drop_in.parent))
    others = _other_instances(user)
    if template.exists() and others:
        steps.append(Step.note(f"kept {template}: {', '.join(others)} still use it"))
    elif template.exists():
        steps.append(remove_step(template))
    steps.append(run_step(["systemctl", "daemon-reload"]))
    steps.append(Step.note(f"kept the configuration and the state /var/lib/ecrd/{user}"))
    return steps


def _closed_directory(program: Path, account: Account) -> Path | None:
    """The first directory on the way to ``program`` (and its target) ``account`` cannot pass.

    A common mistake: ecrd installed with pipx by root lies in /root, closed to other users.
    """
    groups = set(os.getgrouplist(account.name, account.gid))
    for path in (program, program.resolve()):
        for directory in reversed(path.parents):
            try:
                info = directory.stat()
            except OSError:
                return directory
            if info.st_uid == account.uid:
                allowed = info.st_mode & stat.S_IXUSR
            elif info.st_gid in groups:
                allowed = info.st_mode & stat.S_IXGRP
            else:
                allowed = info.st_mode & stat.S_IXOTH
            if not allowed:
                return directory
    return None


def _system_config(account: Account, config: Path | None) -> Path:
    """The configuration of instance ``ecrd@USER``.

    ``--config``, else the first that exists of ``~USER/.config/ecrd/config.yaml``,
    ``/etc/ecrd/USER.yaml``, ``/etc/ecrd/config.yaml``, else ``/etc/ecrd/USER.yaml``.
    """
    if config is not None:
        return config.expanduser().absolute()
    etc = _system_root() / "etc" / "ecrd"
    candidates = [
        account.home / ".config" / "ecrd" / "config.yaml",
        etc / f"{account.name}.yaml",
        etc / "config.yaml",
    ]
    return next((path for path in candidates if path.exists()), candidates[1])


def _system_unit_directory() -> Path:
    return _system_root() / "etc" / "systemd" / "system"


def _drop_in_path(user: str) -> Path:
    return _system_unit_directory() / f"ecrd@{user}.service.d" / DROP_IN


def _other_instances(user: str) -> list[str]:
    """The other ``ecrd@USER.service`` instances enabled or installed on this host."""
    units = _system_unit_directory()
    names = {path.name for path in units.glob("*.wants/ecrd@?*.service")}
    names |= {path.name.removesuffix(".d") for path in units.glob("ecrd@?*.service.d")}
    names.discard(f"ecrd@{user}.service")
    return sorted(names)


def _instance_user(target: Target) -> str:
    user = target.user or ""
    if not _USER_NAME.fullmatch(user):
        msg = f"{user!r} cannot name a systemd instance (ecrd@USER): give the name of a user of this host"
        raise ServiceError(msg)
    return user


def _account(user: str) -> Account:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        msg = (
            f"there is no user {user!r} on this host: name the user whose docker and netrc "
            f"files ecrd keeps fresh, or create it first (useradd --create-home {user})"
        )
        raise ServiceError(msg) from None
    return Account(name=user, uid=entry.pw_uid, gid=entry.pw_gid, home=Path(entry.pw_dir))


def _root_note(command: str, *, dry_run: bool) -> list[Step]:
    if _euid() == 0:
        return []
    if dry_run:
        return [Step.note(f"(this needs root: sudo ecrd service {command})")]
    msg = (
        "--systemd-system writes under /etc/systemd/system and runs systemctl for the whole "
        f"system: run it as root (sudo ecrd service {command})"
    )
    raise ServiceError(msg)


def _euid() -> int:
    return os.geteuid()


# -- paths and files -----------------------------------------------------------------------


def _user_config(config: Path | None) -> Path:
    """``--config`` or ecrd's default, absolute.

    A service must not depend on the directory or the environment of the installing shell.
    """
    path = config if config is not None else default_config_path()
    return path.expanduser().absolute()


def _system_root() -> Path:
    return Path(os.environ.get(SYSTEM_ROOT_VARIABLE) or "/")


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
