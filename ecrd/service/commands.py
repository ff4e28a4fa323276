"""The ``ecrd service`` commands: parse options, call ``ecrd.service.targets``, print what it did.

A click group of its own, registered by ``ecrd.cli``. It accepts the options every ecrd
command takes (``-c/--config``, ``--log-level``, ``--log-format``) after its name, and
honours those given before it (``ecrd -c PATH service install``), the later winning.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ecrd.errors import EcrdError
from ecrd.logs import LEVELS, configure_logging
from ecrd.service.steps import carry_out
from ecrd.service.targets import (
    Kind,
    Target,
    default_kind,
    plan_install,
    plan_uninstall,
    render_service,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# Where ``ecrd.cli`` keeps the options given before the command's name.
_ROOT_OPTIONS = "ecrd.options"
_OWN_OPTIONS = "ecrd.service.options"


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None and param.name is not None:
        ctx.find_root().meta.setdefault(_OWN_OPTIONS, {})[param.name] = value


def _option(ctx: click.Context, name: str) -> Any:  # noqa: ANN401 - a Path or a str
    own = ctx.find_root().meta.get(_OWN_OPTIONS, {})
    if name in own:
        return own[name]
    return getattr(ctx.find_root().meta.get(_ROOT_OPTIONS), name, None)


def _common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = (
        click.option(
            "-c",
            "--config",
            type=click.Path(dir_okay=False, path_type=Path),
            expose_value=False,
            callback=_remember,
            help="Configuration file the service reads [default: $ECRD_CONFIG, ~/.config/ecrd/config.yaml, /etc/ecrd/config.yaml; for --systemd-system: ~USER/.config/ecrd/config.yaml, /etc/ecrd/USER.yaml].",
        ),
        click.option(
            "--log-level",
            type=click.Choice(list(LEVELS), case_sensitive=False),
            expose_value=False,
            callback=_remember,
            help="Least severe log events shown.",
        ),
        click.option(
            "--log-format",
            type=click.Choice(["json", "console"]),
            expose_value=False,
            callback=_remember,
            help="JSON lines, or a console format [default: console on a TTY, else json].",
        ),
    )
    for option in reversed(options):
        func = option(func)
    return func


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


def _setup(ctx: click.Context) -> Path | None:
    configure_logging(
        level=_option(ctx, "log_level") or "warning", log_format=_option(ctx, "log_format")
    )
    config: Path | None = _option(ctx, "config")
    return config


def _fail(error: EcrdError) -> None:
    click.echo(f"Error: {error}", err=True)
    sys.exit(error.exit_code)


@click.group()
@_common_options
def service() -> None:
    """Install, remove or show ecrd as a systemd service or a launchd agent.

    The kind is --systemd-user, --systemd-system USER (build hosts) or --launchd; by
    default a launchd agent on macOS and a systemd user unit elsewhere. The file names this
    installation's ecrd by its absolute path.
    """


@service.command()
@_kind_options
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@_common_options
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

    Says what it did line by line, and how to see the logs. Running it again changes
    nothing unless this installation or the configuration path changed.
    """
    target = _target(systemd_user=systemd_user, systemd_system=systemd_system, launchd=launchd)
    config = _setup(ctx)
    try:
        steps = plan_install(target=target, config=config, dry_run=dry_run)
        for line in carry_out(steps, dry_run=dry_run):
            click.echo(line)
    except EcrdError as exc:
        _fail(exc)


@service.command()
@_kind_options
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@_common_options
@click.pass_context
def uninstall(
    ctx: click.Context,
    systemd_system: str | None,
    *,
    systemd_user: bool,
    launchd: bool,
    dry_run: bool,
) -> None:
    """Stop ecrd and remove its service file; the configuration and the state stay."""
    target = _target(systemd_user=systemd_user, systemd_system=systemd_system, launchd=launchd)
    config = _setup(ctx)
    try:
        steps = plan_uninstall(target=target, config=config, dry_run=dry_run)
        for line in carry_out(steps, dry_run=dry_run):
            click.echo(line)
    except EcrdError as exc:
        _fail(exc)


@service.command("print")
@_kind_options
@_common_options
@click.pass_context
def print_(
    ctx: click.Context, systemd_system: str | None, *, systemd_user: bool, launchd: bool
) -> None:
    """Print the unit or property list that install would write, and nothing else.

    For --systemd-system, the template shared by every user; install also writes the
    instance's drop-in, ecrd@USER.service.d/ecrd.conf, naming USER's configuration.
    """
    target = _target(systemd_user=systemd_user, systemd_system=systemd_system, launchd=launchd)
    config = _setup(ctx)
    try:
        click.echo(render_service(target=target, config=config), nl=False)
    except EcrdError as exc:
        _fail(exc)
