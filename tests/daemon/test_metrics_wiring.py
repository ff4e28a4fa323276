"""The daemon's calls to the metrics: at start, every reload and round, the textfile, the port."""

from __future__ import annotations

import dataclasses
import json
import socket
import urllib.error
import urllib.request

import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from ecrd.config import load_config
from ecrd.config.model import MetricsSpec
from ecrd.daemon import lifecycle
from ecrd.errors import EcrdError, TokenError
from ecrd.metrics import Metrics
from ecrd.status import Report, render_json, render_table
from tests.daemon.harness import EU, EU_HOST, WEST, WEST_HOST, config_text


def with_metrics(monkeypatch: pytest.MonkeyPatch, settings: MetricsSpec) -> None:
    """Make the daemon's configuration carry ``settings`` (the file's keys are CLI's)."""

    def load(path):
        return dataclasses.replace(load_config(path), metrics=settings)

    monkeypatch.setattr(lifecycle, "load_config", load)


def test_every_round_is_observed_and_written_to_the_textfile(tmp_path, monkeypatch, harness):
    """Two rounds (a success, then a failure): observe_round then write_textfile, each time."""
    textfile = tmp_path / "textfile" / "ecrd.prom"
    with_metrics(monkeypatch, MetricsSpec(textfile=textfile))
    harness.path.write_text(config_text(tmp_path, WEST_HOST))
    harness.start()
    harness.run(WEST)
    harness.source.queue(WEST, TokenError("group ecr:us-west-2: down", code="EndpointUnreachable"))
    harness.run(WEST)

    names = [name for name, _ in harness.metrics.calls]
    assert ["config", "state", "textfile", "round", "textfile", "round", "textfile"] == names
    assert [textfile, textfile, textfile] == harness.metrics.named("textfile")


def test_a_metrics_port_in_use_fails_the_start_with_exit_code_2(tmp_path, monkeypatch, harness):
    """metrics.listen on a port another socket holds: an error with exit code 2."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    with_metrics(monkeypatch, MetricsSpec(listen=("127.0.0.1", port)))
    harness.metrics = Metrics(config=harness.path)
    harness.path.write_text(config_text(tmp_path, WEST_HOST))
    try:
        with pytest.raises(EcrdError) as raised:
            harness.start()
    finally:
        busy.close()
        harness.daemon = None

    assert 2 == raised.value.exit_code
    assert f"127.0.0.1:{port}" in str(raised.value)


def samples(text: str) -> dict[tuple[str, str], float]:
    """(name, host or "") -> value of every ecrd sample; each must name the configuration."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("ecrd_"):
                assert "config" in sample.labels, sample
                found[sample.name, sample.labels.get("host", "")] = sample.value
    return found


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return str(answer.read().decode())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestEveryHostAlways:
    def test_a_restart_from_state_writes_every_host_before_any_round(self, tmp_path, harness):
        """Textfile removed, restart with fresh tokens: no round runs, yet every host is in it."""
        textfile = tmp_path / "textfile" / "ecrd.prom"
        harness.path.write_text(
            config_text(tmp_path, WEST_HOST, EU_HOST) + f"metrics: {{textfile: {textfile}}}\n"
        )
        harness.metrics = Metrics(config=harness.path)
        harness.start()
        harness.run(WEST)
        harness.run(EU)
        harness.stop()
        expires = harness.store.read().hosts[WEST_HOST].expires_at
        textfile.unlink()
        harness.metrics = Metrics(config=harness.path)
        calls = len(harness.source.calls)

        harness.start()
        written = samples(textfile.read_text())

        assert calls == len(harness.source.calls)
        assert expires.timestamp() == written["ecrd_token_expiry_timestamp_seconds", WEST_HOST]
        assert expires.timestamp() == written["ecrd_token_expiry_timestamp_seconds", EU_HOST]
        assert 0.0 == written["ecrd_host_failing", WEST_HOST]
        assert 0.0 == written["ecrd_host_failing", EU_HOST]
        assert ("ecrd_last_success_timestamp_seconds", EU_HOST) in written
        assert 1.0 == written["ecrd_config_valid", ""]

    def test_a_rejected_save_writes_config_valid_0_with_no_round_due(self, tmp_path, harness):
        """A save that fails validation rewrites the textfile at once: ecrd_config_valid 0."""
        textfile = tmp_path / "textfile" / "ecrd.prom"
        harness.path.write_text(
            config_text(tmp_path, WEST_HOST) + f"metrics: {{textfile: {textfile}}}\n"
        )
        harness.metrics = Metrics(config=harness.path)
        harness.start()
        harness.run(WEST)
        before = samples(textfile.read_text())["ecrd_config_valid", ""]
        calls = len(harness.source.calls)
        harness.path.write_text("registries: [not a host]\n")

        harness.daemon.reload()
        after = samples(textfile.read_text())

        assert 1.0 == before
        assert 0.0 == after["ecrd_config_valid", ""]
        assert calls == len(harness.source.calls)
        assert ("ecrd_token_expiry_timestamp_seconds", WEST_HOST) in after

    def test_an_accepted_reload_rewrites_the_textfile_with_the_new_host(self, tmp_path, harness):
        """A host added by a reload is in the textfile before its round (not failing yet)."""
        textfile = tmp_path / "textfile" / "ecrd.prom"
        metrics = f"metrics: {{textfile: {textfile}}}\n"
        harness.path.write_text(config_text(tmp_path, WEST_HOST) + metrics)
        harness.metrics = Metrics(config=harness.path)
        harness.start()
        harness.run(WEST)
        harness.path.write_text(config_text(tmp_path, WEST_HOST, EU_HOST) + metrics)

        harness.daemon.reload()
        written = samples(textfile.read_text())

        assert 0.0 == written["ecrd_host_failing", EU_HOST]
        assert ("ecrd_token_expiry_timestamp_seconds", EU_HOST) not in written
        assert ("ecrd_token_expiry_timestamp_seconds", WEST_HOST) in written


