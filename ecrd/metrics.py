"""Stand-in (daemon branch) for METRICS' module, INTERFACES §8: the calls the daemon makes.

The lead keeps METRICS' version when merging; this one counts rounds and records the
configuration's validity, in the textfile format, with no dependency.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, ClassVar

from ecrd.errors import EcrdError
from ecrd.files import update_file

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ecrd.round import RoundResult


class MetricsPortError(EcrdError):
    """The metrics port cannot be listened on."""

    exit_code: ClassVar[int] = 2


class Metrics:
    """What the daemon reports: rounds, the configuration's validity."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rounds = 0
        self.config_valid: bool | None = None
        self.reloaded_at: float | None = None

    def observe_round(self, result: RoundResult) -> None:
        """Count a round."""
        del result
        with self._lock:
            self.rounds += 1

    def observe_config(self, *, valid: bool) -> None:
        """Record whether the configuration loaded, and when."""
        with self._lock:
            self.config_valid = valid
            self.reloaded_at = time.time()

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        with self._lock:
            lines = [f"ecrd_rounds_total {self.rounds}"]
            if self.config_valid is not None:
                lines.append(f"ecrd_config_valid {int(self.config_valid)}")
        return ("\n".join(lines) + "\n").encode()

    def write_textfile(self, path: Path) -> None:
        """Write the metrics to ``path``, atomically, mode 0644."""
        data = self.render()
        update_file(path, render=lambda before: None if before == data else data)
        path.chmod(0o644)

    def serve(self, *, host: str, port: int) -> Callable[[], None]:
        """Serve ``/metrics``; returns the function that stops it."""
        metrics = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = metrics.render()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                return

        try:
            server = ThreadingHTTPServer((host, port), _Handler)
        except OSError as exc:
            msg = f"metrics.listen {host}:{port}: {exc.strerror}; choose another port"
            raise MetricsPortError(msg) from exc
        thread = threading.Thread(target=server.serve_forever, name="ecrd-metrics", daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            server.server_close()

        return stop
