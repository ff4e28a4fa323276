"""What the daemon takes from outside: systemd's notifications, the metrics, a desktop notice.

The daemon is built with the real ones (``notify.Notifier``, ``metrics.Metrics``,
``login.DesktopNotice``); a test hands in any object with these methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import timedelta
    from pathlib import Path

    from ecrd.config.model import Config
    from ecrd.refresh_round import RoundResult
    from ecrd.state_model import State


class Supervisor(Protocol):
    """The service manager told of the daemon's state (systemd's notify protocol)."""

    @property
    def watchdog_interval(self) -> timedelta | None:
        """How often the daemon must say it is alive, or None when nobody watches."""
        ...

    def ready(self, status: str) -> None:
        """The first round has ended (or a reload has); ``status`` is the summary line."""
        ...

    def reloading(self) -> None:
        """A configuration reload starts; ``ready`` ends it."""
        ...

    def status(self, status: str) -> None:
        """A one-line summary of the groups."""
        ...

    def stopping(self) -> None:
        """The daemon is shutting down."""
        ...

    def watchdog(self) -> None:
        """Still alive."""
        ...


class MetricsSink(Protocol):
    """Where the daemon reports its rounds and configurations, served or written as a file."""

    def observe_round(self, result: RoundResult) -> None:
        """Record what a round did to each host and group."""
        ...

    def observe_config(self, *, valid: bool, config: Config | None = None) -> None:
        """Record whether the configuration just read is valid (``config``: the one in force)."""
        ...

    def observe_state(self, state: State | None) -> None:
        """Record the hosts the state knows, before any round."""
        ...

    def write_textfile(self, path: Path) -> None:
        """Write the metrics to ``path`` for node_exporter.

        Raises:
            EcrdError: the file could not be written.
        """
        ...

    def serve(self, *, host: str, port: int) -> Callable[[], None]:
        """Serve ``/metrics`` on ``host``:``port``; returns the function that stops it.

        Raises:
            EcrdError: the address cannot be bound.
        """
        ...


class Notice(Protocol):
    """A notice for the person at the machine (a desktop notification)."""

    def show(self, title: str, message: str) -> bool:
        """Show it, unless shown too recently or impossible here; True when shown."""
        ...
