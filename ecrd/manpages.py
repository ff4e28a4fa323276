"""The manual pages ``ecrd(1)`` and ``ecrd.yaml(5)``, written from the texts users already read.

``ecrd(1)`` is the README's opening paragraph and its row for ``docker-credential-ecrd``,
then every command's ``--help`` as click renders it (usage, text, options); ``ecrd.yaml(5)``
is the annotated example configuration: its comments become the text, the file itself the
example. The pages in ``ecrd/data/man/`` are this module's output, kept equal by a test, so
they cannot drift from ``--help``, the README or the example; after changing one of those:

    python -m ecrd.manpages README.md ecrd/data/man

Not imported by any command: only by that line, the tests and ``scripts/package``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

PAGES = ("ecrd.1", "ecrd.yaml.5")
_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
# "(see [Laptops](#laptops))": a pointer into the README, which a man page cannot follow.
_SEE_README = re.compile(r"\s*\(see (?:[^()]|\(#[^()]*\))*\)")
_HELPER_ROW = "| `docker-credential-ecrd"
_TOP_KEY = re.compile(r"^([a-z_]+):")
# A top-level key of the example: its name, its comment, its lines (YAML, note).
_Section = tuple[str, list[str], list[tuple[str, str]]]


def render_pages(*, command: click.Command, readme: str, example: str) -> dict[str, str]:
    """Each page's file name and text."""
    return {
        "ecrd.1": render_ecrd_1(command=command, readme=readme),
        "ecrd.yaml.5": render_ecrd_yaml_5(example=example),
    }


def render_ecrd_1(*, command: click.Command, readme: str) -> str:
    """``ecrd(1)``: the README's pitch, then each command's help, as ``--help`` shows it."""
    ctx = click.Context(command, info_name="ecrd", **command.context_settings)
    lines = [
        '.TH ECRD 1 "" "ecrd" "ecrd manual"',
        ".SH NAME",
        rf"ecrd, docker\-credential\-ecrd \- {_roff_text(_first_sentence(command.help or ''))}",
        ".SH SYNOPSIS",
        rf"\fBecrd\fR {_roff_text(' '.join(command.collect_usage_pieces(ctx)))}",
        ".SH DESCRIPTION",
        *_paragraphs(_markdown(_readme_pitch(readme))),
        ".SH OPTIONS",
        *_options(command, ctx),
        ".SH COMMANDS",
    ]
    for path, sub, sub_ctx in _commands(command, ctx):
        usage = " ".join(sub.collect_usage_pieces(sub_ctx))
        lines += [f'.SS "{_roff_text(f"{path} {usage}")}"', *_paragraphs(_help(sub))]
        lines += _options(sub, sub_ctx)
    lines += [
        ".SH DOCKER CREDENTIAL HELPER",
        *_paragraphs(_markdown(_readme_helper_row(readme))),
        ".SH FILES",
        ".TP",
        r"\fI~/.config/ecrd/config.yaml\fR, \fI/etc/ecrd/config.yaml\fR",
        r"The configuration, unless \fB\-c\fR or \fBECRD_CONFIG\fR names another; see \fBecrd.yaml\fR(5).",
        ".SH SEE ALSO",
        r"\fBecrd.yaml\fR(5), \fBsystemctl\fR(1), \fBdocker\fR(1)",
    ]
    return "\n".join(lines) + "\n"


def render_ecrd_yaml_5(*, example: str) -> str:
    """``ecrd.yaml(5)``: the example configuration's comments as text, then the example."""
    header, sections = _example_sections(example)
    lines = [
        '.TH ECRD.YAML 5 "" "ecrd" "ecrd manual"',
        ".SH NAME",
        r"ecrd.yaml \- the configuration of ecrd",
        ".SH DESCRIPTION",
        *_paragraphs(header),
        ".SH KEYS",
    ]
    for name, text, keys in sections:
        lines += [f".SS {name}", *_paragraphs(text)]
        for code, note in keys:
            if code:
                lines += [".TP", rf"\fB{_roff_text(code)}\fR", _roff_text(note)]
            else:
                lines += [".PP", _roff_text(note)]
    lines += [
        ".SH EXAMPLE",
        ".nf",
        *(_roff_line(line) for line in example.rstrip("\n").split("\n")),
        ".fi",
        ".SH SEE ALSO",
        r"\fBecrd\fR(1)",
    ]
    return "\n".join(lines) + "\n"


