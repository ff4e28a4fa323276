"""The shape of each section, and each value on its own, as pydantic models.

``validate_section`` checks a section against its model and reports every pydantic error
as a message for users, at the place in the file where the value is written.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError

from ecrd.config._located import dotted, within
from ecrd.config.durations import describe, parse_duration
from ecrd.config.hosts import check_host, is_valid_region
from ecrd.config.model import OutputType, RefreshPolicy

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from ecrd.config._located import DocPath, Tree

_M = TypeVar("_M", bound=BaseModel)

_OUTPUT_TYPES: tuple[OutputType, ...] = ("docker", "netrc")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+", re.ASCII)


# --- Values -----------------------------------------------------------------------------------


def _min_interval(value: object) -> timedelta:
    duration = parse_duration(value)
    if duration < timedelta(seconds=1):
        msg = f"expected at least 1s, got {describe(value)}"
        raise ValueError(msg)
    return duration


def _region(value: object) -> str:
    if not isinstance(value, str) or not is_valid_region(value):
        msg = f"expected an AWS region such as us-east-1, got {describe(value)}"
        raise ValueError(msg)
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = f"expected a name, got {describe(value)}"
        raise ValueError(msg)
    return value


def _role_arn(value: object) -> str:
    if not isinstance(value, str) or not _ROLE_ARN.fullmatch(value):
        msg = (
            "expected an IAM role ARN such as arn:aws:iam::123456789012:role/NAME,"
            f" got {describe(value)}"
        )
        raise ValueError(msg)
    return value


def _endpoint_url(value: object) -> str:
    if isinstance(value, str):
        scheme, _, rest = value.partition("://")
        host = rest.split("/", 1)[0]
        if scheme.lower() in ("http", "https") and host and not any(c.isspace() for c in rest):
            return value
    msg = f"expected an http:// or https:// URL, got {describe(value)}"
    raise ValueError(msg)


def _host(value: object) -> str:
    problem = check_host(value) if isinstance(value, str) else None
    if not isinstance(value, str) or problem:
        msg = (
            "expected a host name with an optional port, such as registry.example.internal"
            f" or registry.example.internal:5000, got {describe(value)}"
        )
        raise ValueError(msg + (f" ({problem})" if problem else ""))
    return value.lower()


def _registry_id_input(value: object) -> str | int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        msg = f"expected a registry id of 12 digits, such as '123456789012', got {describe(value)}"
        raise ValueError(msg)  # noqa: TRY004 -- pydantic reports ValueError, not TypeError
    return value


def _output_type(value: object) -> OutputType:
    for known in _OUTPUT_TYPES:
        if value == known:
            return known
    hint = _did_you_mean(value, _OUTPUT_TYPES) if isinstance(value, str) else ""
    msg = f"expected docker or netrc, got {describe(value)}{hint}"
    raise ValueError(msg)


def _path_text(value: object) -> str:
    if not isinstance(value, str) or not value:
        msg = f"expected a file path, got {describe(value)}"
        raise ValueError(msg)
    return value


# --- Sections ---------------------------------------------------------------------------------

_Duration = Annotated[timedelta, PlainValidator(parse_duration)]
_Region = Annotated[str, PlainValidator(_region)]
_Name = Annotated[str, PlainValidator(_name)]
_RoleArn = Annotated[str, PlainValidator(_role_arn)]
_EndpointUrl = Annotated[str, PlainValidator(_endpoint_url)]
_Host = Annotated[str, PlainValidator(_host)]
_DEFAULT_POLICY = RefreshPolicy()


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RefreshSchema(_Schema):
    """The ``refresh`` section."""

    before_expiry: _Duration = _DEFAULT_POLICY.before_expiry
    jitter: _Duration = _DEFAULT_POLICY.jitter
    retry_initial: _Duration = _DEFAULT_POLICY.retry_initial
    retry_max: _Duration = _DEFAULT_POLICY.retry_max
    min_interval: Annotated[timedelta, PlainValidator(_min_interval)] = _DEFAULT_POLICY.min_interval
    attempt_timeout: Annotated[timedelta, PlainValidator(_min_interval)] = (
        _DEFAULT_POLICY.attempt_timeout
    )


class AwsSchema(_Schema):
    """The ``aws`` section: defaults for every registry."""

    region: _Region | None = None
    profile: _Name | None = None
    role_arn: _RoleArn | None = None
    endpoint_url: _EndpointUrl | None = None


class OutputSchema(_Schema):
    """One item of ``outputs``."""

    type: Annotated[OutputType, PlainValidator(_output_type)]
    path: Annotated[str, PlainValidator(_path_text)]


class RegistrySchema(_Schema):
    """One item of ``registries`` written as a mapping."""

    registry_id: Annotated[str | int, PlainValidator(_registry_id_input)] | None = None
    region: _Region | None = None
    profile: _Name | None = None
    role_arn: _RoleArn | None = None
    endpoint_url: _EndpointUrl | None = None
    hosts: list[_Host] = Field(default_factory=list)
    public: bool = False


# --- Errors -----------------------------------------------------------------------------------

# The type errors the models above can raise; every other value error comes from a validator.
_EXPECTED_BY_TYPE = {
    "bool_type": "true or false",
    "model_type": "a mapping",
    "list_type": "a list",
}


def validate_section(
    schema: type[_M], value: object, *, at: DocPath, tree: Tree, required: bool = False
) -> _M | None:
    """``value`` (written at ``at``) checked against ``schema``, or ``None`` after reporting.

    A missing section (``None``) is an empty mapping, unless it is ``required``.
    """
    if value is None and not required:
        value = {}
    try:
        return schema.model_validate(value)
    except ValidationError as exc:
        for error in exc.errors():
            _report(error, value=value, base=at, schema=schema, tree=tree)
        return None


def report_unknown_key(path: DocPath, *, known: tuple[str, ...], tree: Tree) -> None:
    """Report the key at ``path`` as unknown, with the closest of ``known`` or all of them."""
    key = str(path[-1])
    hint = _did_you_mean(key, known) or f" (expected one of: {', '.join(known)})"
    msg = f"unknown key {describe(key)} {within(path[:-1])}{hint}"
    tree.report(path, msg, key=True)


def _report(
    error: ErrorDetails, *, value: object, base: DocPath, schema: type[BaseModel], tree: Tree
) -> None:
    path = base
    current = value
    for part in error["loc"]:
        found, child = _child(current, part)
        if not found:  # a missing key: point at its mapping
            break
        current = child
        path = (*path, part)
    kind = error["type"]
    if kind == "extra_forbidden":
        report_unknown_key(path, known=tuple(schema.model_fields), tree=tree)
        return
    if kind == "missing":
        msg = f"missing key '{error['loc'][-1]}' {within(path)}"
    elif kind == "value_error":
        msg = f"{dotted(path)}: {error.get('ctx', {}).get('error', error['msg'])}"
    elif kind in _EXPECTED_BY_TYPE:
        msg = f"{dotted(path)}: expected {_EXPECTED_BY_TYPE[kind]}, got {describe(current)}"
    else:
        msg = f"{dotted(path)}: {error['msg']}, got {describe(current)}"
    tree.report(path, msg)


def _child(value: object, part: str | int) -> tuple[bool, object]:
    if isinstance(value, dict) and part in value:
        return True, value[part]
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return True, value[part]
    return False, None


def _did_you_mean(value: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
