"""Fixtures of the service tests: the recording systemctl and launchctl, this install's ecrd."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

_TOOL = """\
#!/bin/sh
echo "{name} $*" >> "$ECRD_TEST_TOOLS_LOG"
{body}
"""
_SYSTEMCTL = """\
if [ -n "$ECRD_TEST_SYSTEMCTL_FAILS" ]; then echo "$ECRD_TEST_SYSTEMCTL_FAILS" >&2; exit 1; fi
case "$*" in *enable*) echo "Created symlink /x/default.target.wants/ecrd.service." >&2;; esac
exit 0
"""
_LAUNCHCTL = """\
if [ "$1" = print ]; then [ -n "$ECRD_TEST_LAUNCHD_LOADED" ] && exit 0; exit 113; fi
exit 0
"""


class Tools:
    """The recording systemctl and launchctl."""

    def __init__(self, directory: Path, log: Path) -> None:
        self.directory = directory
        self.log = log

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def forget(self) -> None:
        self.log.unlink(missing_ok=True)


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tools:
    directory = tmp_path / "tools"
    directory.mkdir()
    for name, body in (("systemctl", _SYSTEMCTL), ("launchctl", _LAUNCHCTL)):
        path = directory / name
        path.write_text(_TOOL.format(name=name, body=body))
        path.chmod(0o755)
    log = tmp_path / "tools.log"
    monkeypatch.setenv("ECRD_TEST_TOOLS_LOG", str(log))
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return Tools(directory, log)


@pytest.fixture
def ecrd(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The ecrd of the installation under test: a console script next to the running Python.

    In a directory of /tmp that every user may enter (pytest's own is closed to them):
    `service install --systemd-system USER` refuses an ecrd that USER cannot run.
    """
    top = Path(tempfile.mkdtemp(prefix="ecrd-install-"))
    top.chmod(0o755)
    try:
        yield _console_script(top, monkeypatch)
    finally:
        shutil.rmtree(top)


def _console_script(top: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = top / "venv" / "bin"
    directory.mkdir(parents=True)
    script = directory / "ecrd"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(directory / "python3"))
    return script
