"""The AWS CLI's options for click: parsing as argparse does, usage errors as the AWS CLI's.

The AWS CLI parses with argparse: ``--registry-ids A B C`` takes every value up to the next
option, a long option may be abbreviated to a unique prefix, and an unknown option is
reported as ``Unknown options: ...``. ``AwsCommand`` gives a click command that behaviour;
``read_options`` turns click's values into the typed ``GlobalOptions``.
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass
from importlib.metadata import version
from typing import IO, TYPE_CHECKING, Any, Final, Protocol

import click
import jmespath  # type: ignore[import-untyped]
import jmespath.exceptions  # type: ignore[import-untyped]

from ecrd import __version__
from ecrd.awscli.render import OUTPUTS, Output

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

# AWS CLI v2's exit codes (the reference page's version).
USAGE_ERROR: Final = 252
CONFIGURATION_ERROR: Final = 253
SERVICE_ERROR: Final = 254
GENERAL_ERROR: Final = 255

# Options that take every following value up to the next option (argparse nargs="*").
_LIST_OPTIONS: Final = frozenset({"--registry-ids"})
_NEGATIVE_NUMBER: Final = re.compile(r"-\d+|-\d*\.\d+")
# Options whose value may be left out (argparse nargs="?"): click decides, not the rewrite.
_OPTIONAL_VALUE: Final = frozenset({"--generate-cli-skeleton"})
_TIMESTAMP_FORMATS: Final = ("wire", "none", "iso8601")


class Query(Protocol):
    """A compiled ``--query`` expression."""

    def search(self, value: object) -> object:
        """Return the part of ``value`` the expression selects (None when nothing)."""
        ...


class AwsUsageError(click.UsageError):
    """A bad command line, reported as the AWS CLI does (usage, then the problem); exit 252."""

    exit_code = USAGE_ERROR

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the usage and the message to stderr, framed by blank lines as AWS CLI v2."""
        path = self.ctx.command_path if self.ctx is not None else "ecrd"
        text = (
            f"\nusage: {path} [options]\n"
            "To see help text, you can run:\n\n"
            f"  {path} --help\n\n"
            f"{self.format_message()}\n"
        )
        click.echo(text, file=file, err=file is None)


class AwsCommand(click.Command):
    """A click command that parses its options as the AWS CLI's argparse parser does."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Expand abbreviations and list options, then parse; usage errors exit 252."""
        names = {name for param in self.get_params(ctx) for name in param.opts}
        takes_value = {
            name
            for param in self.get_params(ctx)
            if isinstance(param, click.Option) and not param.is_flag and not param.count
            for name in param.opts
            if name not in _OPTIONAL_VALUE
        }
        try:
            rewritten = rewrite_args(args, names=names, takes_value=takes_value)
            return super().parse_args(ctx, rewritten)
        except AwsUsageError as exc:
            exc.ctx = exc.ctx or ctx
            raise
        except click.UsageError as exc:
            raise AwsUsageError(_usage_message(exc), ctx=ctx) from exc


class ParameterError(Exception):
    """A parameter value the AWS CLI rejects before any call; printed alone, exit 252."""


def _usage_message(exc: click.UsageError) -> str:
    # In argparse's words, which the AWS CLI prints.
    if isinstance(exc, click.NoSuchOption):
        return f"Unknown options: {exc.option_name}"
    if isinstance(exc, click.BadOptionUsage) and "requires an argument" in exc.message:
        return f"ecrd: error: argument {exc.option_name}: expected one argument"
    if isinstance(exc, click.BadParameter) and isinstance(exc.param, click.Option):
        name = max(exc.param.opts, key=len)
        if isinstance(exc.param.type, click.Choice):
            choices = " | ".join(str(c) for c in exc.param.type.choices)
            return f"ecrd: error: argument {name}: Invalid choice, valid choices are: {choices}"
        return f"ecrd: error: argument {name}: {exc.message}"
    return f"ecrd: error: {exc.format_message()}"


def rewrite_args(
    args: Sequence[str], *, names: frozenset[str] | set[str], takes_value: set[str]
) -> list[str]:
    """Return ``args`` with abbreviated long options expanded and list options packed.

    ``--registry-ids A B`` becomes ``--registry-ids '["A", "B"]'`` (a JSON list of the raw
    values), so that click sees one value; ``unpack_list`` reads it back.

    Raises:
        AwsUsageError: an abbreviation matches more than one option.
    """
    out: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        index += 1
        if word == "--":
            out.extend(args[index - 1 :])
            break
        if not word.startswith("--") or len(word) == 2:  # noqa: PLR2004 - "--" alone
            if word.startswith("-c") and not _NEGATIVE_NUMBER.fullmatch(word):
                raise _ecrd_config_error(word)
            out.append(word)
            continue
        name, equals, value = word.partition("=")
        if name == "--config":
            raise _ecrd_config_error(name)
        name = _expand(name, names)
        if name in _LIST_OPTIONS:
            values = [value] if equals else []
            while not equals and index < len(args) and not _is_option(args[index]):
                values.append(args[index])
                index += 1
            out += [name, json.dumps(values)]
        elif name in takes_value and not equals and index < len(args):
            out += [name, args[index]]
            index += 1
        else:
            out.append(name + equals + value)
    return out


