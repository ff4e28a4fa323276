"""``--cli-input-json`` and ``--cli-input-yaml``: the call's parameters from JSON or YAML."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ecrd.awscli.options import ParameterError

if TYPE_CHECKING:
    from collections.abc import Callable


def load_cli_input(*, json_input: str | None, yaml_input: str | None) -> dict[str, object]:
    """Return the parameters of ``--cli-input-json`` or ``--cli-input-yaml`` (``file://`` ok).

    Raises:
        ParameterError: both given, a file that cannot be read, or text that does not parse
            to a mapping (the AWS CLI's wording).
    """
    if json_input is not None and yaml_input is not None:
        msg = "Only one of --cli-input-json or --cli-input-yaml may be specified."
        raise ParameterError(msg)
    if json_input is not None:
        return _parse_input("cli-input-json", json_input, "JSON", json.loads)
    if yaml_input is not None:
        return _parse_input("cli-input-yaml", yaml_input, "YAML", yaml.safe_load)
    return {}


def _parse_input(
    name: str, value: str, kind: str, parse: Callable[[str], object]
) -> dict[str, object]:
    text = _read_paramfile(name, value)
    try:
        data = parse(text)
    except (ValueError, yaml.YAMLError) as exc:
        msg = f"Error parsing parameter '{name}': Invalid {kind}: {exc}\n{kind} received: {text}"
        raise ParameterError(msg) from exc
    if not isinstance(data, dict):
        msg = f"Error parsing parameter '{name}': Invalid {kind}: the input is not a mapping\n{kind} received: {text}"
        raise ParameterError(msg)
    return {str(k): v for k, v in data.items()}


def _read_paramfile(name: str, value: str) -> str:
    for prefix in ("file://", "fileb://"):
        if value.startswith(prefix):
            path = Path(os.path.expandvars(value[len(prefix) :])).expanduser()
            try:
                return path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                msg = f"Error parsing parameter '--{name}': Unable to load paramfile {value}: {exc}"
                raise ParameterError(msg) from exc
    return value
