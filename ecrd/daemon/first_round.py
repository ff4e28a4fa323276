"""The first round at start: the groups READY=1 waits for, and the moment it was written."""

from __future__ import annotations

import gc
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ecrd.config.model import GroupKey


class FirstRound:
    """The groups due at start that READY=1 still waits for; called under the rounds' lock.

    ``written`` is set once a round of the groups due at start is written (at once when none
    is due): ``Daemon.start`` waits on it before it builds the scheduler.
    """

    def __init__(self) -> None:
        self.written = threading.Event()
        self._waiting: set[GroupKey] | None = None

    def begin(self, due: Iterable[GroupKey]) -> bool:
        """Wait for ``due``; True when none is due (READY=1 now)."""
        self._waiting = set(due)
        if not self._waiting:
            self.written.set()
        return self.done(())

    @property
    def ended(self) -> bool:
        """True once READY=1 has been sent."""
        return self._waiting is None

    def done(self, keys: Iterable[GroupKey]) -> bool:
        """Note ``keys`` as done (written, failed or removed); True when that ends it."""
        if self._waiting is None:
            return False
        self._waiting.difference_update(keys)
        if self._waiting:
            return False
        self._waiting = None
        # What the start built (modules, botocore's models and clients) lives as long as the
        # daemon: out of the collector's sight, a full collection no longer walks it, which
        # was a visible pause in the middle of a reload.
        gc.freeze()
        return True
