"""The AWS CLI's output formats, byte for byte: json, text, table, and v2's yaml, yaml-stream.

Pure functions from an answer (JSON-like data, after ``--query``) to the text the AWS CLI
prints. json, text and table follow awscli's ``formatter``, ``text`` and ``table`` modules;
yaml and yaml-stream follow AWS CLI v2 (block style, keys sorted, a bare string quoted).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final, Literal

import yaml

from ecrd.awscli.table import RenderError, render_table

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "INPUT_SKELETON",
    "OUTPUTS",
    "OUTPUT_SKELETON",
    "YAML_INPUT_SKELETON",
    "Output",
    "RenderError",
    "render",
    "render_json",
    "render_skeleton",
    "render_table",
    "render_text",
    "render_yaml",
    "render_yaml_stream",
    "to_iso8601",
]

Output = Literal["json", "text", "table", "yaml", "yaml-stream", "off"]
OUTPUTS: Final[tuple[Output, ...]] = ("json", "text", "table", "yaml", "yaml-stream", "off")

# What `--generate-cli-skeleton input` and `output` show for GetAuthorizationToken, as
# botocore's ArgumentGenerator builds them from the service model.
INPUT_SKELETON: Final = {"registryIds": [""]}
OUTPUT_SKELETON: Final = {
    "authorizationData": [
        {
            "authorizationToken": "authorizationToken",
            "expiresAt": datetime(1970, 1, 1),  # noqa: DTZ001 - naive, as the AWS CLI's
            "proxyEndpoint": "proxyEndpoint",
        }
    ]
}
# AWS CLI v2's `--generate-cli-skeleton yaml-input`: each member with its documentation.
YAML_INPUT_SKELETON: Final = (
    "registryIds:  # A list of Amazon Web Services account IDs that are associated with the "
    "registries for which to get AuthorizationData objects.\n"
    "- ''\n"
)


def render(
    data: object,
    *,
    output: Output,
    title: str = "GetAuthorizationToken",
    color: bool = False,
    width: int = 80,
) -> str:
    """Return ``data`` as the AWS CLI prints it with ``--output``; "" when it prints nothing.

    ``title`` heads a table (the operation's name); ``color`` colours a table as
    ``--color on`` does; ``width`` is the terminal's, past which a table turns vertical.
    """
    renderers: dict[Output, Callable[[object], str]] = {
        "json": render_json,
        "text": render_text,
        "table": lambda d: render_table(d, title=title, color=color, width=width),
        "yaml": render_yaml,
        "yaml-stream": render_yaml_stream,
        "off": lambda _d: "",
    }
    return renderers[output](data)


def to_iso8601(answer: Mapping[str, object]) -> dict[str, object]:
    """Return the answer with each ``expiresAt`` (epoch seconds) in ISO 8601, local time.

    As the AWS CLI's ``cli_timestamp_format = iso8601``: microseconds when the value has a
    fraction, and the local time zone's offset (``2015-11-30T14:50:53.241000+01:00``).
    """
    data = dict(answer)
    entries = data.get("authorizationData")
    if isinstance(entries, list):
        data["authorizationData"] = [_iso_entry(e) for e in entries]
    elif isinstance(entries, dict):  # ECR Public answers one object, not a list
        data["authorizationData"] = _iso_entry(entries)
    return data


def _iso_entry(entry: object) -> object:
    if not isinstance(entry, dict):
        return entry
    value = entry.get("expiresAt")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, timezone.utc).astimezone()
        return {**entry, "expiresAt": moment.isoformat()}
    return entry


# --- json ---------------------------------------------------------------------------------


def render_json(data: object) -> str:
    """JSON as the AWS CLI prints it: 4-space indent, keys in the service's order."""
    if data == {}:
        return ""
    return json.dumps(data, indent=4, ensure_ascii=False, default=_json_default) + "\n"


def render_skeleton(skeleton: object) -> str:
    """JSON as `--generate-cli-skeleton input` prints it."""
    return json.dumps(skeleton, indent=4) + "\n"


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("utf-8")
    msg = "Encountered unrecognized type in JSON encoder."
    raise TypeError(msg)


# --- text ---------------------------------------------------------------------------------


def render_text(data: object) -> str:
    """Tab-separated lines as the AWS CLI's text output: keys sorted, lists named upper-case."""
    lines: list[str] = []
    _text(data, lines)
    return "".join(lines)


def _text(
    item: object,
    out: list[str],
    identifier: str | None = None,
    scalar_keys: Sequence[str] | None = None,
) -> None:
    if isinstance(item, dict):
        _text_dict(item, out, identifier, scalar_keys)
    elif isinstance(item, list):
        _text_list(item, out, identifier)
    else:
        out.append(f"{_str(item)}\n")


def _text_list(items: list[object], out: list[str], identifier: str | None) -> None:
    if not items:
        return
    if any(isinstance(e, dict) for e in items):
        keys = sorted(
            {
                k
                for e in items
                if isinstance(e, dict)
                for k, v in e.items()
                if not isinstance(v, (dict, list))
            }
        )
        for element in items:
            _text(element, out, identifier, keys)
    elif any(isinstance(e, list) for e in items):
        scalars = [e for e in items if not isinstance(e, (dict, list))]
        if scalars:
            _text_scalars(scalars, out, identifier)
        for element in items:
            if isinstance(element, (dict, list)):
                _text(element, out, identifier)
    else:
        _text_scalars(items, out, identifier)


def _text_scalars(items: Sequence[object], out: list[str], identifier: str | None) -> None:
    if identifier is not None:
        out.extend(f"{identifier.upper()}\t{_str(i)}\n" for i in items)
    else:
        out.append("\t".join(_str(i) for i in items) + "\n")


def _text_dict(
    item: dict[object, object],
    out: list[str],
    identifier: str | None,
    scalar_keys: Sequence[str] | None,
) -> None:
    scalars: list[str] = []
    nested: list[tuple[str, object]] = []
    if scalar_keys is None:
        for key, value in sorted(item.items(), key=lambda kv: str(kv[0])):
            if isinstance(value, (dict, list)):
                nested.append((str(key), value))
            else:
                scalars.append(_str(value))
    else:
        scalars = [_str(item.get(k, "")) for k in scalar_keys]
        nested = [(str(k), item[k]) for k in sorted(set(item) - set(scalar_keys), key=str)]
    if scalars:
        if identifier is not None:
            scalars.insert(0, identifier.upper())
        out.append("\t".join(scalars) + "\n")
    for key, value in nested:
        _text(value, out, key)


def _str(value: object) -> str:
    # Python's str(), as the AWS CLI uses: None, True and floats read as Python writes them.
    return str(value)


# --- yaml (AWS CLI v2) --------------------------------------------------------------------


def render_yaml(data: object) -> str:
    """YAML as AWS CLI v2's ``--output yaml``: block style, keys sorted."""
    if data == {}:
        return ""
    return _yaml(data)


def render_yaml_stream(data: object) -> str:
    """YAML as AWS CLI v2's ``--output yaml-stream``: a list with one item per answer page."""
    return _yaml([data])


def _yaml(value: object) -> str:
    if isinstance(value, str):
        # v2 writes a bare string double-quoted, so that it reads back as a string.
        return yaml.safe_dump(value, default_style='"', allow_unicode=True, width=2**31)
    text = yaml.safe_dump(value, default_flow_style=False, allow_unicode=True, sort_keys=True)
    # A bare scalar ends with the document end marker, which v2 does not print.
    return text.removesuffix("...\n")
