"""The syntax of netrc files: where each entry starts and ends, as Python's ``netrc`` reads it.

Used by ``ecrd.outputs.netrc``, which edits entries in place and keeps every other byte; the
reasons for a parser of its own are in that module's docstring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ecrd.errors import OutputError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

EntryKind = Literal["machine", "default", "macdef"]

_BLANKS = re.compile(r"[ \t\r\n]*")
_WORD_RUN = re.compile(r"[^ \t\r\n\\]*")
_QUOTED_RUN = re.compile(r'[^"\\]*')
_VALUE_KEYWORDS = frozenset({"login", "user", "account", "password"})


def unparsable(path: Path, line: int, problem: str) -> str:
    return f"cannot parse {path}: line {line}: {problem}; fix or remove it, ecrd left it untouched"


def run_end(pattern: re.Pattern[str], text: str, index: int) -> int:
    match = pattern.match(text, index)
    return match.end() if match else index


def skip(text: str, index: int, chars: str) -> int:
    while index < len(text) and text[index] in chars:
        index += 1
    return index


@dataclass(frozen=True)
class Token:
    value: str
    start: int
    end: int
    quoted: bool


@dataclass  # not frozen: the parser extends ``end`` and sets ``password`` as it reads on
class Entry:
    """A ``machine``, ``default`` or ``macdef`` entry of a netrc file."""

    kind: EntryKind
    name: str  # the host or the macro's name; "" for default
    start: int  # where its keyword starts
    end: int  # past its last token; for macdef, past the blank line that closes it
    password: str | None = None


Ending = Literal["word", "quoted", "comment", "macdef"]


@dataclass(frozen=True)
class Netrc:
    text: str
    entries: tuple[Entry, ...]
    comment_starts: frozenset[int]
    endings: Mapping[int, Ending]  # where each word, comment and macro ends, and what it is
    open_macdef: bool  # the file ends inside a macdef body, with no blank line to close it

    def machines(self, name: str) -> list[Entry]:
        """The ``machine`` entries for ``name``, whatever the case, in file order."""
        lowered = name.lower()
        return [e for e in self.entries if e.kind == "machine" and e.name.lower() == lowered]

    def first_default(self) -> Entry | None:
        return next((e for e in self.entries if e.kind == "default"), None)

    def reaches_directly(self, index: int) -> bool:
        """Whether Python's netrc gets from the word before ``index`` to it on one line.

        Its lexer consumes the one character that ends an unquoted word (a line end
        included) and readline() eats a comment's line end; a quoted word and a macro's
        closing blank line leave nothing to eat.
        """
        previous = max((end for end in self.endings if end <= index), default=0)
        gap = self.text[previous:index]
        if previous and self.endings[previous] in ("word", "comment"):
            gap = gap[2:] if gap.startswith("\r\n") else gap[1:]
        return "\n" not in gap


@dataclass
class Lexer:
    text: str
    path: Path
    index: int = 0
    endings: dict[int, Ending] = field(default_factory=dict)

    def line(self, index: int) -> int:
        return self.text.count("\n", 0, index) + 1

    def next(self) -> Token | None:
        """The next token, as Python's netrc reads it; ``None`` at the end of the file."""
        text = self.text
        start = index = run_end(_BLANKS, text, self.index)
        if index == len(text):
            self.index = index
            return None
        quoted = text[index] == '"'
        run = _QUOTED_RUN if quoted else _WORD_RUN
        index += quoted
        chars: list[str] = []
        while True:
            end = run_end(run, text, index)
            chars.append(text[index:end])
            index = end
            if index == len(text):
                if quoted:
                    msg = unparsable(self.path, self.line(start), "a quote is never closed")
                    raise OutputError(msg)
                break
            if text[index] == "\\":  # escapes the next character, if any
                chars.append(text[index + 1 : index + 2])
                index += 2 if index + 1 < len(text) else 1
                continue
            index += quoted  # past the closing quote; a blank ends an unquoted word
            break
        self.index = index
        self.endings[index] = "quoted" if quoted else "word"
        return Token(value="".join(chars), start=start, end=index, quoted=quoted)

    def skip_comment(self, token: Token) -> None:
        """Skip to the end of the comment's line (its newline stays)."""
        end = token.end
        if "\n" not in self.text[token.start : token.end]:
            newline = self.text.find("\n", token.end)
            end = len(self.text) if newline < 0 else newline
        self.index = end
        del self.endings[token.end]
        self.endings[end] = "comment"

    def skip_macro(self, name: Token) -> tuple[int, bool]:
        """Skip a macro's body, up to and with the blank line that closes it.

        Returns where it ends and whether a blank line closed it. As in Python's netrc, the
        body starts just past the character that ended the name (so a macdef line's rest
        is its first body line), or just past the closing quote of a quoted name.
        """
        text = self.text
        index = name.end
        if not name.quoted and index < len(text):
            index += 2 if text.startswith("\r\n", index) else 1
        closed = False
        while index < len(text):
            newline = text.find("\n", index)
            end = len(text) if newline < 0 else newline + 1
            line = text[index:end]
            index = end
            if line in ("\n", "\r\n"):
                closed = True
                break
        self.index = index
        self.endings[index] = "macdef"
        return index, closed


def parse(text: str, path: Path) -> Netrc:
    """Find the entries of a netrc file and where each starts and ends.

    Words that are no keyword (Python's netrc rejects them, curl skips them) are kept, and
    belong to the entry they stand in.

    Raises:
        OutputError: a ``machine`` or ``macdef`` without a name, or an unclosed quote.
    """
    lexer = Lexer(text, path)
    entries: list[Entry] = []
    comments: set[int] = set()
    open_macdef = False
    current: Entry | None = None
    while (token := lexer.next()) is not None:
        word = token.value
        keyword = word.lower()
        if word.startswith("#"):
            comments.add(token.start)
            lexer.skip_comment(token)
        elif keyword in ("machine", "macdef"):
            name = lexer.next()
            if name is None or not name.value:
                msg = f"'{word}' without a {'host' if keyword == 'machine' else 'macro'} name"
                raise OutputError(unparsable(path, lexer.line(token.start), msg))
            if keyword == "machine":
                current = Entry("machine", name.value, token.start, name.end)
                entries.append(current)
            else:
                end, closed = lexer.skip_macro(name)
                open_macdef = not closed
                entries.append(Entry("macdef", name.value, token.start, end))
                current = None
        elif keyword == "default":
            current = Entry("default", "", token.start, token.end)
            entries.append(current)
        elif current is not None:
            current.end = token.end
            if keyword in _VALUE_KEYWORDS and (value := lexer.next()) is not None:
                current.end = value.end
                if keyword == "password":
                    current.password = value.value
    return Netrc(
        text=text,
        entries=tuple(entries),
        comment_starts=frozenset(comments),
        endings=lexer.endings,
        open_macdef=open_macdef,
    )
