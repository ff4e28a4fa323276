"""Identities that need a person: an expired SSO login, a failing credential_process.

ecrd cannot log in for the user. It says what to run, once, shows a desktop notification
at most once an hour on a laptop, and watches the SSO token cache so that the refresh
follows the moment the user has logged in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ecrd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

log = get_logger("ecrd")

NOTICE_INTERVAL = timedelta(hours=1)
_NOTIFY_TIMEOUT_SECONDS = 5


def sso_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where `aws sso login` leaves its token: ~/.aws/sso/cache."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    return home / ".aws" / "sso" / "cache"


class DesktopNotice:
    """A desktop notification, at most once per ``interval``; silently none where impossible."""

    def __init__(
        self,
        *,
        interval: timedelta = NOTICE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        platform: str = sys.platform,
    ) -> None:
        self._interval = interval.total_seconds()
        self._clock = clock
        self._platform = platform
        self._last: float | None = None

    def show(self, title: str, message: str) -> bool:
        """Show it unless one was shown within the interval; True when shown."""
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return False
        command = self._command(title, message)
        if command is None:
            return False
        self._last = now
        try:
            subprocess.run(
                command,
                check=False,
                timeout=_NOTIFY_TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.debug("notification_failed", error=str(exc))
            return False
        return True

    def _command(self, title: str, message: str) -> list[str] | None:
        if self._platform == "darwin":
            osascript = shutil.which("osascript")
            if osascript is None:
                return None
            # AppleScript string literals: escape backslashes and quotes.
            text, heading = (s.replace("\\", "\\\\").replace('"', '\\"') for s in (message, title))
            return [osascript, "-e", f'display notification "{text}" with title "{heading}"']
        notify_send = shutil.which("notify-send")
        if notify_send is None:
            return None
        return [notify_send, "--app-name=ecrd", title, message]
