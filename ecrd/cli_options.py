"""The click layer every ecrd command shares: the common options, and EcrdError -> exit code.

``-c/--config``, ``--log-level`` and ``--log-format`` are accepted before a command's name
and after it (``ecrd -c A service install -c B``); the later wins. They live in the root
context's ``meta``, so a subcommand group (``ecrd service``) reads what its parents took.
Its own module, not ``ecrd.cli``: ``ecrd.cli`` imports the command groups that use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ecrd.errors import ConfigError, EcrdError
from ecrd.logs import LEVELS, configure_logging

if TYPE_CHECKING:
    from collections.abc import Callable

_META = "ecrd.options"
_CONFIG_HELP = (
    "Configuration file [default: $ECRD_CONFIG, ~/.config/ecrd/config.yaml, /etc/ecrd/config.yaml]."
)
_NAMES = ("config", "log_level", "log_format")


@dataclass
class CommonOptions:
    """What the common options were given as, wherever on the command line; None: not given."""

    config: Path | None = None
    log_level: str | None = None
    log_format: str | None = None


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None and param.name is not None:
        options = ctx.find_root().meta.setdefault(_META, CommonOptions())
        setattr(options, param.name, value)


def common_options(
    func: Callable[..., Any] | None = None, /, *, config_help: str = _CONFIG_HELP
) -> Callable[..., Any]:
    """Add ``-c/--config``, ``--log-level`` and ``--log-format`` to a command or group.

    Used bare (``@common_options``) or with another help text for ``-c``.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        options = (
            click.option(
                "-c",
                "--config",
                type=click.Path(dir_okay=False, path_type=Path),
                expose_value=False,
                callback=_remember,
                help=config_help,
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
            command = option(command)
        return command

    return decorate if func is None else decorate(func)


def chosen_options(ctx: click.Context) -> CommonOptions:
    """The common options as given, before or after the command's name."""
    options: CommonOptions = ctx.find_root().meta.get(_META, CommonOptions())
    return options


def set_up_logging(ctx: click.Context, *, default_level: str) -> CommonOptions:
    """Configure logging from the common options; return them."""
    options = chosen_options(ctx)
    configure_logging(
        level=options.log_level or default_level,
        log_format=options.log_format,  # type: ignore[arg-type]
    )
    return options


class EcrdGroup(click.Group):
    """A group that turns an EcrdError raised by any command under it into ``Error: ...``.

    The one place that maps errors to exit codes: commands raise, never exit themselves.
    """

    def invoke(self, ctx: click.Context) -> Any:  # noqa: ANN401 - whatever the command returns
        """Run the command; report an EcrdError on stderr and exit with its code."""
        try:
            return super().invoke(ctx)
        except EcrdError as exc:
            lines = exc.errors if isinstance(exc, ConfigError) else (str(exc),)
            for line in lines:
                click.echo(f"Error: {line}", err=True)
            ctx.exit(exc.exit_code)


__all__ = ["CommonOptions", "EcrdGroup", "chosen_options", "common_options", "set_up_logging"]