def _ecrd_config_error(option: str) -> AwsUsageError:
    msg = (
        f"{option}: the AWS CLI commands do not read ecrd's configuration (-c/--config); they "
        "take the AWS CLI's options: --profile, --region, --endpoint-url ..."
    )
    return AwsUsageError(msg)


def _expand(name: str, names: frozenset[str] | set[str]) -> str:
    if name in names:
        return name
    matches = sorted(n for n in names if n.startswith(name) and n.startswith("--"))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        msg = f"ambiguous option: {name} could match {', '.join(matches)}"
        raise AwsUsageError(msg)
    return name


def _is_option(word: str) -> bool:
    return word.startswith("-") and word != "-" and not _NEGATIVE_NUMBER.fullmatch(word)


def unpack_list(packed: str, *, option: str) -> list[object]:
    """Read back a list option packed by ``rewrite_args``, as the AWS CLI reads its values.

    One value written as a JSON list (``'["1", "2"]'``) is that list; otherwise each value
    is one item, as given.

    Raises:
        ParameterError: a JSON list that does not parse.
    """
    values: list[str] = json.loads(packed)
    if len(values) == 1 and values[0].strip().startswith("["):
        try:
            loaded: object = json.loads(values[0])
        except ValueError as exc:
            msg = f"Error parsing parameter '{option}': Invalid JSON: {exc}\nJSON received: {values[0]}"
            raise ParameterError(msg) from exc
        return loaded if isinstance(loaded, list) else [loaded]
    return list(values)


@dataclass(frozen=True)
class GlobalOptions:
    """The AWS CLI's global options, as given on the command line (None: not given)."""

    debug: bool = False
    endpoint_url: str | None = None
    verify_ssl: bool = True
    output: Output | None = None
    query: str | None = None
    profile: str | None = None
    region: str | None = None
    color: str = "auto"
    sign_request: bool = True
    ca_bundle: str | None = None
    read_timeout: int | None = None
    connect_timeout: int | None = None
    cli_binary_format: str | None = None
    auto_prompt: bool | None = None
    timestamp_format: str | None = None

    def compiled_query(self) -> Query | None:
        """Return ``--query`` compiled.

        Raises:
            ParameterError: not a JMESPath expression (the AWS CLI's wording).
        """
        if self.query is None:
            return None
        try:
            query: Query = jmespath.compile(self.query)
        except jmespath.exceptions.JMESPathError as exc:
            msg = f"Bad value for --query {self.query}: {exc}"
            raise ParameterError(msg) from exc
        return query

    def checked_endpoint_url(self) -> str | None:
        """Return ``--endpoint-url``.

        Raises:
            ParameterError: it has no scheme (the AWS CLI's wording).
        """
        url = self.endpoint_url
        if url is not None and "://" not in url:
            msg = (
                f'Bad value for --endpoint-url "{url}": scheme is missing.  Must be of the '
                "form http://<hostname>/ or https://<hostname>/"
            )
            raise ParameterError(msg)
        return url

    def verify(self) -> bool | str | None:
        """Return TLS verification for botocore: False, a CA bundle, or None (its default)."""
        if not self.verify_ssl:
            return False
        return self.ca_bundle

    def region_name(self, environ: Mapping[str, str]) -> str | None:
        """Return --region, else AWS_REGION (AWS CLI v2), else None (botocore's lookup)."""
        return self.region or environ.get("AWS_REGION") or None


def read_options(params: Mapping[str, object]) -> GlobalOptions:
    """Build ``GlobalOptions`` from the values click parsed for ``GLOBAL_OPTIONS``."""

    def text(name: str) -> str | None:
        value = params.get(name)
        return value if isinstance(value, str) else None

    def number(name: str) -> int | None:
        value = params.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    output = text("output")
    prompt = params.get("auto_prompt")
    return GlobalOptions(
        debug=params.get("debug") is True,
        endpoint_url=text("endpoint_url"),
        verify_ssl=params.get("verify_ssl") is not False,
        output=_as_output(output) if output is not None else None,
        query=text("query"),
        profile=text("profile"),
        region=text("region"),
        color=text("color") or "auto",
        sign_request=params.get("sign_request") is not False,
        ca_bundle=text("ca_bundle"),
        read_timeout=number("read_timeout"),
        connect_timeout=number("connect_timeout"),
        cli_binary_format=text("cli_binary_format"),
        auto_prompt=prompt if isinstance(prompt, bool) else None,
        timestamp_format=text("timestamp_format"),
    )


