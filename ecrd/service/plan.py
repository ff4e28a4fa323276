"""What ``ecrd service install``, ``uninstall`` and ``print`` do, planned as steps.

Looking and doing are apart: ``plan_install`` and ``plan_uninstall`` look at the machine and
return steps (``ecrd.service.steps``), each saying what it does; nothing changes until
``carry_out`` does them, and with ``--dry-run`` it only says them. Installing twice changes
nothing the second time. The files are rendered by ``ecrd.service.systemd`` and
``ecrd.service.launchd`` with the absolute paths of this installation's ``ecrd`` and of the
configuration file.

A service is started only on a configuration of the user's own: on the example (just
copied, or never edited) it is enabled, not started, and the last step says what to edit
and how to start it.
"""

from __future__ import annotations

import os
import stat
from functools import partial
from pathlib import Path

from ecrd.config import default_config_path
from ecrd.errors import ServiceError
from ecrd.paths import state_root
from ecrd.service.account import Account, as_account, instance_name
from ecrd.service.configuration import Found, example_config, inspect
from ecrd.service.launchd import plan_launchd_install, plan_launchd_uninstall, render_plist
from ecrd.service.steps import (
    Change,
    Step,
    config_step,
    edit_then_start,
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
from ecrd.service.targets import Kind, System, Target, find_ecrd


def render_service(*, target: Target, config: Path | None, system: System) -> str:
    """The unit or property list ``install`` would write.

    For ``--systemd-system USER``, the template and USER's drop-in, each headed by its path
    as ``systemctl cat`` shows them; the drop-in states the environment ecrd@USER gets.

    Raises:
        ServiceError: this installation's ``ecrd`` cannot be found, or USER is unknown.
    """
    ecrd = find_ecrd()
    if target.kind is Kind.SYSTEMD_USER:
        return render_user_unit(ecrd=ecrd, config=_user_config(config))
    if target.kind is Kind.SYSTEMD_SYSTEM:
        account = Account.named(target.user or "")
        path, _ = _system_config(account, config, system)
        return (
            f"# {system.units / TEMPLATE_UNIT}\n{render_template_unit(ecrd=ecrd)}\n"
            f"# {_drop_in_path(account.name, system)}\n{_drop_in(account, path)}"
        )
    return render_plist(ecrd=ecrd, config=_user_config(config), home=Path.home()).decode()


def plan_install(
    *, target: Target, config: Path | None, dry_run: bool, system: System
) -> list[Step]:
    """The steps installing ecrd as ``target`` (and starting it); changes nothing itself.

    Raises:
        ServiceError: ``ecrd`` cannot be found, the user does not exist, the configuration
            cannot be looked at, or installing a system unit without being root (unless
            ``dry_run``).
    """
    ecrd = find_ecrd()
    if target.kind is Kind.SYSTEMD_USER:
        return _install_user_unit(ecrd=ecrd, config=_user_config(config), system=system)
    if target.kind is Kind.SYSTEMD_SYSTEM:
        account = Account.named(target.user or "")
        steps = _root_note(f"install --systemd-system {account.name}", system, dry_run=dry_run)
        return steps + _install_template(ecrd=ecrd, account=account, config=config, system=system)
    return plan_launchd_install(ecrd=ecrd, config=_user_config(config), home=Path.home())


def plan_uninstall(
    *, target: Target, config: Path | None, dry_run: bool, system: System
) -> list[Step]:
    """The steps stopping ecrd and removing its files; configuration and state stay.

    Raises:
        ServiceError: removing a system unit without being root (unless ``dry_run``).
    """
    if target.kind is Kind.SYSTEMD_USER:
        return _uninstall_user_unit(config=_user_config(config))
    if target.kind is Kind.SYSTEMD_SYSTEM:
        user = instance_name(target.user or "")
        steps = _root_note(f"uninstall --systemd-system {user}", system, dry_run=dry_run)
        return steps + _uninstall_template(user=user, system=system)
    return plan_launchd_uninstall(config=_user_config(config), home=Path.home())


# -- systemd user unit -------------------------------------------------------------------


def _install_user_unit(*, ecrd: Path, config: Path, system: System) -> list[Step]:
    unit = _user_unit_directory() / USER_UNIT
    data = render_user_unit(ecrd=ecrd, config=config).encode()
    write, change = write_step(unit, data, detail=f"runs {ecrd} run --config {config}")
    found = Found(inspect(config, example=example_config()))
    start = found is Found.OWN
    steps = [config_step(config, found=found, owner=None, shared=False), write]
    steps += _systemctl_steps(["systemctl", "--user"], USER_UNIT, change, start=start)
    if not start:
        steps.append(edit_then_start(config, "systemctl --user start ecrd"))
    user = system.user_name()
    if not system.lingers(user):
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
        Step.note(f"kept the configuration {config} and the state {state_root()}"),
    ]


