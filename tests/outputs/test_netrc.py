"""NetrcOutput: ecrd's machine entries set and removed, every other byte kept."""

from __future__ import annotations

import http.server
import io
import netrc
import os
import shutil
import socket
import stat
import subprocess
import threading
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecrd import files as _atomic
from ecrd.config.model import OutputSpec
from ecrd.errors import OutputError
from ecrd.outputs import fingerprint
from ecrd.outputs.netrc import NetrcOutput, _check_python_netrc
from tests.logins import HOST, OTHER, PASSWORD, auth, login
from tests.strategies import ecr_passwords, netrc_files, netrc_hosts
from tests.strategies import netrc_name as plain_name

if TYPE_CHECKING:
    from collections.abc import Iterator


def output(path: Path) -> NetrcOutput:
    return NetrcOutput(OutputSpec(type="netrc", path=path))


def entry(host: str = HOST, password: str = PASSWORD, newline: str = "\n") -> str:
    return f"machine {host}{newline}login AWS{newline}password {password}{newline}"


def stdlib_hosts(path: Path) -> dict[str, tuple[str, str, str]]:
    """What Python's netrc (and so requests) reads: host -> (login, account, password)."""
    return {h: (a[0], a[1] or "", a[2] or "") for h, a in netrc.netrc(str(path)).hosts.items()}


def curl_lookup(text: str, host: str) -> tuple[str, str] | None:  # noqa: C901, PLR0912 (curl's state machine)
    """Read a netrc file as curl 7.88 does of a netrc file for ``host``: the first match, ``default`` stops.

    Lines whose first word starts with ``#`` and the rest of a line after a ``#`` word are
    comments; ``macdef`` skips lines up to a blank one; words may be quoted.
    """
    state, pending = "nothing", ""
    found: dict[str, str] = {}
    in_macro = False
    for line in text.split("\n"):
        if in_macro:
            in_macro = line.strip("\r") != ""
            continue
        for word in _curl_words(line):
            if state == "nothing":
                if word.lower() == "macdef":
                    in_macro = True
                    break
                if word.lower() == "machine":
                    state = "host"
                elif word.lower() == "default":
                    state = "valid"
            elif state == "host":
                state = "valid" if word.lower() == host.lower() else "nothing"
            elif pending:
                found[pending] = word
                pending = ""
            elif word.lower() in ("login", "password"):
                pending = word.lower()
            elif word.lower() in ("machine", "default"):
                if found:
                    return found.get("login", ""), found.get("password", "")
                state = "host" if word.lower() == "machine" else "valid"
            if "login" in found and "password" in found:
                return found["login"], found["password"]
    return (found.get("login", ""), found.get("password", "")) if found else None


def _curl_words(line: str) -> Iterator[str]:
    index = 0
    while True:
        while index < len(line) and line[index] in " \t\r":
            index += 1
        if index == len(line) or line[index] == "#":
            return
        if line[index] == '"':
            end = line.index('"', index + 1)
            yield line[index + 1 : end]
            index = end + 1
        else:
            end = index
            while end < len(line) and line[end] not in " \t\r":
                end += 1
            yield line[index:end]
            index = end


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "out" / ".netrc"


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)


KEPT = (
    "# my netrc\n"
    "machine github.com login me password ghp_x   # work account\n"
    "\n"
    "macdef init\n"
    "machine evil.example login bad password bad\n"
    "cd /pub\n"
    "\n"
    "machine  ftp.example.org\n"
    '\tlogin anonymous\tpassword  "me at home"\n'
)


