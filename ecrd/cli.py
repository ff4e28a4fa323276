"""The ``ecrd`` command line: parse options, call one function, map EcrdError to an exit code."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from ecrd import __version__
from ecrd.awscli import get_authorization_token, get_login_password
from ecrd.config import default_config_path, load_config
from ecrd.config.durations import parse_duration
from ecrd.errors import ConfigError, EcrdError
from ecrd.logs import LEVELS, configure_logging
from ecrd.service.commands import service
from ecrd.state import StateStore, default_state_dir

if TYPE_CHECKING:
    from collections.abc import Callable

    from ecrd.config.model import Config
    from ecrd.metrics import Metrics
    from ecrd.round import RoundResult

_META = "ecrd.options"


@dataclass
class _Options:
    config: Path | None = None
    log_level: str | None = None
    log_format: str | None = None


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> None:
    # The same options are accepted before and after the command's name; the later wins.
    if value is not None and param.name is not None:
        options = ctx.find_root().meta.setdefault(_META, _Options())
        setattr(options, param.name, value)


def _common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option(
                "-c",
                "--config",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Configuration file [default: $ECRD_CONFIG, ~/.config/ecrd/config.yaml, /etc/ecrd/config.yaml].",
            ),
            click.option(
                "--log-level",
                type=click.Choice(list(LEVELS), case_sensitive=False),
                help="Least severe log events shown.",
            ),
            click.option(
                "--log-format",
                type=click.Choice(["json", "console"]),
                help="JSON lines, or a console format [default: console on a TTY, else json].",
            ),
        )
    ):
        func = option(func)
    for param in getattr(func, "__click_params__", []):
        if param.name in ("config", "log_level", "log_format"):
            param.expose_value = False
            param.callback = _remember
    return func


def _options(ctx: click.Context) -> _Options:
    options: _Options = ctx.find_root().meta.get(_META, _Options())
    return options


def _setup(ctx: click.Context, *, default_level: str) -> Path:
    options = _options(ctx)
    configure_logging(
        level=options.log_level or default_level,
        log_format=options.log_format,  # type: ignore[arg-type]
    )
    return options.config or default_config_path()


def _fail(error: EcrdError) -> None:
    click.echo(f"Error: {error}", err=True)
    sys.exit(error.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ecrd")
@_common_options
def cli() -> None:
    """Keep Amazon ECR registry logins fresh in docker's config.json and netrc files."""


@cli.command()
@_common_options
@click.pass_context
def refresh(ctx: click.Context) -> None:
    """Refresh every registry once now, write the outputs, and exit.

    Exit status: 0 all refreshed, 1 any registry or output failed, 2 bad configuration.
    """
    from ecrd.round import run_round  # noqa: PLC0415 - keeps `ecrd --help` quick
    from ecrd.tokens.source import EcrTokenSource  # noqa: PLC0415

    path = _setup(ctx, default_level="warning")
    try:
        config = load_config(path)
        metrics = _start_metrics(config)
        result = run_round(
            config=config, source=EcrTokenSource(), store=StateStore(default_state_dir())
        )
    except EcrdError as exc:
        _fail(exc)
        return
    _print_round(config, result)
    textfile = config.metrics.textfile
    if (
        metrics is not None
        and textfile is not None
        and not _write_metrics(metrics, textfile, result)
    ):
        sys.exit(1)
    sys.exit(0 if result.ok else 1)


def _start_metrics(config: Config) -> Metrics | None:
    """Metrics for the round about to run, when the configuration asks for a textfile."""
    if config.metrics.textfile is None:
        return None
    from ecrd.metrics import Metrics  # noqa: PLC0415 - prometheus_client only when configured

    metrics = Metrics()
    metrics.observe_config(valid=True, config=config)
    return metrics


def _write_metrics(metrics: Metrics, textfile: Path, result: RoundResult) -> bool:
    """Write the round's metrics to ``textfile``; False (reported) when it failed."""
    metrics.observe_round(result)
    try:
        metrics.write_textfile(textfile)
    except EcrdError as exc:
        click.echo(f"Error: {exc}", err=True)
        return False
    return True


def _print_round(config: Config, result: RoundResult) -> None:
    now = datetime.now(timezone.utc)
    width = max((len(h.host) for h in result.hosts), default=0)
    for host in result.hosts:
        outputs = ", ".join(_display_path(p) for p in host.outputs) or "no output"
        if host.error is not None and not host.outputs:
            click.echo(f"{host.host:<{width}}  FAILED  {host.error}")
            continue
        expiry = (
            f"expires {host.expires_at:%Y-%m-%d %H:%M:%S}Z (in {_human(host.expires_at - now)})"
            if host.expires_at
            else "no expiry"
        )
        line = f"{host.host:<{width}}  {expiry}  {outputs}"
        if host.error:
            line += f"  (not written everywhere: {host.error})"
        click.echo(line)
    if not config.registries:
        click.echo(f"{config.path}: no registries configured; nothing to refresh")
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)
    for error in result.output_errors.values():
        click.echo(f"Error: {error}", err=True)


