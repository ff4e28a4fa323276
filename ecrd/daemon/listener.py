"""The daemon's ``/metrics`` listener, following ``metrics.listen`` through reloads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecrd.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ecrd.config.model import MetricsSpec
    from ecrd.daemon.seams import MetricsSink


class MetricsListener:
    """Serves the metrics where ``metrics.listen`` says, or nowhere."""

    def __init__(self, metrics: MetricsSink) -> None:
        self._metrics = metrics
        self._address: str | None = None
        self._stop: Callable[[], None] | None = None

    def start(self, spec: MetricsSpec) -> None:
        """Serve at ``spec.listen``, if set (the daemon's start).

        Raises:
            ConfigError: the address cannot be listened on (exit code 2).
        """
        if spec.listen is not None:
            host, port = spec.listen
            self._stop = self._metrics.serve(host=host, port=port)
            self._address = spec.address

    def apply(self, spec: MetricsSpec) -> dict[str, str]:
        """Follow a reload: start, move or stop the listener; what was done, for the log.

        ``{"metrics_listen": ADDRESS}`` when it now serves there (``"off"`` when stopped),
        ``{"metrics_listen_error": WHY}`` when the new address could not be listened on.
        """
        wanted = spec.address
        if wanted == self._address:
            return {}
        old_port = None if self._address is None else self._address.rpartition(":")[2]
        if wanted is None or wanted.rpartition(":")[2] == old_port:
            # Stopped, or the same port on another address: the old socket must go first.
            self.stop()
        if spec.listen is None:
            return {"metrics_listen": "off"}
        host, port = spec.listen
        try:
            stop = self._metrics.serve(host=host, port=port)
        except ConfigError as exc:
            still = f"still served on {self._address}" if self._address else "not served"
            return {"metrics_listen_error": f"{exc}; /metrics is {still}"}
        self.stop()
        self._stop, self._address = stop, spec.address
        return {"metrics_listen": f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"}

    def stop(self) -> None:
        """Stop serving, if serving."""
        if self._stop is not None:
            self._stop()
        self._stop, self._address = None, None
