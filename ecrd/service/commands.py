"""The ``ecrd service`` commands: parse options, call ``ecrd.service.plan``, print each step.

A click group of its own, registered by ``ecrd.cli``, with the common options of every
command (``ecrd.cli_options``). Errors are raised as ``EcrdError``; the root group turns
them into ``Error: ...`` and the exit code. The machine (``System``: where ``/`` is, who
installs) is the root context's ``obj`` when one is given, which tests do; else the real one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ecrd.cli_options import common_options, set_up_logging
from ecrd.service.targets import Kind, System, Target, default_kind

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

_CONFIG_HELP = (
    "Configuration file the service reads [default: $ECRD_CONFIG, ~/.config/ecrd/config.yaml, "
    "/etc/ecrd/config.yaml; for --systemd-system: ~USER/.config/ecrd/config.yaml, "
    "/etc/ecrd/USER.yaml]."
)


def _kind_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = (
        click.option(
            "--systemd-user", is_flag=True, help="A systemd user unit (the default on Linux)."
        ),
        click.option(
            "--systemd-system",
            metavar="USER",
            help="The systemd template unit for build hosts, instance ecrd@USER running as USER (needs root).",
        ),
        click.option("--launchd", is_flag=True, help="A launchd agent (the default on macOS)."),
    )
    for option in reversed(options):
        func = option(func)
    return func


def _target(*, systemd_user: bool, systemd_system: str | None, launchd: bool) -> Target:
    chosen = [systemd_user, systemd_system is not None, launchd]
    if sum(chosen) > 1:
        msg = "choose one of --systemd-user, --systemd-system USER, --launchd"
        raise click.UsageError(msg)
    if systemd_system is not None:
        return Target(Kind.SYSTEMD_SYSTEM, user=systemd_system)
    if systemd_user:
        return Target(Kind.SYSTEMD_USER)
    if launchd:
        return Target(Kind.LAUNCHD)
    return Target(default_kind())


def _setup(ctx: click.Context) -> tuple[Path | None, System]:
    options = set_up_logging(ctx, default_level="warning")
    given = ctx.find_root().obj
    return options.config, given if isinstance(given, System) else System()


@click.group(short_help="Install, remove or show ecrd as a systemd service or launchd agent.")
@common_options(config_help=_CONFIG_HELP)
def service() -> None:
    """Install, remove or show ecrd as a systemd service or a launchd agent.

    The kind is --systemd-user, --systemd-system USER (build hosts) or --launchd; by
    default a launchd agent on macOS and a systemd user unit elsewhere. The file names this
    installation's ecrd by its absolute path.
    """


@service.command(short_help="Write the service file and enable ecrd (start it once configured).")
@_kind_options
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@common_options(config_help=_CONFIG_HELP)
@click.pass_context
def install(
    ctx: click.Context,
    systemd_system: str | None,
    *,
    systemd_user: bool,
    launchd: bool,
    dry_run: bool,
) -> None:
    """Write the service file, create the configuration if there is none, start ecrd.

    On a configuration just created from the example (or never edited) ecrd is enabled but
    not started: the last line says what to edit and how to start it. Says what it did line
    by line. Running it again changes nothing unless this installation or the configuration
    path changed. When a step fails, what install wrote is put back.
    """
    from ecrd.service.plan import plan_install  # noqa: PLC0415 - keeps `ecrd --help` quick
    from ecrd.service.steps import carry_out  # noqa: PLC0415

    target = _target(systemd_user=systemd_user, systemd_system=systemd_system, launchd=launchd)
    config, system = _setup(ctx)
    steps = plan_install(target=target, config=config, dry_run=dry_run, system=system)
    for line in carry_out(steps, dry_run=dry_run):
        click.echo(line)


@service.command(short_help="Stop ecrd, remove its service file; keep configuration and state.")
@_kind_options
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@common_options(config_help=_CONFIG_HELP)
@click.pass_context
def uninstall(
    ctx: click.Context,
    systemd_system: str | None,
    *,
    systemd_user: bool,
    launchd: bool,
    dry_run: bool,
) -> None:
    """Stop ecrd and remove its service file; the configuration and the state stay.

    The files are removed even when systemctl or launchctl fails; the exit status is then 1,
    as the service may still be loaded.
    """
    from ecrd.service.plan import plan_uninstall  # noqa: PLC0415
    from ecrd.service.steps import carry_out  # noqa: PLC0415

    target = _target(systemd_user=systemd_user, systemd_system=systemd_system, launchd=launchd)
    config, system = _setup(ctx)
    steps = plan_uninstall(target=target, config=config, dry_run=dry_run, system=system)
    for line in carry_out(steps, dry_run=dry_run, keep_going=True):
        click.echo(line)


@service.command("print", short_help="Print what install would write, and nothing else.")
@_kind_options
@common_options(config_help=_CONFIG_HELP)
@click.pass_context
def print_(
    ctx: click.Context, systemd_system: str | None, *, systemd_user: bool, launchd: bool
) -> None:
    """Print the unit or property list that install would write, and nothing else.

    For --systemd-system USER, the template shared by every user and USER's drop-in
    (ecrd@USER.service.d/ecrd.conf), which names the environment ecrd@USER runs with.
    """
    from ecrd.service.plan import render_service  # noqa: PLC0415

    target = _target(systemd_user=systemd_user, systemd_system=systemd_system, launchd=launchd)
    config, system = _setup(ctx)
    click.echo(render_service(target=target, config=config, system=system), nl=False)