def _commands(
    group: click.Command, ctx: click.Context, prefix: str = "ecrd"
) -> Iterator[tuple[str, click.Command, click.Context]]:
    if not isinstance(group, click.Group):
        return
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        sub_ctx = click.Context(sub, info_name=name, parent=ctx)
        yield f"{prefix} {name}", sub, sub_ctx
        yield from _commands(sub, sub_ctx, f"{prefix} {name}")


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    lines: list[str] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, text = record
        lines += [".TP", rf"\fB{_roff_text(names)}\fR", _roff_text(text)]
    return lines


def _help(command: click.Command) -> list[str]:
    r"""The command's help as paragraphs, as click reads it (``\f`` ends it)."""
    text = (command.help or "").split("\f", 1)[0]
    return [" ".join(part.split()) for part in text.strip().split("\n\n")]


def _first_sentence(text: str) -> str:
    first = " ".join(text.strip().split("\n\n", 1)[0].split())
    return first[:1].lower() + first[1:].rstrip(".")


def _readme_pitch(readme: str) -> list[str]:
    """The README's paragraph under its title."""
    body = readme.split("\n\n", 2)
    if len(body) < 2 or not body[0].startswith("# "):  # noqa: PLR2004 -- title, paragraph
        msg = "README.md does not open with '# TITLE' and a paragraph: the man page's DESCRIPTION comes from there"
        raise ValueError(msg)
    return [" ".join(body[1].split())]


def _readme_helper_row(readme: str) -> list[str]:
    """The README's command-table row for docker-credential-ecrd, as one sentence."""
    for line in readme.splitlines():
        if line.startswith(_HELPER_ROW):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            usage, what, status = (cell.replace("\\|", "|") for cell in cells[:3])
            return [f"{usage}: {what}. Exit status: {status}."]
    msg = f"README.md has no command-table row starting with {_HELPER_ROW!r}, which the man page quotes"
    raise ValueError(msg)


def _markdown(paragraphs: Sequence[str]) -> list[str]:
    """Markdown links reduced to their text, pointers into the README dropped.

    Code spans stay as `code`, for ``_roff_text``.
    """
    return [_LINK.sub(r"\1", _SEE_README.sub(_drop_pointer, p)) for p in paragraphs]


def _drop_pointer(match: re.Match[str]) -> str:
    return "" if "](#" in match.group(0) else match.group(0)


def _example_sections(example: str) -> tuple[list[str], list[_Section]]:
    """The example's opening comment, and per top-level key: its comment and its lines.

    Each line of YAML becomes an entry (the line, its trailing comment); a comment on a
    line of its own, indented, becomes an entry with no YAML of its own.
    """
    blocks = example.strip("\n").split("\n\n")
    header = [" ".join(line.lstrip("# ") for line in blocks[0].splitlines())]
    sections: list[_Section] = []
    for block in blocks[1:]:
        lines = block.splitlines()
        top = next((m.group(1) for m in map(_TOP_KEY.match, lines) if m), None)
        if top is not None:
            comment = [line.lstrip("# ") for line in lines if line.startswith("#")]
            sections.append((top, [" ".join(comment)] if comment else [], []))
        if not sections:
            continue
        for line in lines:
            code, _, note = line.partition(" #")
            if line.startswith("#") or (_TOP_KEY.match(line) and not note):
                continue
            if not code.strip():
                sections[-1][2].append(("", line.strip().lstrip("# ")))
            else:
                sections[-1][2].append((code.strip(), note.strip()))
    return header, sections


def _paragraphs(paragraphs: Sequence[str]) -> list[str]:
    lines: list[str] = []
    for paragraph in paragraphs:
        if paragraph:
            lines += [".PP", _roff_text(paragraph)]
    return lines


def _roff_text(text: str) -> str:
    """Running text: roff's escapes, `code` in bold, no line that roff reads as a request."""
    escaped = text.replace("\\", "\\e").replace("-", "\\-")
    return _roff_line(_CODE.sub(r"\\fB\1\\fR", escaped), escaped=True)


def _roff_line(line: str, *, escaped: bool = False) -> str:
    if not escaped:
        line = line.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + line if line.startswith((".", "'")) else line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ecrd.manpages README DIRECTORY [--check]``: write, or compare, the pages."""
    from ecrd.cli import cli  # noqa: PLC0415 -- the commands, only when pages are written
    from ecrd.service.configuration import example_config  # noqa: PLC0415

    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    readme, directory = (Path(a) for a in args if a != "--check")
    pages = render_pages(command=cli, readme=readme.read_text(), example=example_config().decode())
    stale = [name for name, text in pages.items() if _read(directory / name) != text]
    if check:
        for name in stale:
            sys.stderr.write(
                f"{directory / name} differs from --help, README.md and the example configuration; "
                f"run: python -m ecrd.manpages {readme} {directory}\n"
            )
        return 1 if stale else 0
    for name in stale:
        (directory / name).write_text(pages[name])
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