class TestNetrcOutput:
    def test_new_file(self, path, writes):
        """A missing file is created 0600 with one three-line entry per host, port dropped."""
        result = output(path).apply(
            logins={HOST: login(), "127.0.0.1:5000": login("local")}, remove={}
        )

        assert (entry() + entry("127.0.0.1", "local"), 0o600, 1) == (
            path.read_text(),
            stat.S_IMODE(path.stat().st_mode),
            len(writes),
        )
        assert {HOST: fingerprint(PASSWORD), "127.0.0.1:5000": fingerprint("local")} == dict(
            result.fingerprints
        )

    def test_entry_replaced_in_place_every_other_byte_kept(self, path):
        """The old entry becomes the three-line form where it was; all else stays as it was."""
        old = f"machine {HOST} login AWS password old\n"
        write(path, KEPT + old + "# trailing comment\n" + KEPT)

        output(path).apply(logins={HOST: login()}, remove={})

        assert KEPT + entry() + "# trailing comment\n" + KEPT == path.read_text()

    def test_new_entry_appended_after_a_final_newline(self, path):
        """A file that ends without a newline gets one before ecrd's entry."""
        write(path, KEPT + "machine x login y password z")

        output(path).apply(logins={HOST: login()}, remove={})

        assert KEPT + "machine x login y password z\n" + entry() == path.read_text()

    def test_new_entry_goes_before_default_and_its_comments(self, path):
        """New entries go above default (curl stops there) and the comment lines over it."""
        head = "machine a login b password c\n"
        tail = "# catch-all\n# for anonymous ftp\ndefault login anonymous password me@\n"
        write(path, head + tail)

        output(path).apply(logins={HOST: login()}, remove={})

        assert head + entry() + tail == path.read_text()

    def test_default_in_mid_line(self, path):
        """A default sharing a line with an entry gets ecrd's entry on lines of its own."""
        write(path, "machine a login b password c default login d password e\n")

        output(path).apply(logins={HOST: login()}, remove={})

        assert (
            "machine a login b password c \n" + entry() + "default login d password e\n"
            == path.read_text()
        )

    def test_entry_after_default_is_moved_before_it(self, path):
        """An old entry that curl would never reach (after default) moves above default."""
        write(path, f"default login d password e\nmachine {HOST} login AWS password old\n")

        output(path).apply(logins={HOST: login()}, remove={})

        assert entry() + "default login d password e\n" == path.read_text()

    def test_duplicate_entries_leave_one(self, path):
        """The first entry is replaced, later ones deleted: curl (first) and Python (last) agree."""
        write(
            path,
            f"machine {HOST} login AWS password one\n"
            "machine x login y password z\n"
            f"machine {HOST} login someone password two\n",
        )

        output(path).apply(logins={HOST: login()}, remove={})

        assert entry() + "machine x login y password z\n" == path.read_text()

    def test_host_matches_whatever_the_case(self, path):
        """An upper-case entry is the host's: curl matches machine names in any case."""
        write(path, f"machine {HOST.upper()} login AWS password old\n")

        output(path).apply(logins={HOST: login()}, remove={})

        assert entry() == path.read_text()

    def test_one_line_entries_stay_on_their_line(self, path):
        """An entry sharing a line with others is cut out; the others keep their bytes."""
        write(
            path,
            f"machine a login b password c machine {HOST} login AWS password old machine d login e password f\n",
        )

        output(path).apply(logins={HOST: login()}, remove={})

        assert (
            "machine a login b password c " + entry() + "machine d login e password f\n"
            == path.read_text()
        )

    def test_escaped_and_quoted_words_are_single_words(self, path):
        """Backslash escapes and quotes bind words as Python reads them: no false 'machine'."""
        kept = (
            "machine x login y password a\\ machine\n"
            'machine z login "machine q" password "say \\"default\\""\n'
        )
        write(path, kept + f"machine {HOST} login AWS password old\n")

        output(path).apply(logins={HOST: login()}, remove={})

        assert kept + entry() == path.read_text()
        assert {
            "x": ("y", "", "a machine"),
            "z": ("machine q", "", 'say "default"'),
            HOST: ("AWS", "", PASSWORD),
        } == stdlib_hosts(path)

    def test_crlf_file_keeps_crlf(self, path):
        """A file with CRLF line ends gets ecrd's lines with CRLF too."""
        write(path, "machine a login b password c\r\n")

        output(path).apply(logins={HOST: login()}, remove={})

        assert (
            b"machine a login b password c\r\n" + entry(newline="\r\n").encode()
            == path.read_bytes()
        )

    def test_open_macdef_is_closed_before_a_new_entry(self, path):
        """A macro with no closing blank line would swallow the entry: a blank line closes it."""
        write(path, "machine a login b password c\nmacdef init\ncd /pub")

        output(path).apply(logins={HOST: login()}, remove={})

        text = path.read_text()
        assert "machine a login b password c\nmacdef init\ncd /pub\n\n" + entry() == text
        assert ("AWS", "", PASSWORD) == stdlib_hosts(path)[HOST]

    def test_unchanged_file_is_not_written(self, path, writes):
        """Applying the same logins twice writes once."""
        write(path, KEPT)
        first = output(path).apply(logins={HOST: login()}, remove={})

        second = output(path).apply(logins={HOST: login()}, remove={})

        assert (True, False, 1) == (first.written, second.written, len(writes))

    def test_missing_file_with_nothing_to_do_is_not_created(self, path):
        """Removing from a missing file creates nothing."""
        result = output(path).apply(logins={}, remove={HOST: fingerprint(PASSWORD)})

        assert (False, False) == (result.written, path.exists())

    def test_removal_only_of_entries_ecrd_wrote(self, path):
        """An entry goes only when its password is the one ecrd wrote (same fingerprint)."""
        write(path, KEPT + entry() + entry(OTHER, "changed-by-the-user") + "# end\n")

        result = output(path).apply(
            logins={},
            remove={HOST: fingerprint(PASSWORD), OTHER: fingerprint(PASSWORD), "x.example": "0"},
        )

        assert (KEPT + entry(OTHER, "changed-by-the-user") + "# end\n", (HOST,)) == (
            path.read_text(),
            result.removed,
        )

    def test_removal_by_host_with_port(self, path):
        """The removal key is the registry host; its netrc entry has no port."""
        write(path, entry("127.0.0.1", "pw"))

        result = output(path).apply(logins={}, remove={"127.0.0.1:5000": fingerprint("pw")})

        assert ("", ("127.0.0.1:5000",)) == (path.read_text(), result.removed)

    @pytest.mark.parametrize(
        ("before", "tombstone"),
        [
            ("machine a login b password c\n", ""),
            ("machine a login b password c\n\n", "#\n"),
            ("machine a login b password c  \n", "#\n"),
            ('machine a login b password "c"\n', "#\n"),
            ("# first\n", ""),
            ("# first\n\n", "#\n"),
            ("macdef m\nbody\n\n", ""),
            ("macdef m\nbody\n\n\n", "#\n"),
            ("", ""),
            ("\n\n", "#\n"),
        ],
    )
    def test_removal_keeps_following_comments_readable(self, path, before, tombstone):
        """A removed entry followed by a comment leaves a bare '#' line where Python needs one.

        Python's netrc reads a comment line it reaches across an unread line end (after a
        blank line, trailing blanks or a quoted word) as keywords; ecrd's entry hid that.
        """
        rest = "# managed by hand: keep\nmachine z login y password x\n"
        write(path, before + entry() + rest)
        probe = path.with_name("without-tombstone")
        write(probe, before + rest)

        output(path).apply(logins={}, remove={HOST: fingerprint(PASSWORD)})

        assert before + tombstone + rest == path.read_text()
        assert ("y", "", "x") == stdlib_hosts(path)["z"]
        if tombstone:  # without it, Python's netrc would fail on the file
            with pytest.raises(netrc.NetrcParseError):
                netrc.netrc(str(probe))

    @pytest.mark.parametrize(
        ("content", "where"),
        [
            ("machine a login b password c\nmachine", "line 2: 'machine' without a host name"),
            ('machine a login b password c\nmachine ""\n', "line 2: 'machine' without a host name"),
            ("machine a\n\nmacdef\n", "line 3: 'macdef' without a macro name"),
            ('machine a login b\npassword "c\n\n', "line 2: a quote is never closed"),
            ("machine a\nlogin b\x00\n", "line 2: binary data (a NUL byte)"),
            (b"machine a\n\nlogin \xff\n", "line 3: not UTF-8 text"),
        ],
    )
    def test_unparsable_file_is_left_untouched(self, path, writes, content, where):
        """A file ecrd cannot read is reported with its line and never overwritten."""
        write(path, content)
        before = path.read_bytes()

        with pytest.raises(OutputError) as caught:
            output(path).apply(logins={HOST: login()}, remove={})

        expected = f"cannot parse {path}: {where}; fix or remove it, ecrd left it untouched"
        assert (expected, before, []) == (str(caught.value), path.read_bytes(), writes)

    @pytest.mark.parametrize(
        "password", ["has space", 'has"quote', "back\\slash", "#hash", "new\nline", ""]
    )
    def test_password_that_needs_quoting_is_refused(self, path, password):
        """Never expected from ECR: a password netrc readers would disagree on is an error."""
        write(path, KEPT)

        with pytest.raises(OutputError) as caught:
            output(path).apply(logins={HOST: login(password)}, remove={})

        assert (KEPT, False) == (path.read_text(), bool(password) and password in str(caught.value))

    def test_host_set_and_removed_is_set(self, path):
        """A host both in logins and in remove keeps ecrd's new entry."""
        write(path, entry(password="old"))

        result = output(path).apply(logins={HOST: login()}, remove={HOST: fingerprint("old")})

        assert (entry(), ()) == (path.read_text(), result.removed)

    def test_host_that_cannot_be_a_machine_name_is_refused(self, path):
        """A host with a blank or a quote is a ValueError (the config loader forbids it)."""
        with pytest.raises(ValueError, match="cannot be a netrc machine name"):
            output(path).apply(logins={"bad host": login()}, remove={})

    def test_hosts_differing_by_port_are_refused(self, path):
        """Two hosts that are one netrc machine are a ValueError (the config loader forbids it)."""
        with pytest.raises(ValueError, match="127.0.0.1:5000 and 127.0.0.1:6000"):
            output(path).apply(
                logins={"127.0.0.1:5000": login(), "127.0.0.1:6000": login()}, remove={}
            )

    @pytest.mark.parametrize(
        ("host", "name"),
        [
            (HOST, HOST),
            ("127.0.0.1:5000", "127.0.0.1"),
            ("registry.example.internal:443", "registry.example.internal"),
            ("[::1]:5000", "::1"),
        ],
    )
    def test_machine_name_is_the_host_without_its_port(self, path, host, name):
        """The machine name is the host without its port (an IPv6 one without brackets)."""
        output(path).apply(logins={host: login()}, remove={})

        assert {name: ("AWS", "", PASSWORD)} == stdlib_hosts(path)

    def test_concurrent_writer_is_kept(self, path, monkeypatch):
        """An entry written between ecrd's read and rename survives, and ecrd's is there too."""
        write(path, KEPT)
        real = _atomic.replace_file
        calls = []

        def someone_writes_meanwhile(target, data, **kwargs):
            calls.append(data)
            if len(calls) == 1:
                with path.open("a") as file:
                    file.write("machine new.example login me password mine\n")
            return real(target, data, **kwargs)

        monkeypatch.setattr(_atomic, "replace_file", someone_writes_meanwhile)

        output(path).apply(logins={HOST: login()}, remove={})

        expected = KEPT + "machine new.example login me password mine\n" + entry()
        assert (expected, 2) == (path.read_text(), len(calls))
        assert [] == [p.name for p in path.parent.iterdir() if p.name.startswith(".ecrd-")]

    @pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
    def test_mode_and_owner_are_kept(self, path):
        """A file of another user with mode 0400 keeps both after the rewrite."""
        write(path, KEPT)
        path.chmod(0o400)
        os.chown(path, 4321, 4322)

        output(path).apply(logins={HOST: login()}, remove={})

        info = path.stat()
        assert (0o400, 4321, 4322) == (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)

    def test_symlinked_netrc_is_written_at_its_target(self, path, tmp_path):
        """~/.netrc linked into a dotfiles directory: the link stays, the target changes."""
        target = tmp_path / "dotfiles" / "netrc"
        target.parent.mkdir()
        target.write_text(KEPT)
        path.parent.mkdir()
        path.symlink_to(target)

        output(path).apply(logins={HOST: login()}, remove={})

        assert (True, KEPT + entry()) == (path.is_symlink(), target.read_text())

    def test_python_requests_and_curl_read_ecrd_entries(self, path, monkeypatch):
        """Python's netrc, requests and the curl-style reading all find ecrd's password."""
        requests_utils = pytest.importorskip("requests.utils")
        write(path, KEPT + f"machine {HOST} login old password old\ndefault login d password e\n")
        output(path).apply(logins={HOST: login(), "127.0.0.1:5000": login("local")}, remove={})
        monkeypatch.setenv("NETRC", str(path))

        found = (
            stdlib_hosts(path)[HOST],
            requests_utils.get_netrc_auth(f"https://{HOST}/v2/"),
            requests_utils.get_netrc_auth("http://127.0.0.1:5000/v2/"),
            curl_lookup(path.read_text(), HOST),
        )

        assert (
            ("AWS", "", PASSWORD),
            ("AWS", PASSWORD),
            ("AWS", "local"),
            ("AWS", PASSWORD),
        ) == found

    @pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
    def test_real_curl_and_urllib_find_an_ipv6_host(self, path):
        """An IPv6 host [::1]:PORT is written ``machine ::1``, which curl and Python find.

        curl --netrc-file sends it, and Python's netrc finds it under urllib's name for the
        host, as requests looks it up.
        """
        seen: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.headers.get("Authorization", ""))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.HTTPServer):
            address_family = socket.AF_INET6

        try:
            server = Server(("::1", 0), Handler)
        except OSError as exc:
            pytest.skip(f"no IPv6 loopback here: {exc}")
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://[::1]:{server.server_address[1]}/"
            output(path).apply(logins={f"[::1]:{server.server_address[1]}": login()}, remove={})
            subprocess.run(
                ["curl", "-sf", "-o", "/dev/null", "--netrc-file", str(path), url],
                check=True,
                timeout=20,
            )
        finally:
            server.shutdown()
            server.server_close()
        found = netrc.netrc(str(path)).authenticators(urllib.parse.urlsplit(url).hostname or "")

        assert [f"Basic {auth()}"] == seen
        assert ("AWS", "", PASSWORD) == found

    @pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
    def test_real_curl_sends_ecrd_password(self, path):
        """The real curl --netrc-file sends ecrd's credentials for 127.0.0.1:PORT, not older ones."""
        seen: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.headers.get("Authorization", ""))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            write(
                path,
                "machine x login y password z\nmacdef m\nmachine 127.0.0.1 login M password M\n\n"
                "default login d password e\nmachine 127.0.0.1 login old password old\n",
            )
            output(path).apply(logins={f"127.0.0.1:{port}": login()}, remove={})
            subprocess.run(
                [
                    "curl",
                    "-sf",
                    "-o",
                    "/dev/null",
                    "--netrc-file",
                    str(path),
                    f"http://127.0.0.1:{port}/",
                ],
                check=True,
                timeout=20,
            )
        finally:
            server.shutdown()
            server.server_close()

        assert [f"Basic {auth()}"] == seen

    @settings(
        max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(data=st.data())
    def test_rewrite_keeps_unmanaged_bytes_and_readers_agree(self, tmp_path, data):
        """Property: unmanaged bytes are kept, and every reader gets ecrd's entries.

        The file minus ecrd's entries is the old file minus the managed ones; Python's netrc
        reads the unmanaged machines as before and ecrd's entries; curl's first match is
        Python's last for every managed host.
        """
        managed = data.draw(netrc_hosts(min_size=1, max_size=3), label="managed")
        names = [plain_name(h) for h in managed]
        before = data.draw(netrc_files(managed=names), label="before")
        passwords = {h: data.draw(ecr_passwords(), label=f"password {h}") for h in managed}
        path = tmp_path / "prop" / ".netrc"
        write(path, before.text)

        output(path).apply(logins={h: login(p) for h, p in passwords.items()}, remove={})

        after = path.read_bytes().decode()
        rest = after
        newline = "\r\n" if "\r\n" in before.text else "\n"  # an empty file has none
        for host, password in passwords.items():
            ours = entry(plain_name(host), password, newline)
            assert 1 == rest.count(ours)
            rest = rest.replace(ours, "")
        assert before.unmanaged_text() == rest
        expected = before.machines()
        for host, password in passwords.items():
            expected[plain_name(host)] = ("AWS", "", password)
        assert expected == stdlib_hosts(path)
        for host, password in passwords.items():
            assert ("AWS", password) == curl_lookup(after, plain_name(host))

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(data=st.data())
    def test_removal_keeps_everything_else(self, tmp_path, data):
        """Property: entries go only when their password's fingerprint matches; the rest stays."""
        managed = data.draw(netrc_hosts(min_size=1, max_size=3), label="managed")
        names = [plain_name(h) for h in managed]
        before = data.draw(netrc_files(managed=names), label="before")
        path = tmp_path / "prop" / ".netrc"
        write(path, before.text)
        olds = {b.host.lower(): b.password for b in before.blocks if b.kind == "managed"}
        gone = {
            h: olds[plain_name(h).lower()]
            for h in managed
            if plain_name(h).lower() in olds and data.draw(st.booleans(), label=f"ours {h}")
        }
        ours = {h: fingerprint(password) for h, password in gone.items()}

        result = output(path).apply(logins={}, remove=ours)

        removed = {(plain_name(h).lower(), password) for h, password in gone.items()}
        kept = [
            b
            for b in before.blocks
            if (b.host.lower(), b.password) not in removed or b.kind != "managed"
        ]
        assert (
            "".join(b.text for b in kept).replace("\n", before.newline)
            == path.read_bytes().decode()
        )
        assert set(ours) == set(result.removed)
        netrc.netrc(str(path))  # still parses


_BASE64 = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
    min_size=30,
    max_size=90,
)
_FRAGMENTS = st.sampled_from(
    ["machine", "login", "password", "account", "default", "macdef", "m", "x", "#", "#c",
     '"', '"q q"', "\\", "\\ ", " ", "  ", "\t", "\n", "\n\n", "\r\n"]
)  # fmt: skip


def _stdlib_verdict(text: str) -> int | None:
    """The line Python's netrc rejects ``text`` at, or None when it reads it."""
    parser = netrc.netrc(os.devnull)
    try:
        parser._parse("f", io.StringIO(text, newline=None), default_netrc=False)  # type: ignore[attr-defined]
    except netrc.NetrcParseError as exc:
        return exc.lineno or 1
    return None


class TestPythonNetrcCheck:
    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.one_of(_FRAGMENTS, _BASE64), max_size=40))
    def test_the_shortcut_gives_python_netrcs_own_verdict_and_line(self, parts):
        """Long base64 runs collapsed before the check change neither the verdict nor its line."""
        text = "".join(part if part.isspace() else f"{part} " for part in parts)
        expected = _stdlib_verdict(text)

        try:
            _check_python_netrc(text, Path("netrc"))
        except OutputError as exc:
            found: str | None = str(exc)
        else:
            found = None

        if expected is None:
            assert found is None
        else:
            assert found is not None
            assert f"netrc: line {expected}: " in found
