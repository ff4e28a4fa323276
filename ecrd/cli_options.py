"""The click layer every ecrd command shares: common options, lazy commands, exit codes.

- ``common_options`` adds ``-c/--config`` (unless ``config=False``), ``--log-level`` and
  ``--log-format`` to a command or a group; ``chosen_options(ctx)`` reads them, and
  ``set_up_logging`` applies the log options.
- ``EcrdGroup`` moves the common options written before a command's name to just after it
  (``ecrd -c PATH refresh`` is read as ``ecrd refresh -c PATH``), so each command parses the
  options it takes and rejects, in its own words, those it does not (``-c`` to the AWS CLI
  commands, ``demo`` and ``emulator``). An option written twice keeps its last value.
- ``EcrdGroup`` imports a command's module only when that command runs, and turns an
  ``EcrdError`` escaping any command into ``Error: <message>`` on stderr and its
  ``exit_code``: commands raise, they never catch to exit.

Imported by ``ecrd.cli`` and ``ecrd.service.commands``; it imports neither, and nothing
heavier than click, so that ``ecrd --version`` starts in milliseconds.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import click

from ecrd.errors import ConfigError, EcrdError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_F = TypeVar("_F", bound="Callable[..., Any]")

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
CONFIG_HELP = (
    "Configuration file [default: $ECRD_CONFIG, ~/.config/ecrd/config.yaml, /etc/ecrd/config.yaml]."
)
_OPTIONS = "ecrd.options"  # ctx.meta keys, shared by a command and its groups
_MOVED = "ecrd.moved-options"
_VALUED = ("-c", "--config", "--log-level", "--log-format")  # each takes the next word


@dataclass(frozen=True)
class CommonOptions:
    """The common options as given on the command line; ``None`` where not given."""

    config: Path | None = None
    log_level: str | None = None
    log_format: str | None = None


@overload
def common_options(func: _F, /) -> _F: ...
@overload
def common_options(
    *, config: bool = True, config_help: str = CONFIG_HELP
) -> Callable[[_F], _F]: ...
def common_options(
    func: _F | None = None, /, *, config: bool = True, config_help: str = CONFIG_HELP
) -> _F | Callable[[_F], _F]:
    """Add the common options to a command or a group; read them with ``chosen_options``.

    Used bare (``@common_options``) or with options: ``config=False`` for a command that
    reads no configuration (``-c`` is then an unknown option to it, before or after its
    name), ``config_help`` for another help text of ``-c``.
    """

    def decorate(command: _F) -> _F:
        options = [
            click.option(
                "--log-level",
                type=click.Choice(LOG_LEVELS, case_sensitive=False),
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
        ]
        if config:
            options.insert(
                0,
                click.option(
                    "-c",
                    "--config",
                    type=click.Path(dir_okay=False, path_type=Path),
                    expose_value=False,
                    callback=_remember,
                    help=config_help,
                ),
            )
        for option in reversed(options):
            command = option(command)
        return command

    return decorate if func is None else decorate(func)


def chosen_options(ctx: click.Context) -> CommonOptions:
    """The common options given to this command or before its name, the last one winning."""
    return CommonOptions(**ctx.meta.get(_OPTIONS, {}))


def config_path(ctx: click.Context) -> Path:
    """The configuration file: ``-c``, else ``$ECRD_CONFIG``, else the default paths."""
    given = chosen_options(ctx).config
    if given is not None:
        return given
    from ecrd.config.load import default_config_path  # noqa: PLC0415 -- YAML only when read

    return default_config_path()


def set_up_logging(ctx: click.Context, *, default_level: str) -> CommonOptions:
    """Send log events to stderr at ``--log-level`` (else ``default_level``); the options."""
    from ecrd.logs import configure_logging  # noqa: PLC0415 -- structlog only when logging

    options = chosen_options(ctx)
    configure_logging(
        level=options.log_level or default_level,
        log_format=options.log_format,  # type: ignore[arg-type]  # one of the Choice
    )
    return options


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_OPTIONS, {})[param.name] = value


def _split_common(args: list[str]) -> tuple[list[str], list[str]]:
    """The common options before the command's name, as typed, and the other words."""
    moved: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "--":
        word = args[index]
        index += 1
        if word in _VALUED:
            moved += [word, *args[index : index + 1]]
            index += 1
        elif word.startswith(tuple(f"{name}=" for name in _VALUED[1:])) or (
            word.startswith("-c") and not word.startswith("--")  # -cPATH
        ):
            moved.append(word)
        else:
            rest.append(word)  # --help, --version: the group's own
    return moved, rest + args[index:]


class EcrdGroup(click.Group):
    """A group whose commands may live in other modules, imported when they run.

    ``lazy`` maps a command's name to ``"module:attribute"``.
    """

    def __init__(self, *args: Any, lazy: Mapping[str, str] | None = None, **kwargs: Any) -> None:  # noqa: ANN401 -- click's own signature
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, the lazy ones included, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named ``cmd_name``, its module imported when it is a lazy one."""
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                msg = f"{self.lazy[cmd_name]} is not a click command"
                raise TypeError(msg)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse the group's own options; keep the common ones aside for the command."""
        moved, rest = _split_common(args)
        ctx.meta[_MOVED] = moved
        return super().parse_args(ctx, rest)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """The command, with the common options given before its name moved after it.

        They are moved as they were typed (``-c PATH``, ``--config=PATH``), so a command
        that does not take one says so in the user's own words.
        """
        name, command, rest = super().resolve_command(ctx, args)
        return name, command, [*ctx.meta.get(_MOVED, []), *rest]

    def invoke(self, ctx: click.Context) -> Any:  # noqa: ANN401 -- the command's result
        """Run the command; an EcrdError becomes ``Error: <message>`` and its exit code."""
        try:
            return super().invoke(ctx)
        except EcrdError as exc:
            lines = exc.errors if isinstance(exc, ConfigError) else (str(exc),)
            for line in lines:
                click.echo(f"Error: {line}", err=True)
            ctx.exit(exc.exit_code)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands, each with its whole first sentence, wrapped, never cut."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=sys.maxsize)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


__all__ = [
    "CommonOptions",
    "EcrdGroup",
    "chosen_options",
    "common_options",
    "config_path",
    "set_up_logging",
]
