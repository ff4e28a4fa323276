"""netrc files: edit ecrd's ``machine`` entries, keep every other byte as it was.

Hand-parsed: the stdlib ``netrc`` module cannot write, and what it reads has lost the
comments, the ``macdef`` bodies' places and the layout; ecrd must keep every byte it does not
manage. Tokens are read as Python's ``netrc`` reads them (whitespace-separated, ``"..."``
quoting, backslash escapes, ``#`` comments to the end of the line, ``macdef`` bodies up to a
blank line), so that entries start and end where Python, curl and requests see them.

Entries are matched on the host without its port (netrc has no ports) and, as curl does,
whatever the case. A managed host ends up with exactly one entry, written over three lines
(some curl versions drop lines longer than about 4 KB; ECR passwords are over 2 KB):

- the first entry for the host is replaced in place, later ones are deleted: curl reads the
  first match and Python's ``netrc`` (hence requests) the last, so both must be ecrd's;
- an entry after ``default`` is moved before it, and new entries go before ``default``
  (above the comment lines just over it), else at the end: curl stops at ``default``.
"""

from __future__ import annotations

import hashlib
import io
import netrc as stdlib_netrc
import os
import re
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ecrd.errors import OutputError
from ecrd.hostport import host_name
from ecrd.logs import get_logger
from ecrd.outputs import _netrc_syntax as syntax
from ecrd.outputs._update import update_output
from ecrd.outputs.output import WriteResult, fingerprint

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from ecrd.config.model import OutputSpec
    from ecrd.secret import Credentials

_log = get_logger()
# A word written unquoted: printable, no whitespace, no quote or backslash, no leading "#".
_PLAIN_WORD = re.compile(r'[^\s"\\#][^\s"\\]*')
# A long run of characters that mean nothing to a netrc lexer (base64: ECR's passwords).
_INERT_RUN = re.compile(r"[A-Za-z0-9+/=]{32,}")
# The digest of the text ecrd last made of each file. That text is an edit of one Python's
# netrc read, and every edit keeps it readable (tests/outputs/test_netrc.py), so it is not
# checked again (a tenth of a daemon's reload); a change by anyone else changes the digest.
_WRITTEN: dict[str, bytes] = {}


class NetrcOutput:
    """A ``.netrc``-format file, as read by curl, Python's ``netrc`` and requests."""

    def __init__(self, spec: OutputSpec) -> None:
        self.spec = spec

    def apply(self, *, logins: Mapping[str, Credentials], remove: Mapping[str, str]) -> WriteResult:
        """Set ``logins`` and drop the entries in ``remove``, in one atomic write at most.

        Raises:
            OutputError: the file could not be read, parsed or written; it is unchanged.
            ValueError: a host cannot be a machine name, or two hosts of ``logins`` are one
                machine (they differ only by their port or case): the config loader forbids
                both.
        """
        path = self.spec.path
        wanted = _wanted(logins, path)
        removed: tuple[str, ...] = ()

        def render(before: bytes | None) -> bytes | None:
            nonlocal removed
            text = _decode(before, path)
            after, removed = _edit(text, wanted=wanted, remove=remove, path=path)
            return None if after == text else after.encode()

        loose = _loose_mode(path)
        # private: Python's netrc (so requests) refuses a ~/.netrc others can read.
        written = update_output(path, render=render, private=True)
        if written and loose is not None:
            _log.warning(
                "netrc_mode_tightened",
                path=str(path),
                mode=f"{loose:04o}",
                new_mode=f"{loose & ~0o077:04o}",
            )
        return WriteResult(
            path=path,
            written=written,
            fingerprints={w.host: fingerprint(w.password) for w in wanted.values()},
            removed=removed if written else (),
        )


def _check_python_netrc(text: str, path: Path) -> None:
    """Refuse a file Python's ``netrc`` module (hence requests, pip, twine) cannot read.

    Such a file is no netrc file to them (say a sudoers file reached through a link), so
    ecrd leaves it alone. The stdlib's message is cut before the word it quotes, which may
    be a password.

    Raises:
        OutputError: naming the path and line.
    """
    # Python's lexer reads one character per call: the 2 KB passwords were most of a round's
    # time. Each long inert run becomes one "x": no token starts, ends or changes kind, no
    # line moves, and no token becomes a keyword (none holds an "x"), so the verdict and
    # the line it names are the same.
    checked = _INERT_RUN.sub("x", text)
    parser = stdlib_netrc.netrc(os.devnull)
    try:
        # The one way to parse text rather than a path; tests fail loudly if it goes.
        parser._parse(str(path), io.StringIO(checked, newline=None), default_netrc=False)  # type: ignore[attr-defined]  # noqa: SLF001
    except stdlib_netrc.NetrcParseError as exc:
        problem = re.split("[\"']", exc.msg, maxsplit=1)[0].strip().rstrip(":")
        msg = syntax.unparsable(
            path,
            exc.lineno or 1,
            f"Python's netrc module, used by requests, rejects it ({problem})",
        )
        raise OutputError(msg) from None


