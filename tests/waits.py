"""Waiting for what has no event to wait on (a fake's state, a process gone): a condition polled."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

# How long a test waits for something that should take well under a second.
WAIT = 10.0


def wait_until(condition: Callable[[], object], *, timeout: float = WAIT) -> bool:
    """True once ``condition()`` is, polled every 10 ms; False if it is not after ``timeout``."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return True
        pause.wait(0.01)
    return bool(condition())