def _systemctl_steps(systemctl: list[str], unit: str, change: Change, *, start: bool) -> list[Step]:
    """Load a new or changed unit; enable it, and start it (restart it when it changed)."""
    reload = [] if change is Change.SAME else [run_step([*systemctl, "daemon-reload"])]
    if not start:
        return [*reload, run_step([*systemctl, "enable", unit])]
    if change is not Change.CHANGED:
        return [*reload, run_step([*systemctl, "enable", "--now", unit])]
    return [
        *reload,
        run_step([*systemctl, "enable", unit]),
        run_step([*systemctl, "restart", unit]),
    ]


def _user_unit_directory() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "systemd" / "user"


# -- systemd template unit for build hosts ------------------------------------------------


def _metrics_note(user: str) -> str:
    """How USER may write node_exporter's textfile directory (Debian's), which the unit allows."""
    directory = "/var/lib/prometheus/node-exporter"
    return (
        f"metrics: for metrics.textfile: {directory}/ecrd-{user}.prom, let {user} write "
        f"{directory}: setfacl -m u:{user}:rwx {directory} (Debian package acl)"
    )


def _install_template(
    *, ecrd: Path, account: Account, config: Path | None, system: System
) -> list[Step]:
    user = account.name
    _refuse_unrunnable(ecrd, account)
    config, found = _system_config(account, config, system)
    template, template_change = write_step(
        system.units / TEMPLATE_UNIT,
        render_template_unit(ecrd=ecrd).encode(),
        detail=f"runs {ecrd} run as the instance's user",
    )
    home = None if template_allows(user=user, home=account.home) else account.home
    reads = f"ecrd@{user} reads {config}" + (f" and may write in {home}" if home else "")
    drop_in, drop_in_change = write_step(
        _drop_in_path(user, system), _drop_in(account, config).encode(), detail=reads
    )
    shared = config.is_relative_to(system.root / "etc")
    steps = [config_step(config, found=found, owner=None if shared else account, shared=shared)]
    steps += [template, drop_in]
    changes = (template_change, drop_in_change)
    change = next((c for c in (Change.CHANGED, Change.NEW) if c in changes), Change.SAME)
    start = found is Found.OWN
    steps += _systemctl_steps(["systemctl"], f"ecrd@{user}.service", change, start=start)
    if not start:
        steps.append(edit_then_start(config, f"systemctl start ecrd@{user}"))
    others = _other_instances(user, system)
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
    steps.append(Step.note(f"state:  /var/lib/ecrd/{user} (sudo -u {user} -H {ecrd} status)"))
    steps.append(Step.note(_metrics_note(user)))
    return steps


def _uninstall_template(*, user: str, system: System) -> list[Step]:
    template = system.units / TEMPLATE_UNIT
    drop_in = _drop_in_path(user, system)
    if not template.exists() and not drop_in.exists():
        return [Step.note(f"not installed: there is no {template}")]
    steps: list[Step] = []
    if template.exists():
        steps.append(run_step(["systemctl", "disable", "--now", f"ecrd@{user}.service"]))
    if drop_in.exists():
        steps.append(remove_step(drop_in))
        if not [p for p in drop_in.parent.iterdir() if p != drop_in]:
            steps.append(remove_step(drop_in.parent))
    others = _other_instances(user, system)
    if template.exists() and others:
        steps.append(Step.note(f"kept {template}: {', '.join(others)} still use it"))
    elif template.exists():
        steps.append(remove_step(template))
    steps.append(run_step(["systemctl", "daemon-reload"]))
    steps.append(Step.note(f"kept the configuration and the state /var/lib/ecrd/{user}"))
    return steps


def _drop_in(account: Account, config: Path) -> str:
    home = None if template_allows(user=account.name, home=account.home) else account.home
    return render_drop_in(user=account.name, config=config, home=home)


