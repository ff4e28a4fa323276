"""Soak: `ecrd run` for half an hour on 5-second tokens, with endpoint faults and reloads.

Opt-in (``ECRD_SOAK=1``, marker ``soak``); ``ECRD_SOAK_SECONDS`` shortens it. Resident
memory, threads and open file descriptors, sampled from /proc, must stay flat after warm-up:
a leak of one thread, one descriptor or a client per reload shows over hundreds of rounds.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from ecrd.emulator.server import Emulator, Fault, FaultKind
from tests.daemon.conftest import EAST_HOST, EU_HOST, WEST_HOST, config_yaml

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(os.environ.get("ECRD_SOAK") != "1", reason="soak test: set ECRD_SOAK=1"),
]

SECONDS = float(os.environ.get("ECRD_SOAK_SECONDS", "1800"))
WARM_UP = min(180.0, SECONDS / 6)
REFRESH = {
    "before_expiry": "3s",
    "jitter": "0.5",
    "min_interval": "1s",
    "retry_initial": "0.5",
    "retry_max": "2s",
    "attempt_timeout": "2s",
}
FAULTS: list[FaultKind] = ["http500", "throttle", "drop", "malformed", "slow", "hang"]


def _sample(pid: int) -> tuple[int, int, int]:
    """Resident memory (KiB), threads and open descriptors of ``pid``."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    rss = int(fields["VmRSS"].split()[0])
    threads = int(fields["Threads"])
    fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    return rss, threads, fds


def test_resources_stay_flat_under_faults_and_reloads(start_daemon, config_path, outputs):
    """After warm-up, RSS grows under 15 %, threads and descriptors by at most 2."""
    rng = random.Random(1234)  # noqa: S311 - a test's chaos, not a secret
    stop = threading.Event()
    with Emulator(token_lifetime=timedelta(seconds=5)) as emulator:
        registries = [WEST_HOST, EU_HOST, EAST_HOST]
        config_path.write_text(
            config_yaml(
                endpoint=emulator.url, registries=registries, outputs=outputs, refresh=REFRESH
            )
        )
        daemon = start_daemon(config_path, log_args=("--log-format", "json", "--log-level", "info"))
        daemon.wait_for("token_refreshed")

        def chaos() -> None:
            while not stop.wait(rng.uniform(0.5, 3)):
                roll = rng.random()
                if roll < 0.4:
                    emulator.inject(
                        Fault(kind=rng.choice(FAULTS), count=rng.randint(1, 3), delay=1)
                    )
                elif roll < 0.5:
                    emulator.clear_faults()
                elif roll < 0.75:
                    subset = rng.sample(registries, rng.randint(1, 3))
                    config_path.write_text(
                        config_yaml(
                            endpoint=emulator.url,
                            registries=subset,
                            outputs=outputs,
                            refresh=REFRESH,
                        )
                    )
                else:
                    daemon.send(signal.SIGHUP)

        worker = threading.Thread(target=chaos, daemon=True)
        worker.start()
        samples: list[tuple[float, tuple[int, int, int]]] = []
        elapsed = 0.0
        while elapsed < SECONDS:
            stop.wait(10)
            elapsed += 10
            samples.append((elapsed, _sample(daemon.proc.pid)))
        stop.set()
        worker.join(10)
        emulator.clear_faults()
        code = daemon.stop()

    settled = [s for t, s in samples if t >= WARM_UP]
    first, last = settled[0], settled[-1]
    baseline_threads = max(s[1] for s in settled[: max(1, len(settled) // 4)])
    baseline_fds = max(s[2] for s in settled[: max(1, len(settled) // 4)])
    assert 0 == code
    assert last[0] < first[0] * 1.15, f"RSS grew: {samples}"
    assert max(s[1] for s in settled) <= baseline_threads + 2, f"threads grew: {samples}"
    assert max(s[2] for s in settled) <= baseline_fds + 2, f"descriptors grew: {samples}"
    assert len(daemon.find("token_refreshed")) > SECONDS / 5