def _loose_mode(path: Path) -> int | None:
    """The file's mode when group or others have any access to it, else ``None``."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o077 else None


@dataclass(frozen=True)
class _Wanted:
    host: str  # as configured, port included
    name: str  # the netrc machine name
    login: str
    password: str

    def render(self, newline: str) -> str:
        return (
            f"machine {self.name}{newline}login {self.login}{newline}"
            f"password {self.password}{newline}"
        )


def _wanted(logins: Mapping[str, Credentials], path: Path) -> dict[str, _Wanted]:
    """The entries to write, by lower-case machine name."""
    wanted: dict[str, _Wanted] = {}
    for host, login in logins.items():
        name = host_name(host)  # netrc has no ports; IPv6 as curl looks it up: ::1
        if not _PLAIN_WORD.fullmatch(name):
            msg = f"{host!r} cannot be a netrc machine name"
            raise ValueError(msg)
        other = wanted.get(name.lower())
        if other is not None:
            msg = (
                f"{other.host} and {host} are one machine in a netrc file (netrc has no ports, "
                "and curl ignores the case of names)"
            )
            raise ValueError(msg)
        password = login.password.reveal()
        for what, value in (("login", login.username), ("password", password)):
            if not _PLAIN_WORD.fullmatch(value):
                # Never expected: ECR passwords are base64. The value stays out of the message.
                msg = (
                    f"cannot write {path}: the {what} for {host} holds a space, a quote, a "
                    "backslash or a leading '#', which netrc readers disagree on; "
                    "ecrd left the file untouched, report this as a bug"
                )
                raise OutputError(msg)
        wanted[name.lower()] = _Wanted(
            host=host, name=name, login=login.username, password=password
        )
    return wanted


def _decode(data: bytes | None, path: Path) -> str:
    """The file as text; ``""`` when it is missing.

    Raises:
        OutputError: the file is not UTF-8 text.
    """
    if data is None:
        return ""
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise OutputError(syntax.unparsable(path, line, "not UTF-8 text")) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise OutputError(syntax.unparsable(path, line, "binary data (a NUL byte)"))
    return text


def _edit(
    text: str, *, wanted: Mapping[str, _Wanted], remove: Mapping[str, str], path: Path
) -> tuple[str, tuple[str, ...]]:
    """Return ``text`` with ``wanted`` set and ``remove`` applied, and the hosts removed.

    One parse, indexed by machine name; the changes are planned against it as spans of the
    text and made from the end of the file backwards, so each is made on text that is, up
    to it, still as parsed.
    """
    parsed = syntax.parse(text, path)
    if _WRITTEN.get(str(path)) != _digest(text):
        # A macro left open at the end is closed by ecrd's next entry: check the file so.
        _check_python_netrc(text + "\n\n" if parsed.open_macdef else text, path)
    by_name: dict[str, list[syntax.Entry]] = {}
    for entry in parsed.entries:
        if entry.kind == "machine":
            by_name.setdefault(entry.name.lower(), []).append(entry)
    changes = _set(text, parsed, by_name, wanted)
    removed: list[str] = []
    gone: set[int] = set()
    for host, digest in remove.items():
        name = host_name(host).lower()
        if name in wanted:
            continue
        ours = [
            e
            for e in by_name.get(name, [])
            if e.password is not None and fingerprint(e.password) == digest
        ]
        changes.extend(
            _Change(e.start, _entry_end(text, e), removed=e) for e in ours if e.start not in gone
        )
        gone.update(e.start for e in ours)
        if ours:
            removed.append(host)
    after = _Rewrite(text, parsed).apply(changes)
    _WRITTEN[str(path)] = _digest(after)
    return after, tuple(removed)


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class _Rewrite:
    """Changes made from the end of the file backwards, on text that is, up to each, as parsed.

    The text after the last change made is kept in pieces and joined once at the end: each
    change copying the whole text made replacing 1,000 hosts cost seconds.
    """

    def __init__(self, text: str, parsed: syntax.Netrc) -> None:
        self.text = text
        self.parsed = parsed
        self.cut = len(text)  # text[:cut] is as parsed; the rest is in ``after``, reversed
        self.after: list[str] = []

    def apply(self, changes: list[_Change]) -> str:
        # At one place a removal before an insertion, which would otherwise be removed.
        for change in sorted(changes, key=lambda c: (c.start, c.end), reverse=True):
            if change.removed is not None:
                self._remove(change.removed)
            else:
                self._replace(change.start, change.end, change.text)
        return self.text[: self.cut] + "".join(reversed(self.after))

    def _replace(self, start: int, end: int, new: str) -> None:
        if start > self.cut:
            # An insertion where a removal just began (its line start was taken too): it
            # goes that far into what follows the removal.
            rest = "".join(reversed(self.after))
            offset = start - self.cut
            self.after = [rest[:offset] + new + rest[offset:]]
            return
        self.after.append(self.text[end : self.cut])
        self.after.append(new)
        self.cut = start

    def _following(self, end: int) -> str:
        """The current text from ``end``, up to its first character that is not a blank."""
        found = self.text[end : self.cut]
        for piece in reversed(self.after):
            if found.strip(" \t"):
                break
            found += piece
        return found

    def _remove(self, entry: syntax.Entry) -> None:
        """Delete an entry, with its line when nothing else is on it.

        Python's ``netrc`` reads a comment line as keywords when it reaches it across a
        line end it had not consumed yet (after a blank line, trailing blanks or a quoted
        word). An entry of ecrd's in between hid that; when its removal would expose a
        comment so, a bare ``#`` line takes its place (a one-word comment, which Python
        skips whole).
        """
        text = self.text
        start, end = entry.start, _entry_end(text, entry)
        following = self._following(end)
        if not following or text[end - 1] == "\n":
            start = _line_start(text, start)
        after = syntax.skip(following, 0, " \t")
        if (
            after < len(following)
            and following[after] == "#"
            and not self.parsed.reaches_directly(start)
        ):
            newline = "\r\n" if text.endswith("\r\n", 0, end) else "\n"
            self._replace(start, end, "#" + newline)
        else:
            self._replace(start, end, "")


def _set(
    text: str,
    parsed: syntax.Netrc,
    by_name: Mapping[str, list[syntax.Entry]],
    wanted: Mapping[str, _Wanted],
) -> list[_Change]:
    """The changes giving each wanted host exactly one entry, before any ``default``."""
    newline = "\r\n" if "\r\n" in text else "\n"
    default = parsed.first_default()
    changes: list[_Change] = []
    inserts: list[str] = []
    for name, want in wanted.items():
        found = by_name.get(name, [])
        keep_place = bool(found) and (default is None or found[0].start < default.start)
        later = found[1:] if keep_place else found
        changes.extend(_Change(e.start, _entry_end(text, e), removed=e) for e in later)
        if keep_place:
            first = found[0]
            changes.append(_Change(first.start, _entry_end(text, first), want.render(newline)))
        else:
            inserts.append(want.render(newline))
    if inserts:
        position, prefix = _insertion(text, parsed)
        changes.append(_Change(position, position, prefix + "".join(inserts)))
    return changes


@dataclass(frozen=True)
class _Change:
    """Text to put over ``[start, end)``, or an entry to remove (``removed``)."""

    start: int
    end: int
    text: str = ""
    removed: syntax.Entry | None = None


def _insertion(text: str, parsed: syntax.Netrc) -> tuple[int, str]:
    """Where new entries go, and what must come before them there.

    Before the first ``default`` (and the comment lines just over it), else at the end:
    curl stops at ``default``.
    """
    default = parsed.first_default()
    if default is None:
        prefix = "\n" if text and not text.endswith("\n") else ""
        if parsed.open_macdef:
            prefix += "\n"  # close the macro, or the entry would be read as part of it
        return len(text), prefix
    position = _line_start(text, default.start)
    while position > 0 and text[position - 1] == "\n":
        above = text.rfind("\n", 0, position - 1) + 1
        if syntax.skip(text, above, " \t") not in parsed.comment_starts:
            break
        position = above
    return position, "" if position == 0 or text[position - 1] == "\n" else "\n"


def _entry_end(text: str, entry: syntax.Entry) -> int:
    """Where an entry's text ends: past its line's end when only blanks follow its last token.

    When more follows on the line (a comment, another entry), only the blanks are taken:
    the entry written in its place ends with a newline.
    """
    end = syntax.skip(text, entry.end, " \t\r")
    if end < len(text) and text[end] == "\n":
        return end + 1
    return end


def _line_start(text: str, index: int) -> int:
    """The start of the line holding ``index``, if only blanks stand before it there."""
    start = text.rfind("\n", 0, index) + 1
    return start if not text[start:index].strip(" \t") else index