class TestMetricsFailure:
    def test_a_failed_write_is_logged_recorded_and_shown_and_the_login_still_written(
        self, tmp_path, harness
    ):
        """Textfile path is a directory: metrics_failed, metrics_error in status; docker written."""
        textfile = tmp_path / "textfile" / "ecrd.prom"
        textfile.mkdir(parents=True)
        harness.path.write_text(
            config_text(tmp_path, WEST_HOST) + f"metrics: {{textfile: {textfile}}}\n"
        )
        harness.metrics = Metrics(config=harness.path)
        with structlog.testing.capture_logs() as logs:
            harness.start()
            harness.run(WEST)
        state = harness.store.read()
        assert state is not None
        report = Report(
            state=state, config=str(harness.path), daemon_pid=None, now=harness.clock.now
        )
        auths = json.loads((tmp_path / "docker" / "config.json").read_text())["auths"]

        failed = [e for e in logs if e["event"] == "metrics_failed"]
        assert [str(textfile)] * 2 == [e["path"] for e in failed]
        assert state.metrics_error is not None
        assert str(textfile) in state.metrics_error
        assert state.metrics_error == json.loads(render_json(report))["metrics_error"]
        assert f"metrics: not written, alerts cannot see these hosts: {state.metrics_error}" in (
            render_table(report, home="/nowhere").splitlines()
        )
        assert [WEST_HOST] == list(auths)

    def test_the_error_is_cleared_by_the_next_write_that_succeeds(self, tmp_path, harness):
        """Once the textfile can be written again, status no longer shows a metrics error."""
        textfile = tmp_path / "textfile" / "ecrd.prom"
        textfile.mkdir(parents=True)
        harness.path.write_text(
            config_text(tmp_path, WEST_HOST) + f"metrics: {{textfile: {textfile}}}\n"
        )
        harness.metrics = Metrics(config=harness.path)
        harness.start()
        failed = harness.store.read().metrics_error
        textfile.rmdir()

        harness.run(WEST)

        assert failed is not None
        assert None is harness.store.read().metrics_error
        assert (
            None
            is json.loads(
                render_json(Report(state=None, config=None, daemon_pid=None, now=harness.clock.now))
            )["metrics_error"]
        )


class TestListenOnReload:
    def test_listen_added_changed_and_removed_by_reloads_is_applied(self, tmp_path, harness):
        """Added: served; changed: served on the new port, not the old; removed: not served."""
        base = config_text(tmp_path, WEST_HOST)
        first, second = free_port(), free_port()
        harness.path.write_text(base)
        harness.metrics = Metrics(config=harness.path)
        harness.start()
        with structlog.testing.capture_logs() as logs:
            harness.path.write_text(base + f"metrics: {{listen: '127.0.0.1:{first}'}}\n")
            harness.daemon.reload()
            added = samples(scrape(first))
            harness.path.write_text(base + f"metrics: {{listen: '127.0.0.1:{second}'}}\n")
            harness.daemon.reload()
            moved = samples(scrape(second))
            with pytest.raises(urllib.error.URLError):
                scrape(first)
            harness.path.write_text(base)
            harness.daemon.reload()
            with pytest.raises(urllib.error.URLError):
                scrape(second)

        reloaded = [e.get("metrics_listen") for e in logs if e["event"] == "config_reloaded"]
        assert [f"127.0.0.1:{first}", f"127.0.0.1:{second}", "off"] == reloaded
        assert 1.0 == added["ecrd_config_valid", ""] == moved["ecrd_config_valid", ""]

    def test_a_port_in_use_on_reload_is_said_in_config_reloaded_and_the_old_kept(
        self, tmp_path, harness
    ):
        """The new port is taken: config_reloaded says why, /metrics stays on the old port."""
        base = config_text(tmp_path, WEST_HOST)
        first = free_port()
        harness.path.write_text(base + f"metrics: {{listen: '127.0.0.1:{first}'}}\n")
        harness.metrics = Metrics(config=harness.path)
        harness.start()
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            taken = busy.getsockname()[1]
            with structlog.testing.capture_logs() as logs:
                harness.path.write_text(base + f"metrics: {{listen: '127.0.0.1:{taken}'}}\n")
                harness.daemon.reload()
            still = samples(scrape(first))

        reloaded = next(e for e in logs if e["event"] == "config_reloaded")
        assert f"127.0.0.1:{taken}" in reloaded["metrics_listen_error"]
        assert "already in use" in reloaded["metrics_listen_error"]
        assert f"still served on 127.0.0.1:{first}" in reloaded["metrics_listen_error"]
        assert 1.0 == still["ecrd_config_valid", ""]