def _display_path(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path


def _human(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


@cli.command()
@_common_options
@click.option(
    "--clock-check",
    type=click.FloatRange(min=0.05),
    hidden=True,
    help="Seconds between checks for a wall-clock jump (tests).",
)
@click.pass_context
def run(ctx: click.Context, clock_check: float | None) -> None:
    """Run the daemon in the foreground: refresh ahead of expiry, reload on change.

    Stops on SIGTERM or SIGINT (exit 0); SIGHUP reloads. Exit 2 when the configuration is
    invalid at start.
    """
    from ecrd.daemon.lifecycle import CLOCK_CHECK, Daemon  # noqa: PLC0415
    from ecrd.tokens.source import EcrTokenSource  # noqa: PLC0415

    path = _setup(ctx, default_level="info")
    daemon = Daemon(
        config_path=path,
        source=EcrTokenSource(),
        store=StateStore(default_state_dir()),
        clock_check=timedelta(seconds=clock_check) if clock_check else CLOCK_CHECK,
    )
    try:
        code = daemon.run()
    except EcrdError as exc:
        _fail(exc)
        return
    sys.exit(code)


@cli.command()
@_common_options
@click.option(
    "--output",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people, or JSON for scripts.",
)
@click.pass_context
def status(ctx: click.Context, output_format: str) -> None:
    """Show each registry host: expiry, last refresh, outputs, last error.

    Reads the state directory, so it works while the daemon runs. Exit status: 0 all fresh,
    1 any expired or failing, 2 no state yet.
    """
    from ecrd.status import exit_code, render_json, render_table  # noqa: PLC0415

    _setup(ctx, default_level="warning")
    store = StateStore(default_state_dir())
    try:
        state = store.read()
    except EcrdError as exc:
        _fail(exc)
        return
    now = datetime.now(timezone.utc)
    if state is None:
        click.echo(
            f"No state yet in {store.directory}: run `ecrd refresh` or start `ecrd run`.",
            err=True,
        )
    elif output_format == "json":
        click.echo(render_json(state))
    else:
        click.echo(render_table(state, now))
    sys.exit(exit_code(state, now))


@cli.command()
@_common_options
@click.option(
    "--token-lifetime",
    default="60s",
    show_default=True,
    help="How long the emulator's tokens live.",
)
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's files here instead of in a temporary directory.",
)
@click.pass_context
def demo(ctx: click.Context, token_lifetime: str, directory: Path | None) -> None:
    """Watch ecrd work with no AWS account: the daemon against a local ECR emulator.

    Runs until Ctrl-C, then removes its temporary directory.
    """
    from ecrd.emulator.demo import run_demo  # noqa: PLC0415

    _setup(ctx, default_level="info")
    try:
        lifetime = parse_duration(token_lifetime)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--token-lifetime") from exc
    sys.exit(run_demo(token_lifetime=lifetime, directory=directory))


@cli.command("check-config")
@_common_options
@click.pass_context
def check_config(ctx: click.Context) -> None:
    """Validate the configuration and print it normalized (defaults filled in).

    Exit status: 0 valid, 2 invalid (each error names FILE:LINE:COLUMN).
    """
    path = _setup(ctx, default_level="warning")
    try:
        config = load_config(path)
    except ConfigError as exc:
        for error in exc.errors:
            click.echo(f"Error: {error}", err=True)
        sys.exit(exc.exit_code)
    click.echo(f"# {path}: valid", nl=True)
    click.echo(
        yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=False), nl=False
    )


@cli.command()
@_common_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port; 0 picks a free one.")
@click.option(
    "--token-lifetime",
    default="12h",
    show_default=True,
    help="How long issued tokens live (90s, 5m, 12h ...).",
)
@click.option(
    "--stable-passwords",
    is_flag=True,
    help="Issue the same password for a registry id every time (for a test registry's htpasswd).",
)
@click.pass_context
def emulator(
    ctx: click.Context, host: str, port: int, token_lifetime: str, *, stable_passwords: bool
) -> None:
    """Run a local ECR endpoint (GetAuthorizationToken for ecr and ecr-public, STS AssumeRole).

    For tests, CI and demos: point endpoint_url (or AWS_ENDPOINT_URL) at it. Stop with Ctrl-C.
    """
    from ecrd.emulator.server import serve  # noqa: PLC0415

    _setup(ctx, default_level="info")
    try:
        lifetime = parse_duration(token_lifetime)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--token-lifetime") from exc
    serve(host=host, port=port, token_lifetime=lifetime, stable_passwords=stable_passwords)


cli.add_command(service)
cli.add_command(get_authorization_token)
cli.add_command(get_login_password)


def main() -> None:
    """The ``ecrd`` console script."""
    cli()
