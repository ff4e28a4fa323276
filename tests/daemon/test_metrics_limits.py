"""A thousand idle connections to /metrics of a real `ecrd run` limited to 1,024 descriptors."""

from __future__ import annotations

import resource
import shutil
import socket
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ecrd.emulator.server import Emulator
from tests.daemon.conftest import EU_HOST, FAST, WEST_HOST, config_yaml
from tests.test_metrics_server import free_port, get

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def many_descriptors() -> Iterator[None]:
    """Let the test process open its thousand connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"needs 4,096 open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def hold_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` connections, one after the other, each accepted before the next is made.

    A connect returns once the server's kernel has queued it; the next one waits while that
    queue is full, so the server has taken each of them (and then kept or closed it).
    """
    held = []
    for _ in range(count):
        try:
            held.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        except ConnectionRefusedError:  # noqa: PERF203 - the listener is gone: keep what is held
            break
    return held


@pytest.mark.skipif(not shutil.which("prlimit"), reason="needs prlimit (util-linux)")
def test_a_thousand_idle_connections_never_starve_the_refreshes(
    start_daemon, config_path, outputs, many_descriptors, tmp_path
):
    """Ecrd run under 1,024 descriptors, 1,000 idle /metrics connections: tokens still refresh.

    The tokens live 2 s; each group must be refreshed five more times while the connections
    are held, with no ``Too many open files`` anywhere; the daemon holds a bounded number of
    descriptors, and /metrics still answers, during and after.
    """
    del many_descriptors, tmp_path
    port = free_port()
    with Emulator(token_lifetime=timedelta(seconds=2)) as emulator:
        text = config_yaml(
            endpoint=emulator.url, registries=[WEST_HOST, EU_HOST], outputs=outputs, refresh=FAST
        )
        config_path.write_text(text + f"metrics: {{listen: '127.0.0.1:{port}'}}\n")
        daemon = start_daemon(
            config_path,
            log_args=("--log-format", "json", "--log-level", "info"),
            prefix=("prlimit", "--nofile=1024", "--"),
        )
        daemon.wait_for("token_refreshed", count=2)
        held = hold_connections(port, 1000)
        try:
            descriptors = len(list(Path(f"/proc/{daemon.proc.pid}/fd").iterdir()))
            since = daemon.mark()
            for group in ("ecr:us-west-2", "ecr:eu-west-1"):
                daemon.wait_for(
                    "token_refreshed",
                    since=since,
                    count=5,
                    timeout=30,
                    group=f"{group} endpoint={emulator.url}",
                )
            answer = get(port)
        finally:
            for sock in held:
                sock.close()
        after = get(port)
        daemon.stop()

    assert 1000 == len(held)
    assert descriptors < 200
    assert 200 == answer[0]
    assert b"ecrd_config_valid{" in answer[1]
    assert 200 == after[0]
    assert [] == daemon.find("refresh_failed", since=since)
    assert "Too many open files" not in daemon.output()
