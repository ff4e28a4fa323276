"""`python -m ecrd ARGS` as a process, for the tests that run the command itself."""

from __future__ import annotations

import subprocess
import sys


def ecrd(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ecrd in this environment to its end (60 s at most); its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "ecrd", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
