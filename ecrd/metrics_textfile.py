"""The metrics into their textfile, and a failure of that write into the log and the state.

A write that fails is ``metrics_failed`` in the log and ``metrics_error`` in the state (shown
by ``ecrd status``), cleared by the next write that succeeds. It never stops a login from
being written: the caller writes the metrics after the outputs, and nothing here raises.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from ecrd.errors import EcrdError
from ecrd.logs import get_logger

if TYPE_CHECKING:
    from pathlib import Path

    from ecrd.state import StateStore
    from ecrd.state_model import State

log = get_logger("ecrd")

_UNKNOWN = object()


class Textfile(Protocol):
    """What writes the metrics as a textfile (``ecrd.metrics.Metrics``)."""

    def write_textfile(self, path: Path) -> None:
        """Write the metrics to ``path``.

        Raises:
            EcrdError: the file could not be written.
        """
        ...


class TextfileWriter:
    """Writes ``metrics`` to the configured textfile and records the outcome in ``store``."""

    def __init__(self, *, metrics: Textfile, store: StateStore) -> None:
        self._metrics = metrics
        self._store = store
        self._lock = threading.Lock()
        # What the state says now, once known: the state is written only when it changes.
        self._recorded: object = _UNKNOWN

    def known(self, state: State | None) -> None:
        """What the state read at start says, so that no write is needed to learn it."""
        with self._lock:
            self._recorded = None if state is None else state.metrics_error

    def write(self, textfile: Path | None) -> str | None:
        """Write the textfile (none configured: only clear an old error); the error, if any."""
        with self._lock:
            error = None
            if textfile is not None:
                try:
                    self._metrics.write_textfile(textfile)
                except EcrdError as exc:
                    error = str(exc)
                    log.error("metrics_failed", path=str(textfile), error=error)
            self._record(error)
            return error

    def _record(self, error: str | None) -> None:
        if error == self._recorded:
            return
        try:
            with self._store.transaction() as state:
                state.metrics_error = error
        except EcrdError as exc:
            log.error("state_failed", error=str(exc))
            return
        self._recorded = error
