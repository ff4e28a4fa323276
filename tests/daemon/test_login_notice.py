"""Desktop notices for logins that need a person: at most once an hour, where possible."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from typing import TYPE_CHECKING

from ecrd.daemon.login import DesktopNotice, sso_cache_dir

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def recording_notify_send(directory: Path) -> Path:
    """A notify-send that appends its arguments to a file."""
    log = directory / "calls"
    script = directory / "notify-send"
    script.write_text(f'#!/bin/sh\nprintf "%s|" "$@" >> {log}\necho >> {log}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return log


class TestDesktopNotice:
    def test_shown_once_an_hour(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        """A second notice within the hour is skipped; after the hour it is shown again."""
        calls = recording_notify_send(tmp_path)
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
        now = [1000.0]
        notice = DesktopNotice(clock=lambda: now[0], platform="linux")

        shown = [notice.show("ecrd", "run: aws sso login --profile dev")]
        now[0] += 1800
        shown.append(notice.show("ecrd", "again"))
        now[0] += 1801
        shown.append(notice.show("ecrd", "later"))

        assert [True, False, True] == shown
        assert [
            "--app-name=ecrd|ecrd|run: aws sso login --profile dev|",
            "--app-name=ecrd|ecrd|later|",
        ] == calls.read_text().splitlines()

    def test_silently_skipped_without_a_notifier(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        """No notify-send on PATH (a server): nothing shown, nothing raised."""
        monkeypatch.setenv("PATH", str(tmp_path))

        assert not DesktopNotice(platform="linux").show("ecrd", "x")

    def test_macos_uses_osascript_with_quotes_escaped(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        """On macOS the notice goes through osascript, its text quoted for AppleScript."""
        log = tmp_path / "calls"
        script = tmp_path / "osascript"
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {log}\n')
        script.chmod(0o755)
        monkeypatch.setenv("PATH", str(tmp_path))

        DesktopNotice(platform="darwin", interval=timedelta(0)).show("ecrd", 'say "hi"')

        assert [
            "-e",
            'display notification "say \\"hi\\"" with title "ecrd"',
        ] == log.read_text().splitlines()


class TestSsoCacheDir:
    def test_under_home(self, tmp_path: Path):
        """The SSO token cache is ~/.aws/sso/cache."""
        assert tmp_path / ".aws" / "sso" / "cache" == sso_cache_dir({"HOME": str(tmp_path)})
