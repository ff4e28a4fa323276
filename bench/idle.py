"""What `ecrd run` costs while idle: resident memory and CPU seconds in one idle minute.

Runs the real daemon against the project's ECR emulator with 100 registries in 5 regions
(5 groups), waits until every group is refreshed and scheduled hours ahead, then reads the
kernel's accounting for the process (/proc/PID/stat, /proc/PID/status) before and after an
idle window. Usage: .venv/bin/python bench/idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from ecrd.emulator.server import Emulator

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line; 12 and 13 after the name.
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the idle window")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Emulator(token_lifetime=timedelta(hours=12)) as emu:
        root = Path(tmp)
        registries = [
            f"  - {n:012d}.dkr.ecr.{region}.amazonaws.com"
            for i, region in enumerate(REGIONS)
            for n in range(i * 20 + 1, i * 20 + 21)
        ]
        config = root / "config.yaml"
        config.write_text(
            f"aws: {{endpoint_url: '{emu.url}'}}\n"
            f"outputs:\n  - {{type: docker, path: {root}/docker.json}}\n"
            f"  - {{type: netrc, path: {root}/netrc}}\n"
            "registries:\n" + "\n".join(registries) + "\n"
        )
        env = {
            **os.environ,
            "HOME": str(root),
            "XDG_STATE_HOME": str(root / "state"),
            "AWS_ACCESS_KEY_ID": "AKIDBENCH",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "ecrd", "run", "-c", str(config), "--log-format", "json"],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        scheduled: set[str] = set()
        ready = threading.Event()

        def read() -> None:
            if proc.stderr is None:
                return
            for line in proc.stderr:
                event = json.loads(line)
                if event.get("event") == "refresh_scheduled":
                    scheduled.add(event["group"])
                    if len(scheduled) == len(REGIONS):
                        ready.set()

        threading.Thread(target=read, daemon=True).start()
        try:
            if not ready.wait(timeout=60):
                sys.exit("the daemon did not schedule every group within 60 s")
            time.sleep(1)  # let start-up work (thread pools, imports) settle
            cpu_before, calls_before = cpu_seconds(proc.pid), len(emu.calls())
            time.sleep(args.seconds)
            cpu_after, calls_after = cpu_seconds(proc.pid), len(emu.calls())
            rss = rss_kib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        print(f"registries: {len(registries)} in {len(REGIONS)} regions ({len(REGIONS)} groups)")
        print(
            f"GetAuthorizationToken calls at start: {calls_before}, while idle: {calls_after - calls_before}"
        )
        print(f"resident memory: {rss / 1024:.1f} MiB")
        print(f"CPU while idle: {cpu_after - cpu_before:.3f} s in {args.seconds:.0f} s")


if __name__ == "__main__":
    main()
