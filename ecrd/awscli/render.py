"""The AWS CLI's output formats, byte for byte: json, text, table, and v2's yaml, yaml-stream.

Pure functions from an answer (JSON-like data, after ``--query``) to the text the AWS CLI
prints. json, text and table follow awscli's ``formatter``, ``text`` and ``table`` modules;
yaml and yaml-stream follow AWS CLI v2 (block style, keys sorted, a bare string quoted).
"""

from __future__ import annotations

import base64
import json
import unicodedata
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final, Literal

import yaml

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

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


class RenderError(ValueError):
    """The answer cannot be drawn in the chosen format (the AWS CLI fails there too)."""


# colorama's codes, as the AWS CLI's ColorizedStyler writes them.
_RESET: Final = "\x1b[0m"
_ROW: Final = "\x1b[1m\x1b[34m"  # Style.BRIGHT + Fore.BLUE
_INDENT: Final = "\x1b[2m\x1b[33m"  # Style.DIM + Fore.YELLOW


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


# --- table --------------------------------------------------------------------------------


class _Section:
    """One titled block of a table: optional column headers, then rows."""

    def __init__(self, title: str | None = "", indent_level: int = 0) -> None:
        self.title = title
        self.indent_level = indent_level
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self._num_cols: int | None = None
        self._max_widths: list[int] = []

    def add_header(self, headers: Sequence[str]) -> None:
        self._update_max_widths(headers)
        if self._num_cols is None:
            self._num_cols = len(headers)
        self.headers = list(headers)

    def add_row(self, row: Sequence[object]) -> None:
        if self._num_cols is None:
            self._num_cols = len(row)
        if len(row) != self._num_cols:
            msg = f"Row should have {self._num_cols} elements, instead it has {len(row)}"
            raise RenderError(msg)
        cells = [_str(r) for r in row]
        self.rows.append(cells)
        self._update_max_widths(cells)

    def _update_max_widths(self, row: Sequence[str]) -> None:
        if not self._max_widths:
            self._max_widths = [_text_length(c) for c in row]
        else:
            for i, cell in enumerate(row):
                self._max_widths[i] = max(_text_length(cell), self._max_widths[i])

    def column_widths(self, padding: int = 0, max_width: int | None = None) -> list[int]:
        unscaled = [w + padding for w in self._max_widths]
        if max_width is None or not unscaled:
            return unscaled
        scale = max_width / float(sum(unscaled))
        scaled = [round(scale * w) for w in unscaled]
        off_by = sum(scaled) - max_width
        while off_by != 0:
            order = range(len(scaled)) if off_by > 0 else reversed(range(len(scaled)))
            for i in order:
                if off_by > 0:
                    scaled[i] -= 1
                    off_by -= 1
                else:
                    scaled[i] += 1
                    off_by += 1
                if off_by == 0:
                    break
        return scaled

    def total_width(self, padding: int = 0, outer_padding: int = 0) -> int:
        border = 2
        total = sum(w + padding for w in self.column_widths()) + border + 2 * outer_padding
        return max(_text_length(str(self.title)) + border + 2 * outer_padding, total)


class _Stream:
    """Collects writes; with colour, a reset follows each write.

    That is what colorama's ``autoreset`` wrapper of stdout does in the AWS CLI.
    """

    def __init__(self, *, autoreset: bool) -> None:
        self.parts: list[str] = []
        self._autoreset = autoreset

    def write(self, text: str) -> None:
        self.parts.append(text)
        if self._autoreset:
            self.parts.append(_RESET)


class _Indented:
    """Writes a line between ``level`` indentation bars on each side."""

    def __init__(self, stream: _Stream, level: int, bar: str) -> None:
        self._stream = stream
        self._level = level
        self._bar = bar

    def write(self, text: str) -> None:
        self._stream.write(self._bar * self._level)
        if text.endswith("\n"):
            self._stream.write(text[:-1])
            self._stream.write(self._bar * self._level)
            self._stream.write("\n")
        else:
            self._stream.write(text)


