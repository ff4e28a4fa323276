"""`python -m ecrd ARGS` as a process, for the tests that run the command itself."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping


def ecrd(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ecrd to its end (``timeout`` seconds at most) in ``env``, this one unless told.

    Its output as text.
    """
    return subprocess.run(
        [sys.executable, "-m", "ecrd", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else dict(env),
        check=False,
    )
