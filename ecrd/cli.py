"""The ``ecrd`` command line: parse options, call one function.

The common options, lazy commands and the one place where an EcrdError becomes
``Error: <message>`` and an exit code are in ``ecrd.cli_options``. Each command imports
what it runs inside its body: ``ecrd --version`` and ``ecrd check-config`` must not pay
for boto3, structlog or the AWS CLI commands.
"""

from __future__ import annotations

import gc
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ecrd import __version__
from ecrd.cli_options import (
    EcrdGroup,
    chosen_options,
    common_options,
    config_path,
    set_up_logging,
)

if TYPE_CHECKING:
    from ecrd.config.model import Config
    from ecrd.metrics import Metrics
    from ecrd.refresh_round import RoundResult
    from ecrd.state import StateStore

# Commands defined in their own packages, imported only when they run (or for --help).
_LAZY = {
    "service": "ecrd.service.commands:service",
    "get-authorization-token": "ecrd.awscli:get_authorization_token",
    "get-login-password": "ecrd.awscli:get_login_password",
}


@click.group(cls=EcrdGroup, lazy=_LAZY, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ecrd")
@common_options
def cli() -> None:
    """Keep Amazon ECR registry logins fresh in docker's config.json and netrc files."""


@cli.command()
@common_options
@click.pass_context
def refresh(ctx: click.Context) -> None:
    """Refresh every registry once now, write the outputs, and exit.

    One attempt per group, no retry. With `ecrd run` serving the configuration, that daemon
    refreshes (its environment, state and metrics) and this prints its round. Exit status:
    0 all refreshed, 1 any registry or output failed (or a login written where its clients
    do not read it), 2 bad configuration.
    """
    from ecrd.config import load_config  # noqa: PLC0415 -- see the module's docstring
    from ecrd.daemon.control import answer_timeout, request_refresh  # noqa: PLC0415
    from ecrd.ecr.source import EcrTokenSource  # noqa: PLC0415
    from ecrd.refresh_round import run_round  # noqa: PLC0415
    from ecrd.state import StateStore  # noqa: PLC0415

    set_up_logging(ctx, default_level="warning")
    path = config_path(ctx)
    config = load_config(path)
    store = StateStore.for_config(path)
    # One writer per configuration: the daemon serving it, when there is one.
    served = request_refresh(
        config_path=path,
        state_dir=store.directory,
        timeout=answer_timeout(config.refresh.attempt_timeout.total_seconds()),
    )
    if served is not None:
        _print_round(config, served)
        sys.exit(0 if served.ok else 1)
    # The modules and the configuration live to the end: out of the cyclic collector's
    # sight. And botocore's many small objects set it off hundreds of times per round at
    # Python's default threshold (700): a sixth of a 1,000-registry refresh's CPU. A
    # higher one still frees each used client's cycles, which keeps the peak memory of a
    # 10,000-registry refresh near the floor's.
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
    metrics = _start_metrics(config)
    store = StateStore.for_config(path)
    result = run_round(
        config=config,
        source=EcrTokenSource(attempt_timeout=config.refresh.attempt_timeout, keep_clients=False),
        store=store,
    )
    _print_round(config, result)
    if metrics is not None and not _write_metrics(metrics, config, store, result):
        sys.exit(1)
    sys.exit(0 if result.ok else 1)


def _start_metrics(config: Config) -> Metrics | None:
    """Metrics for the round about to run, when the configuration asks for a textfile."""
    if config.metrics.textfile is None:
        return None
    from ecrd.metrics import Metrics  # noqa: PLC0415 - prometheus_client only when configured

    metrics = Metrics(config=config.path)
    metrics.observe_config(valid=True, config=config)
    return metrics


def _write_metrics(
    metrics: Metrics, config: Config, store: StateStore, result: RoundResult
) -> bool:
    """Write the round's metrics to the textfile; False (reported) when it failed."""
    from ecrd.metrics_textfile import TextfileWriter  # noqa: PLC0415

    metrics.observe_round(result)
    error = TextfileWriter(metrics=metrics, store=store).write(config.metrics.textfile)
    if error is not None:
        click.echo(f"Error: {error}", err=True)
        return False
    return True


def _print_round(config: Config, result: RoundResult) -> None:
    """A line per host, then each problem once (the log shows them only at --log-level info)."""
    from ecrd.config.durations import format_duration  # noqa: PLC0415
    from ecrd.problems import NOT_READ, OUTPUT_FAILED, messages, with_code  # noqa: PLC0415
    from ecrd.status import shorten  # noqa: PLC0415

    home = str(Path.home())
    now = datetime.now(timezone.utc)
    width = max((len(h.host) for h in result.hosts), default=0)
    # Said on a host's FAILED line (a failed fetch, or no output written), not again below.
    failed = {h.error for h in result.hosts if h.error is not None and not h.outputs}
    said: set[str] = set()
    for host in result.hosts:
        if host.error is not None and not host.outputs:
            # A group's error is said on its first host's line, once.
            text = "(as above)" if host.error in said else shorten(host.error, home)
            said.add(host.error)
            click.echo(f"{host.host:<{width}}  FAILED  {text}")
            continue
        expiry = (
            f"expires {host.expires_at:%Y-%m-%d %H:%M:%S}Z (in {format_duration(host.expires_at - now, rounded=True)})"
            if host.expires_at
            else "no expiry"
        )
        outputs = ", ".join(shorten(p, home) for p in host.outputs) or "no output"
        line = f"{host.host:<{width}}  {expiry}  {outputs}"
        if host.failing:
            line += "  FAILING"
        click.echo(line)
    if not config.registries:
        click.echo(
            f"{shorten(str(config.path), home)}: no registries configured; nothing to refresh"
        )
    for warning in messages(p for p in result.problems if not p.failing):
        click.echo(f"Warning: {shorten(warning, home)}", err=True)
    errors = messages(
        (*with_code(result.problems, NOT_READ), *with_code(result.problems, OUTPUT_FAILED))
    )
    for error in errors:
        if error not in failed:
            click.echo(f"Error: {shorten(error, home)}", err=True)


@cli.command()
@common_options
@click.option(
    "--wait-for-valid-config",
    is_flag=True,
    help="At start, wait for a valid configuration instead of exiting 2 (the launchd agent).",
)
@click.pass_context
def run(ctx: click.Context, *, wait_for_valid_config: bool) -> None:
    """Run the daemon in the foreground: refresh ahead of expiry, reload on change.

    Stops on SIGTERM or SIGINT (exit 0); SIGHUP reloads. Exit 2 when the configuration is
    invalid at start (unless --wait-for-valid-config); exit 1 when another `ecrd run`
    already serves the configuration.
    """
    from ecrd.daemon.control import serve_configuration  # noqa: PLC0415
    from ecrd.daemon.lifecycle import Daemon  # noqa: PLC0415 -- see the module's docstring
    from ecrd.ecr.source import EcrTokenSource  # noqa: PLC0415
    from ecrd.state import StateStore  # noqa: PLC0415

    set_up_logging(ctx, default_level="info")
    path = config_path(ctx)
    store = StateStore.for_config(path)
    with serve_configuration(store=store, config_path=path) as control:
        daemon = Daemon(
            config_path=path,
            source=EcrTokenSource(),
            store=store,
            control=control,
            wait_for_valid_config=wait_for_valid_config,
        )
        code = daemon.run()
    deadline = sys.modules.get("ecrd.ecr.deadline")
    if deadline is not None:
        # An attempt abandoned at the stop may still be starting a credential process:
        # end those running, and any started from now on, before the process exits.
        deadline.close()
    sys.exit(code)


@cli.command()
@common_options
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
    """Show each registry host: expiry, next and last refresh, outputs, problems.

    Reads the configuration's state directory, so it works while the daemon runs; the first
    line says whether a daemon serves the configuration. Exit status: 0 all fresh, 1 any
    expired or failing, 2 no state yet.
    """
    from ecrd.daemon.serving import serving_pid  # noqa: PLC0415
    from ecrd.state import StateStore  # noqa: PLC0415
    from ecrd.status import (  # noqa: PLC0415
        Report,
        exit_code,
        no_state_message,
        render_json,
        render_table,
        template_instances,
    )

    options = set_up_logging(ctx, default_level="warning")
    path = config_path(ctx)
    store = StateStore.for_config(path) if options.config is not None else StateStore.for_user(path)
    report = Report(
        state=store.read(),
        config=str(store.config) if store.config else None,
        daemon_pid=serving_pid(config_path=store.config or path, store=store),
        now=datetime.now(timezone.utc),
    )
    if report.state is None:
        from ecrd import paths  # noqa: PLC0415

        instances = template_instances(
            system_root=paths.SYSTEM_STATE_ROOT, exclude=paths.state_root()
        )
        click.echo(
            no_state_message(
                directory=str(store.directory),
                config=str(path),
                config_exists=path.exists(),
                instances=instances,
            ),
            err=True,
        )
    if output_format == "json":
        click.echo(render_json(report))
    elif report.state is not None:
        click.echo(render_table(report))
    sys.exit(exit_code(report))


@cli.command()
@common_options(config=False)
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

    Shows one line per refresh (--log-format for the daemon's full log). Runs until
    Ctrl-C, then removes its temporary directory unless --directory was given.
    """
    from ecrd.config.durations import parse_duration  # noqa: PLC0415
    from ecrd.demo import configure_demo_logs, run_demo  # noqa: PLC0415

    options = chosen_options(ctx)
    if options.log_format or options.log_level:
        set_up_logging(ctx, default_level="info")
    else:
        configure_demo_logs()
    try:
        lifetime = parse_duration(token_lifetime)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--token-lifetime") from exc
    sys.exit(run_demo(token_lifetime=lifetime, directory=directory))


@cli.command("check-config")
@common_options
@click.pass_context
def check_config(ctx: click.Context) -> None:
    """Validate the configuration and print it normalized (defaults filled in).

    Exit status: 0 valid, 2 invalid (each error names FILE:LINE:COLUMN).
    """
    import yaml  # noqa: PLC0415 -- see the module's docstring

    from ecrd.config import load_config  # noqa: PLC0415

    # No logging set-up: reading a configuration logs nothing, and structlog would double
    # the time this command takes.
    path = config_path(ctx)
    config = load_config(path)
    click.echo(f"# {path}: valid", nl=True)
    click.echo(
        yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=False), nl=False
    )
    if config.metrics.textfile is not None:
        from ecrd.metrics_access import textfile_problem  # noqa: PLC0415

        problem = textfile_problem(config.metrics.textfile)
        if problem is not None:
            click.echo(f"warning: {problem}", err=True)


@cli.command()
@common_options(config=False)
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
    from ecrd.config.durations import parse_duration  # noqa: PLC0415
    from ecrd.emulator.server import serve  # noqa: PLC0415

    set_up_logging(ctx, default_level="info")
    try:
        lifetime = parse_duration(token_lifetime)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--token-lifetime") from exc
    serve(host=host, port=port, token_lifetime=lifetime, stable_passwords=stable_passwords)


@cli.command("kubelet-credential-provider")
@common_options
@click.pass_context
def kubelet_credential_provider(ctx: click.Context) -> None:
    """Answer the kubelet's image credential request on stdin from ecrd's fresh logins.

    The kubelet's CredentialProviderConfig runs it (args: [kubelet-credential-provider]).
    It never calls AWS; with -c, only that configuration's logins serve. Exit 1 for a
    request it cannot read.
    """
    import json  # noqa: PLC0415

    from ecrd.kubelet import answer_request  # noqa: PLC0415

    options = chosen_options(ctx)  # it logs nothing: no logging set-up to pay for
    answer = answer_request(
        sys.stdin.read(), config=str(options.config) if options.config else None
    )
    click.echo(json.dumps(answer.response))
    if answer.notice:
        click.echo(answer.notice, err=True)


def main() -> None:
    """The ``ecrd`` console script."""
    cli()