def _as_output(value: str) -> Output:
    for output in OUTPUTS:
        if output == value:
            return output
    msg = f"Unknown output type: {value}"
    raise ValueError(msg)


@dataclass(frozen=True)
class Presentation:
    """How the answer is shown: the format and the timestamps, resolved as the AWS CLI does."""

    output: Output
    iso8601: bool


class SettingError(Exception):
    """A setting in the environment or the AWS config file has a value the CLI rejects."""


def resolve_presentation(
    options: GlobalOptions, *, profile_settings: Mapping[str, str], environ: Mapping[str, str]
) -> Presentation:
    """Pick the output format and timestamp format as the AWS CLI does.

    Output: ``--output``, else AWS_DEFAULT_OUTPUT, else the profile's ``output``, else json.
    Timestamps: ``--cli-timestamp-format``, else the profile's ``cli_timestamp_format``,
    else wire (epoch seconds, as the service sends them).

    Raises:
        SettingError: an unknown output or timestamp format in the environment or profile.
    """
    output = options.output
    if output is None:
        value = environ.get("AWS_DEFAULT_OUTPUT") or profile_settings.get("output") or "json"
        try:
            output = _as_output(value)
        except ValueError as exc:
            raise SettingError(str(exc)) from exc
    stamp = options.timestamp_format or profile_settings.get("cli_timestamp_format") or "wire"
    if stamp not in _TIMESTAMP_FORMATS:
        msg = f'Unknown cli_timestamp_format value: {stamp}, valid values are "none", "wire" or "iso8601"'
        raise SettingError(msg)
    return Presentation(output=output, iso8601=stamp == "iso8601")


def global_options(func: Callable[..., object]) -> Callable[..., object]:
    """Add the AWS CLI's global options to a click command."""
    options = (
        click.option("--debug", is_flag=True, help="Log the request and response flow to stderr (the token masked)."),
        click.option("--endpoint-url", metavar="URL", help="Send the request to this URL instead of ECR's regional endpoint."),
        click.option("--no-verify-ssl", "verify_ssl", is_flag=True, flag_value=False, default=True, help="Do not verify TLS certificates."),
        click.option("--no-paginate", "paginate", is_flag=True, flag_value=False, default=True, help="Accepted; GetAuthorizationToken is a single call."),
        click.option("--output", type=click.Choice(OUTPUTS), help="Output format [default: AWS_DEFAULT_OUTPUT, the profile's output, else json]."),
        click.option("--query", metavar="JMESPATH", help="A JMESPath query applied to the answer before it is formatted."),
        click.option("--profile", help="AWS profile to use [default: AWS_PROFILE, else default]."),
        click.option("--region", help="AWS region [default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region]."),
        click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version, help="Print the version and exit."),
        click.option("--color", type=click.Choice(["on", "off", "auto"]), default="auto", show_default=True, help="Colour table output (auto: when stdout is a terminal)."),
        click.option("--no-sign-request", "sign_request", is_flag=True, flag_value=False, default=True, help="Send the request unsigned; no credentials are loaded."),
        click.option("--ca-bundle", metavar="PATH", help="CA bundle to verify TLS certificates [default: AWS_CA_BUNDLE, the profile's ca_bundle]."),
        click.option("--cli-read-timeout", "read_timeout", type=int, metavar="SECONDS", help="Socket read timeout; 0 for none [default: 60]."),
        click.option("--cli-connect-timeout", "connect_timeout", type=int, metavar="SECONDS", help="Socket connect timeout; 0 for none [default: 60]."),
        click.option("--cli-binary-format", type=click.Choice(["base64", "raw-in-base64-out"]), help="Accepted; this command has no binary parameter."),
        click.option("--no-cli-pager", "no_pager", is_flag=True, help="Accepted; ecrd never pages its output."),
        click.option("--cli-auto-prompt/--no-cli-auto-prompt", "auto_prompt", default=None, help="Accepted; ecrd does not offer auto-prompt and runs the command as given."),
        click.option("--cli-timestamp-format", "timestamp_format", type=click.Choice(_TIMESTAMP_FORMATS), help="expiresAt as sent (wire: epoch seconds) or iso8601 [default: the profile's cli_timestamp_format, else wire]."),
    )  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def _print_version(ctx: click.Context, _param: click.Parameter, value: object) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(version_line())
    ctx.exit(0)


def version_line() -> str:
    """Return the version as the AWS CLI's ``--version`` shows its own."""
    return (
        f"ecrd/{__version__} Python/{platform.python_version()} "
        f"{platform.system()}/{platform.release()} botocore/{version('botocore')}"
    )
