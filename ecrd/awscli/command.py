"""``ecrd get-authorization-token`` and ``ecrd get-login-password``: the AWS CLI's commands.

Same options, same output, same errors as ``aws ecr get-authorization-token`` and
``aws ecr get-login-password``, with AWS CLI v2's exit codes: 252 usage, 253 configuration,
254 an error answer from the service, 255 anything else. The call is the core's
(``ecrd.awscli.call``, built on ``ecrd.ecr``): same client construction and error table
as the daemon.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
from typing import TYPE_CHECKING, Final, NoReturn

import click

from ecrd.awscli.debug import LOGGER, debug_logging
from ecrd.awscli.inputs import load_cli_input
from ecrd.awscli.options import (
    CONFIGURATION_ERROR,
    GENERAL_ERROR,
    SERVICE_ERROR,
    USAGE_ERROR,
    AwsCommand,
    AwsUsageError,
    GlobalOptions,
    ParameterError,
    SettingError,
    global_options,
    read_options,
    resolve_presentation,
    unpack_list,
    version_line,
)
from ecrd.awscli.render import (
    INPUT_SKELETON,
    OUTPUT_SKELETON,
    YAML_INPUT_SKELETON,
    RenderError,
    render,
    render_skeleton,
    to_iso8601,
)
from ecrd.errors import TokenError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_log = logging.getLogger(LOGGER)
_CONTEXT: Final = {"ignore_unknown_options": True, "allow_extra_args": True}
_CONFIGURATION_CODES: Final = frozenset({"NoCredentials", "NoRegion", "ProfileNotFound"})
_OPERATION: Final = "GetAuthorizationToken"
_DEFAULT_WIDTH: Final = 80
_INTERRUPTED: Final = 130


@click.command("get-authorization-token", cls=AwsCommand, context_settings=_CONTEXT)
@click.option(
    "--registry-ids",
    metavar="ID [ID ...]",
    help="Registry ids (AWS account ids), one GetAuthorizationToken call for all [default: the caller's].",
)
@click.option(
    "--cli-input-json",
    metavar="JSON",
    help="The parameters as JSON, or file://PATH; options given on the command line win.",
)
@click.option(
    "--cli-input-yaml",
    metavar="YAML",
    help="The parameters as YAML, or file://PATH; options given on the command line win.",
)
@click.option(
    "--generate-cli-skeleton",
    type=click.Choice(["input", "yaml-input", "output"]),
    is_flag=False,
    flag_value="input",
    help="Print a parameter (input, yaml-input) or answer (output) skeleton; no call is made.",
)
@global_options
@click.pass_context
def get_authorization_token(ctx: click.Context, /, **params: object) -> None:
    """Get an authorization token from ECR, as `aws ecr get-authorization-token` does.

    Prints the answer (authorizationToken, expiresAt, proxyEndpoint per registry) in the
    AWS CLI's formats. Exit status: 0 ok, 252 bad usage, 253 configuration (no credentials,
    no region, unknown profile), 254 an error from the service, 255 any other failure.
    """
    _run(ctx, params, _show_authorization_token)


@click.command("get-login-password", cls=AwsCommand, context_settings=_CONTEXT)
@global_options
@click.pass_context
def get_login_password(ctx: click.Context, /, **params: object) -> None:
    """Print the registry password, as `aws ecr get-login-password` does.

    For `ecrd get-login-password | docker login --username AWS --password-stdin HOST`.
    Exit status as for get-authorization-token.
    """
    _run(ctx, params, _show_login_password)


def _run(
    ctx: click.Context,
    params: Mapping[str, object],
    show: Callable[[GlobalOptions, Mapping[str, object]], str],
) -> None:
    if ctx.args == ["help"]:
        click.echo(ctx.get_help())
        ctx.exit(0)
    if ctx.args:
        msg = f"Unknown options: {', '.join(ctx.args)}"
        raise AwsUsageError(msg, ctx=ctx)
    options = read_options(params)
    if options.auto_prompt:
        click.echo(
            "ecrd does not offer the AWS CLI's auto-prompt (--cli-auto-prompt); "
            "running the command as given.",
            err=True,
        )
    with debug_logging(enabled=options.debug, stream=sys.stderr):
        _log.debug("CLI version: %s", version_line())
        _log.debug("Arguments entered to CLI: %s", sys.argv[1:])
        try:
            text = show(options, params)
        except ParameterError as exc:
            _fail(ctx, str(exc), USAGE_ERROR)
        except SettingError as exc:
            _fail(ctx, str(exc), CONFIGURATION_ERROR)
        except TokenError as exc:
            _log.debug("call failed: code=%s", exc.code)
            _fail(ctx, _aws_message(exc), _exit_code(exc))
        except RenderError as exc:
            _fail(ctx, str(exc), GENERAL_ERROR)
        except KeyboardInterrupt:
            # As the AWS CLI: a newline on stdout, and 128 + SIGINT.
            click.echo("")
            ctx.exit(_INTERRUPTED)
    _write(text)


def _show_authorization_token(options: GlobalOptions, params: Mapping[str, object]) -> str:
    query = options.compiled_query()
    endpoint_url = options.checked_endpoint_url()
    skeleton = params.get("generate_cli_skeleton")
    if skeleton == "input":
        return render_skeleton(INPUT_SKELETON)
    if skeleton == "yaml-input":
        return YAML_INPUT_SKELETON
    call = load_cli_input(
        json_input=_text(params, "cli_input_json"), yaml_input=_text(params, "cli_input_yaml")
    )
    packed = _text(params, "registry_ids")
    if packed is not None:
        call["registryIds"] = unpack_list(packed, option="--registry-ids")

    from ecrd.awscli.call import (  # noqa: PLC0415 - botocore loads only when a command runs
        read_profile_settings,
        request_authorization_token,
    )

    presentation = resolve_presentation(
        options,
        profile_settings=read_profile_settings(profile=options.profile),
        environ=os.environ,
    )
    if skeleton == "output":
        answer: Mapping[str, object] = OUTPUT_SKELETON
    else:
        _log.debug("calling %s with parameters %s", _OPERATION, call)
        answer = request_authorization_token(
            params=call,
            profile=options.profile,
            region=options.region_name(os.environ),
            endpoint_url=endpoint_url,
            verify=options.verify(),
            connect_timeout=_timeout(options.connect_timeout),
            read_timeout=_timeout(options.read_timeout),
            unsigned=not options.sign_request,
        )
        _log_answer(answer)
        if presentation.iso8601:
            answer = to_iso8601(answer)
    data = query.search(answer) if query is not None else answer
    return render(
        data,
        output=presentation.output,
        title=_OPERATION,
        color=_colour(options.color),
        width=_terminal_width(),
    )


def _show_login_password(options: GlobalOptions, _params: Mapping[str, object]) -> str:
    options.compiled_query()  # checked as the AWS CLI does, though the password is printed bare
    endpoint_url = options.checked_endpoint_url()

    from ecrd.awscli.call import (  # noqa: PLC0415 - botocore loads only when a command runs
        request_authorization_token,
    )
    from ecrd.ecr.source import decode_token  # noqa: PLC0415

    answer = request_authorization_token(
        params={},
        profile=options.profile,
        region=options.region_name(os.environ),
        endpoint_url=endpoint_url,
        verify=options.verify(),
        connect_timeout=_timeout(options.connect_timeout),
        read_timeout=_timeout(options.read_timeout),
        unsigned=not options.sign_request,
    )
    _log_answer(answer)
    entries = answer.get("authorizationData")
    first = entries[0] if isinstance(entries, list) and entries else None
    token = first.get("authorizationToken") if isinstance(first, dict) else None
    if not isinstance(token, str):
        msg = f"the endpoint answered {_OPERATION} without an authorizationToken; is it an ECR endpoint?"
        raise TokenError(msg, code="MalformedAnswer")
    endpoint = first.get("proxyEndpoint") if isinstance(first, dict) else None
    _user, password = decode_token(token, group=str(endpoint or _OPERATION))
    return password.reveal() + "\n"


def _log_answer(answer: Mapping[str, object]) -> None:
    entries = answer.get("authorizationData")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            _log.debug(
                "answer: proxyEndpoint=%s expiresAt=%s authorizationToken=***",
                entry.get("proxyEndpoint"),
                entry.get("expiresAt"),
            )


def _aws_message(exc: TokenError) -> str:
    # botocore's text, with what the AWS CLI adds to it.
    if exc.code == "NoCredentials":
        return f'{exc}. You can configure credentials by running "aws configure".'
    if exc.code == "NoRegion":
        return f'{exc} You can also configure your region by running "aws configure".'
    return str(exc)


def _exit_code(exc: TokenError) -> int:
    if exc.operation is not None:
        return SERVICE_ERROR
    if exc.code == "ParamValidation":
        return USAGE_ERROR
    if exc.code in _CONFIGURATION_CODES:
        return CONFIGURATION_ERROR
    return GENERAL_ERROR


def _fail(ctx: click.Context, message: str, exit_code: int) -> NoReturn:
    # AWS CLI v2 frames every error message with a blank line before it.
    click.echo(f"\n{message}", err=True)
    ctx.exit(exit_code)


def _write(text: str) -> None:
    if not text:
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): as the AWS CLI, not an error.
        pass


def _text(params: Mapping[str, object], name: str) -> str | None:
    value = params.get(name)
    return value if isinstance(value, str) else None


def _timeout(seconds: int | None) -> float:
    # The AWS CLI's default is botocore's 60 s; 0 means no timeout.
    return 60 if seconds is None else seconds


def _colour(color: str) -> bool:
    if color == "auto":
        return sys.stdout.isatty()
    return color == "on"


def _terminal_width() -> int:
    # As the AWS CLI: the terminal's width from stdout, else 80 (COLUMNS is not read).
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
        import termios  # noqa: PLC0415

        packed = fcntl.ioctl(sys.stdout, termios.TIOCGWINSZ, b"\0" * 8)
    except (ImportError, OSError, ValueError, AttributeError, TypeError):
        return _DEFAULT_WIDTH
    _rows, columns = struct.unpack("hhhh", packed)[:2]
    return int(columns)
