"""Groups fetched together, written together: the gathering of due groups into one round.

Groups due together (every group at start, a burst after a wake-up) end their fetches at
nearly the same time; each waits up to ``GATHER_SECONDS`` for the others still being
fetched, and one of them writes the round for all: one write per output instead of one per
group. A hung group delays the others' write by no more than that.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ecrd.config.model import Group, GroupKey
    from ecrd.errors import TokenError
    from ecrd.secret import Credentials

    Fetched = Sequence[Credentials] | TokenError

GATHER_SECONDS = 0.5


class Gathering:
    """The groups in flight and those fetched, waiting to be written with them.

    Every method is called with ``lock`` (the rounds' lock) held; ``wait`` releases it while
    it waits, as a condition does.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._changed = threading.Condition(lock)  # a fetch ended, or a round was written
        self._in_flight: set[GroupKey] = set()
        self._refetch: set[GroupKey] = set()  # changed by a reload while in flight
        # What was fetched, and the group as it was when its fetch began.
        self._gathered: dict[GroupKey, tuple[Group, Fetched]] = {}

    def start(self, key: GroupKey) -> None:
        """``key``'s fetch begins: it is in flight until written (or dropped)."""
        self._in_flight.add(key)

    def in_flight(self, key: GroupKey) -> bool:
        """True while ``key`` is being fetched or waits to be written."""
        return key in self._in_flight

    def drop(self, key: GroupKey) -> None:
        """``key``'s fetch came to nothing (the daemon stops): no longer in flight."""
        self._in_flight.discard(key)

    def again(self, key: GroupKey) -> None:
        """A reload changed ``key`` while in flight: fetch it again once written."""
        self._refetch.add(key)

    def refetch(self, key: GroupKey) -> bool:
        """True (once) when ``key`` is to be fetched again after its write."""
        wanted = key in self._refetch
        self._refetch.discard(key)
        return wanted

    def add(self, key: GroupKey, group: Group, fetched: Fetched) -> None:
        """``key``'s fetch of ``group`` (as it was at the start) ended with ``fetched``."""
        self._gathered[key] = (group, fetched)

    def wait(self, key: GroupKey, *, stopped: Callable[[], bool]) -> bool:
        """Wait for the groups in flight, up to ``GATHER_SECONDS``.

        True when ``key``'s job is to write the round: no other job has written it meanwhile.
        """
        deadline = time.monotonic() + GATHER_SECONDS
        while (
            key in self._gathered
            and not stopped()
            and any(k not in self._gathered for k in self._in_flight)
        ):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._changed.wait(left)
        return key in self._gathered

    def take(self) -> dict[GroupKey, tuple[Group, Fetched]]:
        """Everything gathered, for one round: no longer in flight."""
        gathered, self._gathered = self._gathered, {}
        self._in_flight.difference_update(gathered)
        return gathered

    def wake(self) -> None:
        """Wake the groups waiting: a fetch ended, a round was written, the daemon stops."""
        self._changed.notify_all()
