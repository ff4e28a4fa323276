"""The daemon's calls to the metrics: every round observed, the textfile written, the port."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from ecrd.config import load_config
from ecrd.config.model import MetricsSpec
from ecrd.daemon import lifecycle
from ecrd.errors import EcrdError, TokenError
from ecrd.metrics import Metrics
from tests.daemon.harness import WEST, WEST_HOST, config_text


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
    assert ["config", "round", "textfile", "round", "textfile"] == names
    assert [textfile, textfile] == harness.metrics.named("textfile")


def test_a_metrics_port_in_use_fails_the_start_with_exit_code_2(tmp_path, monkeypatch, harness):
    """metrics.listen on a port another socket holds: an error with exit code 2."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    with_metrics(monkeypatch, MetricsSpec(listen=("127.0.0.1", port)))
    harness.metrics = Metrics()
    harness.path.write_text(config_text(tmp_path, WEST_HOST))
    try:
        with pytest.raises(EcrdError) as raised:
            harness.start()
    finally:
        busy.close()
        harness.daemon = None

    assert 2 == raised.value.exit_code
    assert f"127.0.0.1:{port}" in str(raised.value)