class _Table:
    """The AWS CLI's MultiTable: sections rendered at one common width."""

    def __init__(self, *, color: bool, width: int) -> None:
        self.sections: list[_Section] = []
        self._color = color
        self._terminal_width = width

    @property
    def current(self) -> _Section:
        return self.sections[-1]

    def new_section(self, title: str | None, indent_level: int = 0) -> None:
        self.sections.append(_Section(title, indent_level))

    def render(self) -> str:
        max_width = self._max_width()
        if max_width > self._terminal_width:
            self._to_vertical()
            max_width = self._max_width()
        stream = _Stream(autoreset=self._color)
        stream.write("-" * max_width + "\n")
        bar = f"{_INDENT}|{_RESET}" if self._color else "|"
        for section in self.sections:
            out = _Indented(stream, section.indent_level, bar)
            width = max_width - section.indent_level * 2
            self._render_title(section, width, out)
            self._render_headers(section, width, out)
            self._render_rows(section, width, out)
        return "".join(stream.parts)

    def _max_width(self) -> int:
        return max(s.total_width(padding=4, outer_padding=s.indent_level) for s in self.sections)

    def _to_vertical(self) -> None:
        # A section with a single row reads better as "header | value" lines.
        for i, section in enumerate(self.sections):
            if len(section.rows) == 1 and section.headers:
                vertical = _Section(section.title, section.indent_level)
                for header, cell in zip(section.headers, section.rows[0], strict=False):
                    vertical.add_row([header, cell])
                self.sections[i] = vertical

    def _render_title(self, section: _Section, width: int, out: _Indented) -> None:
        if section.title:
            out.write(_center(section.title, width, "|", "|") + "\n")
            if not section.headers and not section.rows:
                out.write("+{}+".format("-" * (width - 2)) + "\n")

    def _render_headers(self, section: _Section, width: int, out: _Indented) -> None:
        if not section.headers:
            return
        widths = section.column_widths(padding=4, max_width=width)
        line = "".join(
            _center(h, w, "|" if i == 0 else "", "|")
            for i, (w, h) in enumerate(zip(widths, section.headers, strict=False))
        )
        out.write(_line_break(widths))
        out.write(line + "\n")

    def _render_rows(self, section: _Section, width: int, out: _Indented) -> None:
        if not section.rows:
            return
        widths = section.column_widths(padding=4, max_width=width)
        if not widths:
            return
        out.write(_line_break(widths))
        for row in section.rows:
            line = ""
            for i, (w, cell) in enumerate(zip(widths, row, strict=False)):
                styled = f"{_ROW}{cell}{_RESET}" if self._color else cell
                line += _align_left(styled, w, "|" if i == 0 else "", "|", _text_length(cell))
            out.write(line + "\n")
        out.write(_line_break(widths))


def render_table(data: object, *, title: str, color: bool = False, width: int = 80) -> str:
    """A table as the AWS CLI's table output draws it; "" for an empty answer."""
    table = _Table(color=color, width=width)
    if not _build(table, title, data):
        return ""
    return table.render()


def _build(table: _Table, title: str | None, current: object, indent_level: int = 0) -> bool:
    if not current:
        return False
    if title is not None:
        table.new_section(title, indent_level)
    if isinstance(current, list):
        if isinstance(current[0], dict):
            _build_from_list(table, current, indent_level, title)
        else:
            for item in current:
                if not isinstance(item, (dict, list)):
                    table.current.add_row([item])
                elif all(not isinstance(e, (dict, list)) for e in item):
                    # As the AWS CLI: a dict of scalars here becomes a row of its keys.
                    table.current.add_row(list(item))
                else:
                    _build(table, None, item)
    if isinstance(current, dict):
        _build_from_dict(table, current, indent_level)
    return True


def _build_from_dict(table: _Table, current: dict[object, object], indent_level: int) -> None:
    headers, more = _group_keys(current)
    if len(headers) == 1:
        table.current.add_row([headers[0], current[headers[0]]])
    elif headers:
        table.current.add_header(headers)
        table.current.add_row([current[k] for k in headers])
    for key in more:
        _build(table, key, current[key], indent_level + 1)


def _build_from_list(
    table: _Table, current: list[object], indent_level: int, title: str | None
) -> None:
    headers_set: set[str] = set()
    more_set: set[str] = set()
    for item in current:
        if isinstance(item, dict):
            h, m = _group_keys(item)
            headers_set.update(h)
            more_set.update(m)
    headers, more = sorted(headers_set), sorted(more_set)
    table.current.add_header(headers)
    for index, element in enumerate(current):
        if not isinstance(element, dict):
            continue
        if index > 0 and more:
            table.new_section(title, indent_level)
            table.current.add_header(headers)
        table.current.add_row([element.get(h, "") for h in headers])
        for key in more:
            if key in element:
                _build(table, key, element[key], indent_level + 1)


def _group_keys(current: dict[object, object]) -> tuple[list[str], list[str]]:
    headers = sorted(str(k) for k, v in current.items() if not isinstance(v, (list, dict)))
    more = sorted(str(k) for k, v in current.items() if isinstance(v, (list, dict)))
    return headers, more


def _text_length(text: str) -> int:
    # East Asian wide, full-width and ambiguous characters take two columns.
    return sum(2 if unicodedata.east_asian_width(c) in "WFA" else 1 for c in text)


def _center(text: str, length: int, left: str, right: str) -> str:
    text_length = _text_length(text)
    start = (length // 2) - (text_length // 2) - 1
    so_far = _text_length(left) + start + text_length
    return left + " " * start + text + " " * (length - _text_length(right) - so_far) + right


def _align_left(text: str, length: int, left: str, right: str, text_length: int) -> str:
    computed = text_length + 2 + _text_length(left) + _text_length(right)
    padding = 2 if length - computed >= 0 else 0
    so_far = len(left) + padding + text_length
    return left + " " * padding + text + " " * (length - so_far - len(right)) + right


def _line_break(widths: Sequence[int]) -> str:
    parts = [
        "+{}+".format("-" * (w - 2)) if i == 0 else "{}+".format("-" * (w - 1))
        for i, w in enumerate(widths)
    ]
    return "".join(parts) + "\n"


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
