"""What months bring, in minutes: a real `ecrd run` through churn, checked for growth.

The daemon serves a fixed base of registries while the configuration is saved again and
again (every --interval seconds), each save adding and removing registries and identities
(AWS profiles, one with a role); tokens live --token-seconds; one group's endpoint accepts
and never answers; one region is throttled, one answers HTTP 500; one profile's
credential_process never exits. At the start (after the first rounds) and at the end (the
base configuration back, the churn over) it reads the daemon's RSS, threads and open file
descriptors from /proc, and it counts the calls the endpoints saw per attempt the daemon
logged (token_refreshed, refresh_failed).

Usage: .venv/bin/python bench/churn.py [--seconds 180] [--interval 0.1] [--token-seconds 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ecrd.emulator.server import Emulator, Fault
from tests.aws import SilentEndpoint, hung_credential_process, static_profiles

BIN = Path(sys.executable).parent
PROFILES = [f"p{n}" for n in range(6)]
THROTTLED, FAILING = "eu-west-1", "ap-southeast-2"
REGIONS = ["us-east-1", "us-west-2", THROTTLED, FAILING, "eu-central-1"]
SETTLE_SECONDS = 8.0
WARM_UP_SECONDS = 30.0


class Events:
    """Counts the daemon's JSON events read from its stderr."""

    def __init__(self, stream: object) -> None:
        self.counts: dict[str, int] = {}
        self._stream = stream
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._stream:  # type: ignore[attr-defined]
            try:
                event = json.loads(line).get("event", "?")
            except ValueError:
                event = "unparsed"
            self.counts[event] = self.counts.get(event, 0) + 1

    def get(self, name: str) -> int:
        return self.counts.get(name, 0)


def aws_config(root: Path) -> Path:
    """Profiles with static keys, one assuming a role, one whose credential_process hangs."""
    role = "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/pull\nsource_profile = p0\n"
    path = root / "aws-config"
    path.write_text(static_profiles(*PROFILES) + role + hung_credential_process("hung"))
    return path


def registry(n: int, endpoint: str, *, profile: str | None, region: str | None = None) -> str:
    region = region or REGIONS[n % len(REGIONS)]
    fields = [f'registry_id: "{n:012d}"', f"region: {region}", f'endpoint_url: "{endpoint}"']
    if profile is not None:
        fields.append(f"profile: {profile}")
    return "  - {" + ", ".join(fields) + "}\n"


def config_text(root: Path, emulator: str, silent: str, extra: list[str]) -> str:
    base = [
        registry(1, emulator, profile=None, region="us-east-1"),
        registry(2, emulator, profile="p0", region="us-west-2"),
        registry(3, emulator, profile=None, region=THROTTLED),
        registry(4, emulator, profile=None, region=FAILING),
        registry(5, silent, profile=None, region="eu-central-1"),
        registry(6, emulator, profile="hung", region="us-east-1"),
    ]
    return (
        "refresh: {before_expiry: 10s, jitter: 0, retry_initial: 1s, retry_max: 5s,"
        " min_interval: 1s, attempt_timeout: 2s}\n"
        f"outputs:\n  - {{type: docker, path: {root / 'out' / 'config.json'}}}\n"
        f"  - {{type: netrc, path: {root / 'out' / 'netrc'}}}\n"
        "registries:\n" + "".join(base + extra)
    )


def churned(rng: random.Random, emulator: str) -> list[str]:
    """A random set of extra registries under random identities (some with the role)."""
    chosen = rng.sample(range(100, 160), rng.randint(0, 20))
    identities = [*PROFILES, "role", None]
    return [registry(n, emulator, profile=rng.choice(identities)) for n in sorted(chosen)]


