"""ecrd beside the floor (bench/floor.py), in one run, against the loopback ECR emulator.

Measures, for issue 11's targets, each figure for ecrd and for the floor in the same run:

- `ecrd refresh` CPU (user + sys of the process and its children, from the kernel's
  accounting through os.wait4) and peak RSS, at 20 registries in 5 groups, 100 in 10,
  1,000 in 100 (and 10,000 in 1,000 with --scale, for linearity);
- `ecrd run`, start to first round written (both outputs hold every host), 100 registries;
- config saved -> docker's file holds the registry added, from the end of the save (rename,
  or in place: open with truncate, write, close), 100 registries in 10 groups, docker and
  netrc outputs, one registry added per save, 0.3 s apart, 20 saves of each kind taken in turns;
- `ecrd run` idle CPU and RSS over --idle-seconds, beside the floor's peak RSS;
- `ecrd --version` and `ecrd check-config` wall time;
- `docker-credential-ecrd get` beside `python -c pass`.

Each figure is the median of several runs; the table gives the ratios and marks each target
met or not. Groups are told apart by their endpoint URL (one emulator, one path per group),
so that any number of groups needs no AWS profile and no extra region.

Usage: .venv/bin/python bench/run.py [--runs 5] [--large-runs 3] [--idle-seconds 60] [--scale]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ecrd.emulator.server import Emulator

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
TICKS = os.sysconf("SC_CLK_TCK")
BIN = Path(sys.executable).parent
FLOOR = Path(__file__).resolve().parent / "floor.py"
POLL = 0.001  # seconds between two looks at the outputs
MACHINE = re.compile(r"^machine (\S+)$", re.MULTILINE)
FEW_HOSTS = 10

# Issue 11's targets.
REFRESH_RATIO, REFRESH_RATIO_LARGE, LINEAR_GROWTH = 1.3, 1.5, 11.0
START_RATIO, IDLE_RSS_RATIO, HELPER_RATIO = 1.3, 1.3, 1.2
SAVE_P95_MS, CLI_MS = 50.0, 100.0
IDLE_TICKS = 2  # "unmeasurable": at most this many clock ticks of CPU in the idle window
DAEMON_REGISTRIES = 100


@dataclass(frozen=True)
class Usage:
    wall: float  # seconds
    cpu: float  # user + sys seconds, the process and its children
    max_rss: int  # KiB
    returncode: int


@dataclass
class Row:
    figure: str
    ecrd: float | None
    floor: float | None
    unit: str
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.ecrd is None or not self.floor:
            return None
        return self.ecrd / self.floor


# --- The workload: configurations and the floor's spec ------------------------------------


@dataclass(frozen=True)
class Workload:
    root: Path
    config: Path
    spec: Path
    docker: Path
    netrc: Path
    hosts: tuple[str, ...]
    env: dict[str, str]

    def clean(self) -> None:
        """Fresh outputs and state: every run is a first set-up."""
        for path in (self.docker, self.netrc):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.root / "state", ignore_errors=True)


def registry_id(n: int) -> str:
    return f"{100000000000 + n:012d}"


def make_workload(root: Path, emulator: Emulator, *, registries: int, groups: int) -> Workload:
    root.mkdir(parents=True)
    (root / "out").mkdir()
    docker, netrc = root / "out" / "config.json", root / "out" / "netrc"
    lines, spec_groups, hosts = [], [], []
    per_group = registries // groups
    for g in range(groups):
        region = REGIONS[g % len(REGIONS)]
        endpoint = f"{emulator.url}/g{g}"
        group_hosts: dict[str, str] = {}
        for n in range(g * per_group, (g + 1) * per_group):
            rid = registry_id(n)
            host = f"{rid}.dkr.ecr.{region}.amazonaws.com"
            group_hosts[host] = rid
            lines.append(
                f'  - {{registry_id: "{rid}", region: {region}, endpoint_url: "{endpoint}"}}'
            )
        hosts.extend(group_hosts)
        spec_groups.append(
            {
                "region": region,
                "endpoint_url": endpoint,
                "registry_ids": list(group_hosts.values()),
                "hosts": group_hosts,
            }
        )
    config = root / "config.yaml"
    config.write_text(
        "refresh: {before_expiry: 6h, jitter: 0}\n"
        f"outputs:\n  - {{type: docker, path: {docker}}}\n  - {{type: netrc, path: {netrc}}}\n"
        "registries:\n" + "\n".join(lines) + "\n"
    )
    spec = root / "floor.json"
    spec.write_text(json.dumps({"groups": spec_groups, "docker": str(docker), "netrc": str(netrc)}))
    home = root / "home"
    home.mkdir()
    env = {
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "AWS_ACCESS_KEY_ID": "AKIDECRDBENCH000",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "*",
        "LANG": "C.UTF-8",
    }
    return Workload(root, config, spec, docker, netrc, tuple(hosts), env)


# --- Measuring -------------------------------------------------------------------------------


def ecrd(*args: str) -> list[str]:
    script = BIN / "ecrd"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "ecrd", *args]


def floor() -> list[str]:
    return [sys.executable, str(FLOOR)]


def run_once(command: list[str], *, env: dict[str, str], stdin: bytes = b"") -> Usage:
    """Run ``command`` to its end; wall time, and CPU and peak RSS from the kernel (wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if proc.stdin is not None:
        # A program that does not read its input may be gone before it is written.
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(stdin)
            proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Usage(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode)


@dataclass(frozen=True)
class Medians:
    cpu: float  # seconds
    wall: float  # seconds
    max_rss: int  # KiB


def compare_usage(
    commands: tuple[list[str], list[str]], *, work: Workload, runs: int
) -> tuple[Medians, Medians]:
    """Medians for two commands run in turn from a clean slate, so that both meet one load."""
    usages: tuple[list[Usage], list[Usage]] = ([], [])
    for _ in range(runs):
        for command, found in zip(commands, usages, strict=True):
            work.clean()
            used = run_once(command, env=work.env)
            if used.returncode != 0 or not outputs_hold(work, work.hosts):
                msg = f"{' '.join(command)} failed (exit {used.returncode})"
                raise RuntimeError(msg)
            found.append(used)
    first, second = (
        Medians(
            statistics.median(u.cpu for u in found),
            statistics.median(u.wall for u in found),
            int(statistics.median(u.max_rss for u in found)),
        )
        for found in usages
    )
    return first, second


def outputs_hold(work: Workload, hosts: tuple[str, ...]) -> bool:
    """Both outputs hold every host in ``hosts``.

    A few hosts (a save's) are searched for, which costs the watching process least while the
    daemon works (the emulator answering it shares this process); many are looked up in
    each file parsed once (a search per host was quadratic).
    """
    try:
        docker, netrc = work.docker.read_text(), work.netrc.read_text()
    except FileNotFoundError:
        return False
    if len(hosts) <= FEW_HOSTS:
        return all(f'"{h}"' in docker and f"machine {h}\n" in netrc for h in hosts)
    try:
        auths = json.loads(docker).get("auths", {})
    except ValueError:  # caught between two writes of a writer that is not atomic
        return False
    machines = set(MACHINE.findall(netrc))
    return all(h in auths and h in machines for h in hosts)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class OutputWatch:
    """Looks at both outputs every millisecond, parsing only when one changed."""

    def __init__(self, work: Workload) -> None:
        self.work = work
        self.seen: tuple[object, ...] = ()

    def stamp(self) -> tuple[object, ...]:
        return (_stamp(self.work.docker), _stamp(self.work.netrc))

    def wait_for(
        self, hosts: tuple[str, ...], *, timeout: float, proc: subprocess.Popen[bytes] | None
    ) -> float | None:
        """Seconds (perf_counter) when both outputs hold ``hosts``; None on timeout."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            stamp = self.stamp()
            if stamp != self.seen:
                self.seen = stamp
                if outputs_hold(self.work, hosts):
                    return time.perf_counter()
            if proc is not None and proc.poll() is not None and self.stamp() == self.seen:
                return None
            time.sleep(POLL)
        return None


def start_to_outputs(command: list[str], work: Workload) -> tuple[float, subprocess.Popen[bytes]]:
    """Seconds from starting ``command`` to both outputs holding every host."""
    work.clean()
    watch = OutputWatch(work)
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, env=work.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    done = watch.wait_for(work.hosts, timeout=120, proc=proc)
    if done is None:
        proc.kill()
        proc.wait()
        msg = f"{' '.join(command)} did not write every host within 120 s"
        raise RuntimeError(msg)
    return done - start, proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_ticks(pid: int) -> int:
    """User and system clock ticks of the process, all threads (whole ticks: no rounding)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return 0


def save_config(path: Path, text: str, *, in_place: bool) -> None:
    """Save like an editor: a new file renamed over the old one, or a rewrite in place."""
    if in_place:
        with path.open("w") as file:  # open with truncate, write, close
            file.write(text)
        return
    temp = path.with_name(f".{path.name}.swp")
    temp.write_text(text)
    temp.replace(path)


def saves_to_outputs(
    work: Workload, *, saves: int, proc: subprocess.Popen[bytes]
) -> dict[str, list[float]]:
    """Milliseconds from the end of each save (adding one registry) to docker's file holding it.

    ``saves`` of each kind, taken in turns (rename, in place, rename, ...): each save makes
    the configuration one registry longer, and in turns neither kind is timed on the larger
    configurations only. The end of the save: the rename done, or the file closed after its
    rewrite in place.
    """
    times: dict[str, list[float]] = {"rename": [], "in place": []}
    text = work.config.read_text()
    # Each save adds a registry to the first group (its region and endpoint).
    endpoint = text.split('endpoint_url: "', 1)[1].split('"', 1)[0]
    for n in range(2 * saves):
        kind = "in place" if n % 2 else "rename"
        rid = registry_id(900000 + n)
        region = REGIONS[0]
        host = f"{rid}.dkr.ecr.{region}.amazonaws.com"
        text += f'  - {{registry_id: "{rid}", region: {region}, endpoint_url: "{endpoint}"}}\n'
        save_config(work.config, text, in_place=kind == "in place")
        start = time.perf_counter()
        done = docker_holds(work, host, timeout=10, proc=proc)
        times[kind].append(float("inf") if done is None else (done - start) * 1000)
        time.sleep(0.3)  # let the daemon settle between two saves, as between two edits
    return times


def docker_holds(
    work: Workload, host: str, *, timeout: float, proc: subprocess.Popen[bytes]
) -> float | None:
    """perf_counter() when docker's file first holds ``host`` (None on timeout or exit)."""
    deadline = time.perf_counter() + timeout
    seen = None
    while time.perf_counter() < deadline and proc.poll() is None:
        stamp = _stamp(work.docker)
        if stamp != seen:
            seen = stamp
            with contextlib.suppress(FileNotFoundError):
                if f'"{host}"' in work.docker.read_text():
                    return time.perf_counter()
        time.sleep(0.001)
    return None


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def helper_tokens(root: Path, emulator: Emulator) -> tuple[Workload, str] | str:
    """A workload whose host docker sends to `ecrd` (credHelpers), refreshed once."""
    work = make_workload(root, emulator, registries=1, groups=1)
    host = work.hosts[0]
    work.docker.write_text(json.dumps({"credHelpers": {host: "ecrd"}}))
    done = subprocess.run(
        ecrd("refresh", "-c", str(work.config)), env=work.env, capture_output=True, check=False
    )
    if done.returncode != 0:
        return f"ecrd refresh for the helper failed: {done.stderr.decode()[-300:]}"
    answer = subprocess.run(
        [str(BIN / "docker-credential-ecrd"), "get"],
        input=host.encode(),
        env=work.env,
        capture_output=True,
        check=False,
    )
    if b'"Secret"' not in answer.stdout:
        return f"docker-credential-ecrd get gave no login: {answer.stdout.decode()[:200]}"
    return work, host


def compare_wall(
    commands: list[list[str]], *, env: dict[str, str], runs: int, stdin: bytes = b""
) -> list[Medians]:
    """Median wall time (and CPU) of each command, the commands run in turn."""
    usages: list[list[Usage]] = [[] for _ in commands]
    for _ in range(runs):
        for command, found in zip(commands, usages, strict=True):
            used = run_once(command, env=env, stdin=stdin)
            if used.returncode != 0:
                msg = f"{' '.join(command)} failed (exit {used.returncode})"
                raise RuntimeError(msg)
            found.append(used)
    return [
        Medians(
            statistics.median(u.cpu for u in found),
            statistics.median(u.wall for u in found),
            int(statistics.median(u.max_rss for u in found)),
        )
        for found in usages
    ]


# --- The run ----------------------------------------------------------------------------------


def measure_refresh(
    args: argparse.Namespace, root: Path, emulator: Emulator, *, large: bool
) -> tuple[list[Row], int]:
    """`ecrd refresh` beside the floor at each scale; also the floor's peak RSS at 100.

    ``large``: 1,000 registries (and 10,000 with --scale), else 20 and 100.
    """
    rows: list[Row] = []
    scales: list[tuple[int, int, int, float | None]] = (
        [(1000, 100, args.large_runs, REFRESH_RATIO_LARGE)]
        if large
        else [(20, 5, args.runs, REFRESH_RATIO), (100, 10, args.runs, REFRESH_RATIO)]
    )
    if large and args.scale:
        scales.append((10000, 1000, args.large_runs, None))
    cpu_at: dict[int, float] = {}
    floor_rss = 0
    for registries, groups, runs, limit in scales:
        work = make_workload(
            root / f"refresh-{registries}", emulator, registries=registries, groups=groups
        )
        mine, least = compare_usage(
            (ecrd("refresh", "-c", str(work.config)), [*floor(), str(work.spec)]),
            work=work,
            runs=runs,
        )
        e_cpu, e_rss, f_cpu, f_rss = mine.cpu, mine.max_rss, least.cpu, least.max_rss
        cpu_at[registries] = e_cpu
        if registries == DAEMON_REGISTRIES:
            floor_rss = f_rss
        label = f"ecrd refresh CPU, {registries:,} registries / {groups:,} groups"
        row = Row(label, e_cpu * 1000, f_cpu * 1000, "ms")
        if limit is not None:
            row.target, row.met = f"<= {limit}x", e_cpu / f_cpu <= limit
        rows.append(row)
        rows.append(
            Row(f"  peak RSS, {registries:,} registries", e_rss / 1024, f_rss / 1024, "MiB")
        )
        print(f"  measured refresh at {registries} registries", file=sys.stderr)
    if large and args.scale:
        growth = cpu_at[10000] / cpu_at[1000]
        rows.append(
            Row(
                "ecrd refresh CPU, 10,000 registries / 1,000 registries",
                growth,
                None,
                "x",
                f"<= {LINEAR_GROWTH:.0f}x",
                growth <= LINEAR_GROWTH,
            )
        )
    return rows, floor_rss


def measure_daemon(
    args: argparse.Namespace, root: Path, emulator: Emulator, *, floor_rss: int
) -> list[Row]:
    """`ecrd run`: start to first round (beside the floor), idle, then config saves."""
    work = make_workload(
        root / "run", emulator, registries=DAEMON_REGISTRIES, groups=DAEMON_REGISTRIES // 10
    )
    command = ecrd("run", "-c", str(work.config), "--log-format", "json", "--log-level", "warning")
    starts, floor_starts = [], []
    for _ in range(args.runs):
        seconds, floor_proc = start_to_outputs([*floor(), str(work.spec)], work)
        floor_proc.wait()
        floor_starts.append(seconds)
        seconds, proc = start_to_outputs(command, work)
        starts.append(seconds)
        stop(proc)
    # One more start, measured too, that goes on idle and then takes the saves.
    seconds, proc = start_to_outputs(command, work)
    starts.append(seconds)
    e_start, f_start = statistics.median(starts), statistics.median(floor_starts)
    rows = [
        Row(
            f"ecrd run, start to first round written, {DAEMON_REGISTRIES} registries",
            e_start * 1000,
            f_start * 1000,
            "ms",
            f"<= {START_RATIO}x",
            e_start / f_start <= START_RATIO,
        )
    ]
    print("  measured start to first round", file=sys.stderr)
    try:
        time.sleep(1)  # start-up work (thread pools, imports) settles
        before = cpu_ticks(proc.pid)
        time.sleep(args.idle_seconds)
        idle_ticks = cpu_ticks(proc.pid) - before
        idle_cpu = idle_ticks / TICKS
        rss, threads = status_field(proc.pid, "VmRSS"), status_field(proc.pid, "Threads")
        print("  measured idle", file=sys.stderr)
        saves = saves_to_outputs(work, saves=args.saves, proc=proc)
        print("  measured saves", file=sys.stderr)
    finally:
        stop(proc)
    rows.append(
        Row(
            f"ecrd run idle RSS ({threads} threads) vs floor peak RSS",
            rss / 1024,
            floor_rss / 1024,
            "MiB",
            f"<= {IDLE_RSS_RATIO}x",
            rss <= IDLE_RSS_RATIO * floor_rss,
        )
    )
    rows.append(
        Row(
            f"ecrd run idle CPU over {args.idle_seconds:.0f} s",
            idle_cpu * 1000,
            None,
            "ms",
            f"<= {IDLE_TICKS * 1000 / TICKS:.0f} ms",
            idle_ticks <= IDLE_TICKS,
        )
    )
    for label, times in saves.items():
        rows.append(
            Row(f"config saved ({label}) -> docker file, p50", statistics.median(times), None, "ms")
        )
        rows.append(
            Row(
                f"config saved ({label}) -> docker file, p95",
                p95(times),
                None,
                "ms",
                f"< {SAVE_P95_MS:.0f} ms",
                p95(times) < SAVE_P95_MS,
            )
        )
    return rows


def measure_commands(args: argparse.Namespace, root: Path, emulator: Emulator) -> list[Row]:
    """Wall time of the short commands, and of the credential helper beside python -c pass."""
    rows: list[Row] = []
    small = make_workload(root / "cli", emulator, registries=20, groups=5)
    version, check = compare_wall(
        [ecrd("--version"), ecrd("check-config", "-c", str(small.config))],
        env=small.env,
        runs=args.runs * 2,
    )
    for label, found in (
        ("ecrd --version", version),
        ("ecrd check-config, 20 registries", check),
    ):
        wall = found.wall * 1000
        rows.append(
            Row(
                f"{label}, wall (CPU {found.cpu * 1000:.0f} ms)",
                wall,
                None,
                "ms",
                f"< {CLI_MS:.0f} ms",
                wall < CLI_MS,
            )
        )
    found = helper_tokens(root / "helper", emulator)
    if isinstance(found, str):
        rows.append(Row(f"docker-credential-ecrd get: not measured ({found})", None, None, "ms"))
        return rows
    work, host = found
    helper, bare = compare_wall(
        [[str(BIN / "docker-credential-ecrd"), "get"], [sys.executable, "-c", "pass"]],
        env=work.env,
        runs=args.runs * 4,
        stdin=host.encode(),
    )
    rows.append(
        Row(
            "docker-credential-ecrd get vs python -c pass, wall",
            helper.wall * 1000,
            bare.wall * 1000,
            "ms",
            f"<= {HELPER_RATIO}x",
            helper.wall / bare.wall <= HELPER_RATIO,
        )
    )
    return rows


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    print(
        f"ecrd vs floor (bench/floor.py), {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M %Z')},"
        f" medians of {args.runs} runs ({args.large_runs} at 1,000+ registries)"
    )
    print()
    print("| figure | ecrd | floor | ratio | target | met |")
    print("|---|---:|---:|---:|---|---|")
    for row in rows:
        ecrd_text = "-" if row.ecrd is None else f"{row.ecrd:,.1f} {row.unit}"
        floor_text = "-" if row.floor is None else f"{row.floor:,.1f} {row.unit}"
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        met = "" if row.met is None else ("met" if row.met else "NOT met")
        print(f"| {row.figure} | {ecrd_text} | {floor_text} | {ratio} | {row.target} | {met} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    parser.add_argument(
        "--large-runs", type=int, default=3, help="runs at 1,000 and 10,000 registries"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=60.0, help="length of the idle window"
    )
    parser.add_argument("--saves", type=int, default=20, help="saves of each kind")
    parser.add_argument(
        "--scale", action="store_true", help="also 10,000 registries in 1,000 groups"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ecrd-bench-") as tmp, Emulator() as emulator:
        root = Path(tmp)
        # The daemon and the short commands before the large refreshes: what they leave in
        # this process (the emulator served thousands of connections) is no part of the
        # daemon's figures.
        rows, floor_rss = measure_refresh(args, root, emulator, large=False)
        daemon = measure_daemon(args, root, emulator, floor_rss=floor_rss)
        commands = measure_commands(args, root, emulator)
        rows += measure_refresh(args, root, emulator, large=True)[0] + daemon + commands
    print_table(rows, args)


if __name__ == "__main__":
    main()