def _refuse_unrunnable(ecrd: Path, account: Account) -> None:
    """Refuse to install a unit ``account`` could not start: it cannot run ``ecrd``.

    A common mistake: ecrd installed by root with pipx or in a virtual environment under
    /root, closed to other users; the unit would be enabled and fail at every start.

    Raises:
        ServiceError: ``account`` cannot run ``ecrd`` or its interpreter.
    """
    user = account.name
    for program in (ecrd, _interpreter(ecrd)):
        closed = None if program is None else _closed(program, account)
        if program is None or closed is None:
            continue
        what = "" if program == ecrd else f"its interpreter {program}: "
        msg = (
            f"{user} cannot run {ecrd}: {what}{closed} is closed to {user}, so ecrd@{user} "
            f"could never start; nothing was installed. Install ecrd where {user} can run it "
            "(as root: pipx install --global ecrd, which puts it under /opt/pipx; or the "
            "ecrd .deb, in /opt/ecrd), then run `service install` with that ecrd"
        )
        raise ServiceError(msg)


def _interpreter(program: Path) -> Path | None:
    """The interpreter a script's ``#!`` line names, if it names one by an absolute path."""
    try:
        with program.open("rb") as file:
            first = file.readline(4096)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode(errors="replace").split()
    return Path(words[0]) if words and words[0].startswith("/") else None


def _closed(program: Path, account: Account) -> Path | None:
    """What on the way to ``program`` (and its target) ``account`` cannot pass or run.

    A directory ``account`` may not enter, or the file itself when it may not execute it.
    """
    groups = set(os.getgrouplist(account.name, account.gid))
    for path in (program, program.resolve()):
        for step in [*reversed(path.parents), path]:
            try:
                info = step.stat()
            except OSError:
                return step
            if info.st_uid == account.uid:
                allowed = info.st_mode & stat.S_IXUSR
            elif info.st_gid in groups:
                allowed = info.st_mode & stat.S_IXGRP
            else:
                allowed = info.st_mode & stat.S_IXOTH
            if not allowed:
                return step
    return None


def _system_config(account: Account, config: Path | None, system: System) -> tuple[Path, Found]:
    """The configuration of instance ``ecrd@USER``, and what is there.

    ``--config``, else the first that exists of ``~USER/.config/ecrd/config.yaml``,
    ``/etc/ecrd/USER.yaml``, ``/etc/ecrd/config.yaml``; else the first of those in USER's
    home (where ``ecrd status``, run by USER with no option, looks: issue 12), or
    ``/etc/ecrd/USER.yaml`` when the home does not exist. What is outside /etc is looked at
    as USER.

    Raises:
        ServiceError: a configuration exists but cannot be looked at.
    """
    example = example_config()

    def look(path: Path) -> Found:
        owner = None if path.is_relative_to(system.root / "etc") else account
        return Found(as_account(owner, partial(inspect, path, example=example)))

    if config is not None:
        path = config.expanduser().absolute()
        return path, look(path)
    candidates = [
        account.home / ".config" / "ecrd" / "config.yaml",
        system.etc_ecrd / f"{account.name}.yaml",
        system.etc_ecrd / "config.yaml",
    ]
    for path in candidates:
        found = look(path)
        if found is not Found.MISSING:
            return path, found
    return candidates[0 if account.home.is_dir() else 1], Found.MISSING


def _drop_in_path(user: str, system: System) -> Path:
    return system.units / f"ecrd@{user}.service.d" / DROP_IN


def _other_instances(user: str, system: System) -> list[str]:
    """The other ``ecrd@USER.service`` instances enabled or installed on this host."""
    names = {path.name for path in system.units.glob("*.wants/ecrd@?*.service")}
    names |= {path.name.removesuffix(".d") for path in system.units.glob("ecrd@?*.service.d")}
    names.discard(f"ecrd@{user}.service")
    return sorted(names)


def _root_note(command: str, system: System, *, dry_run: bool) -> list[Step]:
    if system.euid == 0:
        return []
    if dry_run:
        return [Step.note(f"(this needs root: sudo ecrd service {command})")]
    msg = (
        "--systemd-system writes under /etc/systemd/system and runs systemctl for the whole "
        f"system: run it as root (sudo ecrd service {command})"
    )
    raise ServiceError(msg)


# -- paths -------------------------------------------------------------------------------


def _user_config(config: Path | None) -> Path:
    """``--config`` or ecrd's default, absolute.

    A service must not depend on the directory or the environment of the installing shell.
    """
    path = config if config is not None else default_config_path()
    return path.expanduser().absolute()