def save(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    temp.replace(path)


def measure(pid: int) -> dict[str, int]:
    """RSS (KiB), threads and open file descriptors of ``pid`` (and how many are sockets).

    Sockets come and go with the connections in flight (a hung group's, kept-alive ones):
    the other descriptors must come back to their start.
    """
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            links.append(str(fd.readlink()))
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {
        "rss_kib": int(status["VmRSS"].split()[0]),
        "threads": int(status["Threads"]),
        "fds": len(links),
        "sockets": sum(1 for link in links if link.startswith("socket:")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180, help="how long the churn lasts")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between saves")
    parser.add_argument("--token-seconds", type=float, default=20, help="token lifetime")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 - a reproducible churn, not a secret
    root = Path(tempfile.mkdtemp(prefix="ecrd-churn-"))
    with (
        # Holds a bounded number of connections: the daemon's side must close its own.
        SilentEndpoint(keep=64) as silent,
        Emulator(token_lifetime=timedelta(seconds=args.token_seconds)) as emulator,
    ):
        emulator.inject(Fault(kind="throttle", region=THROTTLED, count=None))
        emulator.inject(Fault(kind="http500", region=FAILING, count=None))
        config = root / "config.yaml"
        base = config_text(root, emulator.url, silent.url, [])
        save(config, base)
        env = {
            **os.environ,
            "HOME": str(root),
            "XDG_STATE_HOME": str(root / "state"),
            "AWS_CONFIG_FILE": str(aws_config(root)),
            "AWS_SHARED_CREDENTIALS_FILE": str(root / "none"),
            "AWS_ACCESS_KEY_ID": "AKIDCHURN",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_ENDPOINT_URL_STS": emulator.url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        for name in ("AWS_PROFILE", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL", "STATE_DIRECTORY"):
            env.pop(name, None)
        script = BIN / "ecrd"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "ecrd"]
        proc = subprocess.Popen(
            [*command, "run", "-c", str(config), "--log-format", "json", "--log-level", "info"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        events = Events(proc.stderr)

        def churn(seconds: float) -> int:
            """Save churned configurations for ``seconds``, then the base one; settle."""
            began, saves = time.monotonic(), 0
            while time.monotonic() - began < seconds and proc.poll() is None:
                extra = churned(rng, emulator.url)
                save(config, config_text(root, emulator.url, silent.url, extra))
                saves += 1
                time.sleep(args.interval)
            save(config, base)
            time.sleep(SETTLE_SECONDS)
            return saves

        try:
            time.sleep(SETTLE_SECONDS)
            before = measure(proc.pid)
            # What a first use loads once (STS's model, the role's client, the pools'
            # threads at their widest) is in the start figures, not counted as growth.
            churn(min(WARM_UP_SECONDS, args.seconds / 4))
            start = measure(proc.pid)
            saves = churn(args.seconds)
            end = measure(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        calls = len(emulator.calls(api="ecr")) + silent.connections
    attempts = events.get("token_refreshed") + events.get("refresh_failed")
    report(
        args,
        figures={"before churn": before, "after warm-up": start, "end": end},
        saves=saves,
        calls=calls,
        attempts=attempts,
        events=events,
    )
    grown = (
        end["rss_kib"] > start["rss_kib"] * 1.10
        or end["threads"] > start["threads"]
        or end["fds"] - end["sockets"] > start["fds"] - start["sockets"]
    )
    return 1 if grown or proc.returncode != 0 else 0


def report(
    args: argparse.Namespace,
    *,
    figures: dict[str, dict[str, int]],
    saves: int,
    calls: int,
    attempts: int,
    events: Events,
) -> None:
    """A table of RSS, threads and descriptors, then the counts."""
    now = datetime.now(timezone.utc)
    print(
        f"ecrd churn, {args.seconds:g} s after a warm-up, a save every {args.interval:g} s, "
        f"tokens of {args.token_seconds:g} s, {now:%Y-%m-%d %H:%M} UTC"
    )
    print()
    print("| figure | " + " | ".join(figures) + " | growth (end vs after warm-up) |")
    print("|---|" + "---:|" * (len(figures) + 1))
    start, end = figures["after warm-up"], figures["end"]
    rss = [f"{f['rss_kib'] / 1024:.1f} MiB" for f in figures.values()]
    growth = (end["rss_kib"] - start["rss_kib"]) / start["rss_kib"] * 100
    print(f"| RSS | {' | '.join(rss)} | {growth:+.1f} % |")
    for key in ("threads", "fds", "sockets"):
        values = " | ".join(str(f[key]) for f in figures.values())
        print(f"| {key} | {values} | {end[key] - start[key]:+d} |")
    print()
    print(
        f"saves {saves} (after the warm-up), reloads {events.get('config_reloaded')}, rejected "
        f"{events.get('config_rejected')}; attempts {attempts} "
        f"({events.get('token_refreshed')} refreshed, {events.get('refresh_failed')} failed), "
        f"calls at the endpoints {calls}, calls per attempt {calls / max(attempts, 1):.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
