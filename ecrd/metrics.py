"""Prometheus metrics: what the rounds did, per host and per group, for a scrape or a textfile.

The names and labels are the user-facing contract (README, "Metrics (Prometheus)"). Every
series carries ``config``, the configuration file's absolute path, so that several
configurations (or ``ecrd@USER`` instances) feed one node_exporter without a collision. Every
host of the configuration has its series from the start (from the state, before any round).
The values live in plain dictionaries behind one lock and are turned into
metric families at collection time, so a scrape never sees half a round, and a host that
leaves the configuration leaves the metrics by being dropped from a dictionary.

prometheus_client is imported at the first textfile write or ``serve``: a daemon without
``metrics:`` never loads it (neither its import at start nor the memory it would keep).
"""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ecrd.errors import ConfigError, FileError
from ecrd.files import read_file, replace_file
from ecrd.problems import OUTPUT_FAILED, with_code

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from ecrd.config.model import Config
    from ecrd.refresh_round import HostResult, RoundResult
    from ecrd.state_model import State

_HOST_LABELS = ("config", "host", "registry_id", "region")
_TEXTFILE_ATTEMPTS = 10


@dataclass(frozen=True)
class _HostSample:
    labels: tuple[str, str, str]
    group: str
    expires_at: datetime | None
    refreshed_at: datetime | None
    failing: bool


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Metrics:
    """ecrd's metrics in a registry of their own, with the client library's process metrics.

    ``observe_round`` and ``observe_config`` may be called from any thread, while a scrape
    or a textfile write reads them.
    """

    def __init__(self, *, config: Path | str, clock: Callable[[], datetime] | None = None) -> None:
        # The label that names the configuration: its absolute path, links not resolved
        # (as the state directory is named).
        self.config = os.path.abspath(config)  # noqa: PTH100
        self._clock = clock or _utcnow
        # A host's refresh counts as an attempt of this process when it happened after this.
        self._started_at = self._clock()
        self._lock = threading.Lock()
        self._hosts: dict[str, _HostSample] = {}
        self._attempts: dict[tuple[str, str], int] = {}
        self._write_errors: dict[str, int] = {}
        self._config_valid: bool | None = None
        self._reloaded_at: datetime | None = None
        self._registries: tuple[CollectorRegistry, CollectorRegistry] | None = None

    def observe_round(self, result: RoundResult) -> None:
        """Record what a round did for its hosts, groups and outputs.

        A group's attempt is a success when a host of it was refreshed since the last round
        observed (or since this process started), and a failure when its hosts carry an
        error with no output written and no new refresh: a fetch that failed.
        """
        with self._lock:
            outcomes: dict[str, str] = {}
            for host in result.hosts:
                previous = self._hosts.get(host.host)
                refreshed = _refreshed_since(host, previous, self._started_at)
                if refreshed:
                    outcomes[host.group] = "success"
                elif host.error is not None and not host.outputs:
                    outcomes.setdefault(host.group, "failure")
                self._hosts[host.host] = _HostSample(
                    labels=(host.host, host.registry_id or "", host.region),
                    group=host.group,
                    expires_at=host.expires_at,
                    refreshed_at=host.refreshed_at,
                    failing=host.failing,
                )
            for group, outcome in outcomes.items():
                key = (group, outcome)
                self._attempts[key] = self._attempts.get(key, 0) + 1
            failed = {p.path for p in with_code(result.problems, OUTPUT_FAILED) if p.path}
            for path in failed:
                self._write_errors[path] = self._write_errors.get(path, 0) + 1

    def observe_config(self, *, valid: bool, config: Config | None = None) -> None:
        """Record whether the configuration just read is valid; a valid one stamps the reload.

        With ``config`` (the configuration now in force), hosts, groups and output paths that
        left it leave the metrics, and a host new to it enters them (not failing, no expiry
        yet) until its first round.
        """
        with self._lock:
            self._config_valid = valid
            if valid:
                self._reloaded_at = self._clock()
            if config is None:
                return
            hosts = {}
            for group in config.groups():
                for registry in group.registries:
                    for host in registry.hosts:
                        hosts[host] = self._hosts.get(host) or _HostSample(
                            labels=(host, registry.registry_id or "", registry.region),
                            group=group.name,
                            expires_at=None,
                            refreshed_at=None,
                            failing=False,
                        )
            groups = {g.name for g in config.groups()}
            paths = {str(o.path) for o in config.outputs}
            self._hosts = hosts
            self._attempts = {k: n for k, n in self._attempts.items() if k[0] in groups}
            self._write_errors = {p: n for p, n in self._write_errors.items() if p in paths}

    def observe_state(self, state: State | None) -> None:
        """Take what ``state`` (of an earlier process) knows of the hosts of the configuration.

        At start, before any round: a restart with fresh tokens runs no round for hours, and
        the metrics must describe every host meanwhile. Hosts a round has already observed
        keep that round's values.
        """
        if state is None:
            return
        with self._lock:
            for host, sample in self._hosts.items():
                known = state.hosts.get(host)
                if known is None or sample.expires_at is not None or sample.refreshed_at:
                    continue
                self._hosts[host] = _HostSample(
                    labels=sample.labels,
                    group=sample.group,
                    expires_at=known.expires_at,
                    refreshed_at=known.refreshed_at,
                    failing=known.last_error is not None,
                )

    def registries(self) -> tuple[CollectorRegistry, CollectorRegistry]:
        """The registries: ecrd's metrics (the textfile's), and with the process metrics (/metrics).

        The textfile holds ecrd's metrics only: node_exporter, which reads it, exports its
        own unlabelled process_* series, and the same names twice fail its scrape.
        """
        from prometheus_client import CollectorRegistry  # noqa: PLC0415 -- see the docstring
        from prometheus_client.gc_collector import GCCollector  # noqa: PLC0415
        from prometheus_client.platform_collector import PlatformCollector  # noqa: PLC0415
        from prometheus_client.process_collector import ProcessCollector  # noqa: PLC0415

        with self._lock:
            if self._registries is None:
                own = CollectorRegistry(auto_describe=False)
                own.register(self)
                everything = CollectorRegistry(auto_describe=False)
                everything.register(self)
                ProcessCollector(registry=everything)
                PlatformCollector(registry=everything)
                GCCollector(registry=everything)
                self._registries = (own, everything)
            return self._registries

    def collect(self) -> Iterator[Metric]:
        """The metric families, from one consistent snapshot (prometheus_client's Collector)."""
        from prometheus_client.core import (  # noqa: PLC0415 -- see the module's docstring
            CounterMetricFamily,
            GaugeMetricFamily,
        )

        with self._lock:
            hosts = sorted(self._hosts.values(), key=lambda s: s.labels)
            attempts = sorted(self._attempts.items())
            write_errors = sorted(self._write_errors.items())
            valid, reloaded_at = self._config_valid, self._reloaded_at
        config_label = self.config
        expiry = GaugeMetricFamily(
            "ecrd_token_expiry_timestamp_seconds",
            "When the login ecrd last wrote for the host expires (Unix time).",
            labels=_HOST_LABELS,
        )
        success = GaugeMetricFamily(
            "ecrd_last_success_timestamp_seconds",
            "When the host's token was last refreshed successfully (Unix time).",
            labels=_HOST_LABELS,
        )
        failing = GaugeMetricFamily(
            "ecrd_host_failing",
            "1 when the host's last refresh or write failed, or its login is not where its clients read it.",
            labels=_HOST_LABELS,
        )
        for sample in hosts:
            labels = [config_label, *sample.labels]
            if sample.expires_at is not None:
                expiry.add_metric(labels, sample.expires_at.timestamp())
            if sample.refreshed_at is not None:
                success.add_metric(labels, sample.refreshed_at.timestamp())
            failing.add_metric(labels, 1.0 if sample.failing else 0.0)
        yield from (expiry, success, failing)
        counter = CounterMetricFamily(
            "ecrd_refresh_attempts",
            "GetAuthorizationToken attempts per group, by result.",
            labels=("config", "group", "result"),
        )
        for (group, result), count in attempts:
            counter.add_metric([config_label, group, result], count)
        yield counter
        errors = CounterMetricFamily(
            "ecrd_output_write_errors",
            "Rounds in which an output could not be written, per output path.",
            labels=("config", "path"),
        )
        for path, count in write_errors:
            errors.add_metric([config_label, path], count)
        yield errors
        config = GaugeMetricFamily(
            "ecrd_config_valid",
            "1 when the configuration last read is valid, else 0.",
            labels=("config",),
        )
        if valid is not None:
            config.add_metric([config_label], 1.0 if valid else 0.0)
        yield config
        reload = GaugeMetricFamily(
            "ecrd_config_reload_timestamp_seconds",
            "When the configuration in force was loaded (Unix time).",
            labels=("config",),
        )
        if reloaded_at is not None:
            reload.add_metric([config_label], reloaded_at.timestamp())
        yield reload

    def render(self) -> bytes:
        """The textfile's bytes: ecrd's metrics in Prometheus's text format."""
        from prometheus_client import generate_latest  # noqa: PLC0415 -- see the docstring

        return generate_latest(self.registries()[0])

    def write_textfile(self, path: Path) -> None:
        """Write ecrd's metrics to ``path`` for node_exporter's textfile collector.

        Atomic (a file beside it, renamed over it), mode ``0644``: the file holds no secret,
        and node_exporter usually runs as another user.

        Raises:
            FileError: the file could not be written; the old one is left whole.
        """
        data = self.render()
        for _ in range(_TEXTFILE_ATTEMPTS):
            # Only a second ecrd writing the same file makes this loop; the last write wins.
            if replace_file(path, data, expected=read_file(path), mode=0o644):
                return
        msg = f"{path} kept changing while ecrd wrote its metrics ({_TEXTFILE_ATTEMPTS} attempts); is another program writing it?"
        raise FileError(msg, path=path, code="kept_changing")

    def serve(self, *, host: str, port: int) -> Callable[[], None]:
        """Serve the metrics at ``http://HOST:PORT/metrics`` from a thread; return its stop.

        The answer adds prometheus_client's process metrics to ecrd's. Connections are
        bounded in number and time (``ecrd.metrics_server``).

        Raises:
            ConfigError: the address cannot be listened on (in use, not local, refused).
        """
        from prometheus_client import generate_latest  # noqa: PLC0415 -- see the docstring

        from ecrd.metrics_server import MetricsServer  # noqa: PLC0415

        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        registry = self.registries()[1]
        try:
            server = MetricsServer(host=host, port=port, render=lambda: generate_latest(registry))
        except OSError as exc:
            reason = {
                errno.EADDRINUSE: "address already in use; stop what listens there or choose another port",
                errno.EADDRNOTAVAIL: "no such local address; use 127.0.0.1 or an address of this machine",
                errno.EACCES: "permission denied; choose a port above 1023",
            }.get(exc.errno or 0, exc.strerror or str(exc))
            msg = f"cannot serve metrics on {address} (metrics.listen): {reason}"
            raise ConfigError(msg) from exc
        server.start()
        return server.stop


def _refreshed_since(host: HostResult, previous: _HostSample | None, started_at: datetime) -> bool:
    if host.refreshed_at is None:
        return False
    if previous is None or previous.refreshed_at is None:
        return host.refreshed_at >= started_at
    return host.refreshed_at > previous.refreshed_at
