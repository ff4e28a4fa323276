"""Output-level promises: parse counts, netrc checks and modes, temporaries of dead writers."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys

import pytest

from ecrd.config.model import OutputSpec
from ecrd.errors import OutputError
from ecrd.files import replace_file
from ecrd.outputs import _netrc_syntax as netrc_syntax
from ecrd.outputs import netrc as netrc_module
from ecrd.outputs.docker import DockerOutput
from ecrd.outputs.netrc import NetrcOutput
from ecrd.problems import MODE_KEPT
from ecrd.secret import Credentials, Secret
from tests.fakes import EXPIRES_AT

HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"


def login(password: str = "pw" * 20) -> Credentials:
    return Credentials(username="AWS", password=Secret(password), expires_at=EXPIRES_AT)


def counting(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(module, name)

    def count(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, count)
    return calls


def hosts(n: int) -> dict[str, Credentials]:
    return {f"{i:012d}.dkr.ecr.us-west-2.amazonaws.com": login(f"pw{i}x" * 10) for i in range(n)}


def test_netrc_with_2000_hosts_is_parsed_once(tmp_path, monkeypatch):
    """Writing 2,000 hosts into a netrc (all new, then all replaced) parses it once per apply.

    Counted separately: Python's own netrc parser checks a file another program changed,
    not the text ecrd itself wrote last.
    """
    path = tmp_path / ".netrc"
    output = NetrcOutput(OutputSpec(type="netrc", path=path))
    output.apply(logins=hosts(2000), remove={})
    parses = counting(monkeypatch, netrc_syntax, "parse")
    checks = counting(monkeypatch, netrc_module, "_check_python_netrc")

    output.apply(logins={h: login("new" * 10) for h in hosts(2000)}, remove={})
    mine = (len(parses), len(checks))
    with path.open("a") as file:
        file.write("machine example.com login me password other\n")
    output.apply(logins={h: login("newer" * 10) for h in hosts(2000)}, remove={})

    assert ((1, 0), (2, 1)) == (mine, (len(parses), len(checks)))
    assert 2000 == path.read_text().count("password newernewer")


def test_docker_apply_loads_the_json_once(tmp_path, monkeypatch):
    """One json.loads per docker apply, whatever the number of hosts."""
    path = tmp_path / "config.json"
    output = DockerOutput(OutputSpec(type="docker", path=path))
    output.apply(logins=hosts(500), remove={})
    loads = counting(monkeypatch, json, "loads")

    output.apply(logins={h: login("new" * 10) for h in hosts(500)}, remove={})

    assert 1 == len(loads)


def test_netrc_python_rejects_is_left_untouched(tmp_path):
    """A sudoers file reached as a netrc (Python's netrc rejects it) is reported, never edited."""
    path = tmp_path / ".netrc"
    path.write_text("Defaults env_reset\nroot ALL=(ALL) ALL\n")
    before = path.read_bytes()

    with pytest.raises(OutputError) as caught:
        NetrcOutput(OutputSpec(type="netrc", path=path)).apply(logins={HOST: login()}, remove={})

    assert f"cannot parse {path}: line 1: Python's netrc module" in str(caught.value)
    assert "env_reset" not in str(caught.value)  # the quoted word could be a password
    assert before == path.read_bytes()


def test_netrc_readable_by_others_is_tightened_and_logged(tmp_path, capsys):
    """A 0644 netrc is rewritten 0600 (even with nothing else to change), with a log event."""
    path = tmp_path / ".netrc"
    path.write_text("machine other.example login me password mine\n")
    path.chmod(0o644)
    output = NetrcOutput(OutputSpec(type="netrc", path=path))
    output.apply(logins={HOST: login()}, remove={})
    path.chmod(0o640)

    again = output.apply(logins={HOST: login()}, remove={})

    logged = capsys.readouterr()
    assert (True, 0o600) == (again.written, stat.S_IMODE(path.stat().st_mode))
    assert 2 == (logged.out + logged.err).count("netrc_mode_tightened")


def test_docker_readable_by_others_keeps_mode_with_a_warning(tmp_path):
    """A 0644 config.json keeps its mode; the result warns, naming the path."""
    path = tmp_path / "config.json"
    path.write_text("{}")
    path.chmod(0o644)

    result = DockerOutput(OutputSpec(type="docker", path=path)).apply(
        logins={HOST: login()}, remove={}
    )

    assert 0o644 == stat.S_IMODE(path.stat().st_mode)
    assert [(None, str(path), MODE_KEPT, True)] == [
        (
            p.host,
            p.path,
            p.code,
            p.message.startswith(f"{path} is readable by other users (mode 0644)"),
        )
        for p in result.problems
    ]


def test_refused_chown_and_chmod_do_not_fail_the_write(tmp_path, monkeypatch):
    """EINVAL (systemd PrivateUsers=) and EPERM from fchown/fchmod leave a 0600 file of ecrd's."""
    path = tmp_path / "config.json"
    path.write_bytes(b"old")

    def refuse(*_args):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "fchown", refuse)
    real_fchmod = os.fchmod
    monkeypatch.setattr(
        os, "fchmod", lambda fd, mode: real_fchmod(fd, mode) if mode == 0o600 else refuse()
    )
    path.chmod(0o640)

    assert replace_file(path, b"new", expected=b"old")
    assert b"new" == path.read_bytes()


def test_stale_temporaries_of_dead_writers_go_live_ones_stay(tmp_path):
    """The next write removes a dead writer's temporary file, never a live writer's (locked)."""
    dead = subprocess.run(  # a pid that surely is no more
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = tmp_path / f".ecrd-{dead}-00aa.tmp"
    stale.write_text("password")
    live = tmp_path / ".ecrd-1-00bb.tmp"
    live.write_text("password")
    holder = live.open("rb")
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        replace_file(tmp_path / "config.json", b"{}", expected=None)
        left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".ecrd-"))
    finally:
        holder.close()

    assert [live.name] == left
    assert json.loads((tmp_path / "config.json").read_text()) == {}


def test_temporary_files_are_0600_whatever_the_umask(tmp_path):
    """A temporary file holds credentials: it is 0600 from the start."""
    from ecrd.files import temps  # noqa: PLC0415

    old = os.umask(0)
    try:
        temp = temps.create_temp(tmp_path)
        mode = stat.S_IMODE(temp.path.stat().st_mode)
        temp.remove()
    finally:
        os.umask(old)
    assert 0o600 == mode
