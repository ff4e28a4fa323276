"""The AWS CLI's table output, byte for byte (awscli's ``table`` module), colours included."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence


class RenderError(ValueError):
    """The answer cannot be drawn in the chosen format (the AWS CLI fails there too)."""


# colorama's codes, as the AWS CLI's ColorizedStyler writes them.
_RESET: Final = "\x1b[0m"
_ROW: Final = "\x1b[1m\x1b[34m"  # Style.BRIGHT + Fore.BLUE
_INDENT: Final = "\x1b[2m\x1b[33m"  # Style.DIM + Fore.YELLOW


def _str(value: object) -> str:
    # Python's str(), as the AWS CLI uses: None, True and floats read as Python writes them.
    return str(value)


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
