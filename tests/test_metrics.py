"""Prometheus metrics: every value read back with prometheus_client's own parser.

Unit tests build ``RoundResult`` values by hand (and from a real round with a fake token
source, for secrets); the end-to-end tests run ``python -m ecrd refresh`` against the
loopback ECR emulator and compare the textfile with its ``expiresAt`` and ``ecrd status``.
"""

from __future__ import annotations

import json
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ecrd.config.model import Config, OutputSpec, Registry
from ecrd.emulator.server import Emulator, Fault
from ecrd.errors import ConfigError
from ecrd.metrics import Metrics
from ecrd.problems import OUTPUT_FAILED, SHADOWED, Problem
from ecrd.refresh_round import HostResult, RoundResult, run_round
from ecrd.state import StateStore
from tests.fakes import FakeTokenSource
from tests.process import ecrd

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
STARTED = NOW - timedelta(minutes=1)
EXPIRES = NOW + timedelta(hours=12)
WEST_HOST = "111111111111.dkr.ecr.us-west-2.amazonaws.com"
ALIAS = "registry.example.internal:5000"
EAST_HOST = "222222222222.dkr.ecr.us-east-1.amazonaws.com"
WEST_GROUP, EAST_GROUP, PUBLIC_GROUP = "ecr:us-west-2", "ecr:us-east-1", "ecr-public"
WEST = Registry(registry_id="111111111111", region="us-west-2", hosts=(WEST_HOST, ALIAS))
EAST = Registry(registry_id="222222222222", region="us-east-1", hosts=(EAST_HOST,))
PUBLIC = Registry(registry_id=None, region="us-east-1", hosts=("public.ecr.aws",), public=True)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
CONFIG = "/etc/ecrd/config.yaml"


def parse(text: str, *, config: str = CONFIG) -> Samples:
    """Every sample as (name, sorted labels) -> value, through prometheus_client's parser.

    Every ecrd series must carry ``config`` (checked here), left out of the labels returned.
    """
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = dict(s.labels)
            if s.name.startswith("ecrd_"):
                assert config == labels.pop("config", None), s
            samples[(s.name, tuple(sorted(labels.items())))] = s.value
    return samples


def ecrd_only(samples: Samples) -> Samples:
    return {k: v for k, v in samples.items() if k[0].startswith("ecrd_")}


def host_labels(host: str, registry_id: str, region: str) -> tuple[tuple[str, str], ...]:
    return (("host", host), ("region", region), ("registry_id", registry_id))


def ok_host(registry: Registry, host: str, group: str, *, at: datetime = NOW) -> HostResult:
    return HostResult(
        host=host,
        registry_id=registry.registry_id,
        region=registry.region,
        group=group,
        expires_at=at + timedelta(hours=12),
        refreshed_at=at,
        outputs=("/out/config.json",),
        error=None,
        failing=False,
    )


def failed_host(registry: Registry, host: str, group: str, *, refreshed_at: datetime) -> HostResult:
    return HostResult(
        host=host,
        registry_id=registry.registry_id,
        region=registry.region,
        group=group,
        expires_at=refreshed_at + timedelta(hours=12),
        refreshed_at=refreshed_at,
        outputs=(),
        error=f"group {group}: access denied (AccessDeniedException)",
        failing=True,
    )


def round_of(*hosts: HostResult, problems: tuple[Problem, ...] = ()) -> RoundResult:
    return RoundResult(hosts=hosts, problems=problems, written=("/out/config.json",))


def every_host_ok(at: datetime = NOW) -> RoundResult:
    return round_of(
        ok_host(WEST, WEST_HOST, WEST_GROUP, at=at),
        ok_host(WEST, ALIAS, WEST_GROUP, at=at),
        ok_host(EAST, EAST_HOST, EAST_GROUP, at=at),
        ok_host(PUBLIC, "public.ecr.aws", PUBLIC_GROUP, at=at),
    )


@pytest.fixture
def metrics() -> Metrics:
    """Metrics started a minute before NOW, with a valid configuration loaded then."""
    found = Metrics(config=Path(CONFIG), clock=lambda: STARTED)
    found.observe_config(valid=True)
    return found


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def textfile_samples(metrics: Metrics, path: Path) -> Samples:
    metrics.write_textfile(path)
    return parse(path.read_text())


class TestValues:
    def test_every_value_of_a_round_in_the_textfile(self, metrics, tmp_path):
        """Each host's expiry, last success and failing flag, each group's attempt, the config."""
        metrics.observe_round(every_host_ok())

        samples = textfile_samples(metrics, tmp_path / "ecrd.prom")

        expected: Samples = {}
        for host, registry_id, region in [
            (WEST_HOST, "111111111111", "us-west-2"),
            (ALIAS, "111111111111", "us-west-2"),
            (EAST_HOST, "222222222222", "us-east-1"),
            ("public.ecr.aws", "", "us-east-1"),
        ]:
            labels = host_labels(host, registry_id, region)
            expected[("ecrd_token_expiry_timestamp_seconds", labels)] = EXPIRES.timestamp()
            expected[("ecrd_last_success_timestamp_seconds", labels)] = NOW.timestamp()
            expected[("ecrd_host_failing", labels)] = 0.0
        for group in (WEST_GROUP, EAST_GROUP, PUBLIC_GROUP):
            labels = (("group", group), ("result", "success"))
            expected[("ecrd_refresh_attempts_total", labels)] = 1.0
        expected[("ecrd_config_valid", ())] = 1.0
        expected[("ecrd_config_reload_timestamp_seconds", ())] = STARTED.timestamp()
        assert expected == samples

    def test_failing_flag_and_failure_counter_move_across_a_failed_round(self, metrics, tmp_path):
        """A failed fetch sets the flag and counts a failure; the next success clears the flag."""
        path = tmp_path / "ecrd.prom"
        labels = host_labels(EAST_HOST, "222222222222", "us-east-1")
        failure = ("ecrd_refresh_attempts_total", (("group", EAST_GROUP), ("result", "failure")))
        success = ("ecrd_refresh_attempts_total", (("group", EAST_GROUP), ("result", "success")))
        metrics.observe_round(every_host_ok())
        later = NOW + timedelta(hours=6)

        metrics.observe_round(round_of(failed_host(EAST, EAST_HOST, EAST_GROUP, refreshed_at=NOW)))
        during = textfile_samples(metrics, path)
        metrics.observe_round(round_of(ok_host(EAST, EAST_HOST, EAST_GROUP, at=later)))
        after = textfile_samples(metrics, path)

        assert 1.0 == during[("ecrd_host_failing", labels)]
        assert (1.0, 1.0) == (during[failure], during[success])
        assert NOW.timestamp() == during[("ecrd_last_success_timestamp_seconds", labels)]
        assert (
            0.0
            == during[("ecrd_host_failing", host_labels(WEST_HOST, "111111111111", "us-west-2"))]
        )
        assert 0.0 == after[("ecrd_host_failing", labels)]
        assert (1.0, 2.0) == (after[failure], after[success])
        assert later.timestamp() == after[("ecrd_last_success_timestamp_seconds", labels)]

    def test_a_group_written_again_without_a_fetch_counts_no_attempt(self, metrics, tmp_path):
        """A round that rewrites a group's old login (a new output, say) is not an attempt."""
        metrics.observe_round(every_host_ok())

        metrics.observe_round(round_of(ok_host(EAST, EAST_HOST, EAST_GROUP, at=NOW)))
        samples = textfile_samples(metrics, tmp_path / "ecrd.prom")

        key = ("ecrd_refresh_attempts_total", (("group", EAST_GROUP), ("result", "success")))
        assert 1.0 == samples[key]

    def test_hosts_that_leave_the_configuration_leave_the_metrics(self, metrics, tmp_path):
        """After a reload without EAST and ECR Public, their series and group counters are gone."""
        metrics.observe_round(every_host_ok())

        metrics.observe_config(
            valid=True, config=Config(path=tmp_path / "c.yaml", registries=(WEST,))
        )
        samples = textfile_samples(metrics, tmp_path / "ecrd.prom")

        hosts = {dict(labels).get("host") for _, labels in samples} - {None}
        groups = {dict(labels).get("group") for _, labels in samples} - {None}
        assert {WEST_HOST, ALIAS} == hosts
        assert {WEST_GROUP} == groups

    def test_output_write_errors_are_counted_per_path(self, metrics, tmp_path):
        """Each round in which an output failed adds one to that path's counter."""
        message = "cannot write /out/netrc: no space left on device"
        failed = Problem(host=None, path="/out/netrc", code=OUTPUT_FAILED, message=message)
        shadowed = Problem(host=EAST_HOST, path="/out/other", code=SHADOWED, message="shadowed")

        metrics.observe_round(round_of(ok_host(EAST, EAST_HOST, EAST_GROUP), problems=(failed,)))
        metrics.observe_round(round_of(problems=(failed, shadowed)))
        samples = textfile_samples(metrics, tmp_path / "ecrd.prom")

        assert 2.0 == samples[("ecrd_output_write_errors_total", (("path", "/out/netrc"),))]
        assert False is (("ecrd_output_write_errors_total", (("path", "/out/other"),)) in samples)

    def test_config_gauge_drops_and_recovers_around_an_invalid_save(self, tmp_path):
        """An invalid configuration sets 0 and keeps the last reload time; a valid one, 1 and now."""
        times = iter([STARTED, NOW, NOW + timedelta(minutes=5)])
        metrics = Metrics(config=Path(CONFIG), clock=lambda: next(times))
        path = tmp_path / "ecrd.prom"

        metrics.observe_config(valid=True)
        metrics.observe_config(valid=False)
        invalid = textfile_samples(metrics, path)
        metrics.observe_config(valid=True)
        recovered = textfile_samples(metrics, path)

        assert 0.0 == invalid[("ecrd_config_valid", ())]
        assert NOW.timestamp() == invalid[("ecrd_config_reload_timestamp_seconds", ())]
        assert 1.0 == recovered[("ecrd_config_valid", ())]
        reloaded = (NOW + timedelta(minutes=5)).timestamp()
        assert reloaded == recovered[("ecrd_config_reload_timestamp_seconds", ())]

    def test_no_secret_of_a_real_round_in_the_textfile_or_the_answer(self, tmp_path):
        """The password and the base64 auth value of a real round appear nowhere in the metrics."""
        fake = FakeTokenSource()
        config = Config(
            path=tmp_path / "config.yaml",
            outputs=(OutputSpec(type="docker", path=tmp_path / "config.json"),),
            registries=(WEST, EAST),
        )
        metrics = Metrics(config=Path(CONFIG))
        result = run_round(config=config, source=fake, store=StateStore(tmp_path / "state"))
        metrics.observe_round(result)

        text = metrics.render().decode()
        served = _scrape(metrics)

        auths = json.loads((tmp_path / "config.json").read_text())["auths"]
        secrets = [fake.password(r) for r in ("us-west-2", "us-east-1")]
        secrets += [entry["auth"] for entry in auths.values()]
        assert result.ok
        assert WEST_HOST in text
        assert [] == [s for s in secrets if s in text or s in served]
        assert [] == [s for s in secrets if s[:40] in text or s[:40] in served]


class TestTextfile:
    def test_a_new_textfile_is_0644_and_nothing_else_is_left(self, metrics, tmp_path):
        """node_exporter runs as another user: the file is world-readable, no temp file stays."""
        directory = tmp_path / "textfile"
        directory.mkdir()
        metrics.observe_round(every_host_ok())

        metrics.write_textfile(directory / "ecrd.prom")
        metrics.write_textfile(directory / "ecrd.prom")

        assert ["ecrd.prom"] == names(directory)
        assert 0o644 == stat.S_IMODE((directory / "ecrd.prom").stat().st_mode)

    def test_the_textfile_holds_no_process_metrics(self, metrics, tmp_path):
        """process_* would clash with node_exporter's own series: only ecrd_* in the file."""
        metrics.observe_round(every_host_ok())

        samples = textfile_samples(metrics, tmp_path / "ecrd.prom")

        assert set() == {name for name, _ in samples if not name.startswith("ecrd_")}

    def test_a_reader_never_sees_a_partial_file(self, tmp_path):
        """A second process reading in a loop sees only whole files while they are rewritten."""
        directory = tmp_path / "textfile"
        directory.mkdir()
        path = directory / "ecrd.prom"
        small, large = Metrics(config=Path(CONFIG)), Metrics(config=Path(CONFIG))
        small.observe_round(every_host_ok())
        large.observe_round(
            round_of(
                *(
                    ok_host(EAST, f"{n:012d}.dkr.ecr.us-east-1.amazonaws.com", EAST_GROUP)
                    for n in range(2000)
                )
            )
        )
        small.write_textfile(path)
        stop = tmp_path / "stop"
        reader = subprocess.Popen(
            [sys.executable, "-c", _READER, str(path), str(stop)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert reader.stdout is not None
        assert "reading\n" == reader.stdout.readline()
        try:
            # Enough rewrites that the reader's reads land on them many times.
            for n in range(200):
                (large if n % 2 else small).write_textfile(path)
        finally:
            stop.touch()
            out, _ = reader.communicate(timeout=30)

        reads, partial = map(int, out.split())
        assert reads > 0
        assert 0 == partial
        assert ["ecrd.prom"] == names(directory)


# Counts the reads, and those that are not a whole file (a whole file ends with the last
# family's sample, newline-terminated, and parses).
_READER = """
import os, sys
from prometheus_client.parser import text_string_to_metric_families
path, stop = sys.argv[1], sys.argv[2]
reads = partial = 0
print("reading", flush=True)
while not os.path.exists(stop):
    with open(path) as f:
        text = f.read()
    reads += 1
    try:
        names = [fam.name for fam in text_string_to_metric_families(text)]
        whole = text.endswith("\\n") and names[-1] == "ecrd_config_reload_timestamp_seconds"
    except Exception:
        whole = False
    partial += not whole
print(reads, partial)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(metrics: Metrics) -> str:
    port = _free_port()
    stop = metrics.serve(host="127.0.0.1", port=port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            return str(answer.read().decode())
    finally:
        stop()


class TestServe:
    def test_the_http_answer_holds_every_value_and_the_process_metrics(self, metrics, tmp_path):
        """/metrics gives the textfile's values, plus prometheus_client's process metrics."""
        metrics.observe_round(every_host_ok())

        served = parse(_scrape(metrics))
        written = textfile_samples(metrics, tmp_path / "ecrd.prom")

        assert written == ecrd_only(served)
        assert served[("process_resident_memory_bytes", ())] > 0
        assert ("process_cpu_seconds_total", ()) in served
        assert ("python_info", ()) not in written

    def test_a_port_in_use_is_an_error_naming_the_address(self, metrics):
        """Another listener on the port: a configuration error (exit 2) that names HOST:PORT."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]

            with pytest.raises(ConfigError) as raised:
                metrics.serve(host="127.0.0.1", port=port)

        assert 2 == raised.value.exit_code
        assert f"127.0.0.1:{port}" in str(raised.value)
        assert "already in use" in str(raised.value)

    def test_stop_releases_the_port(self, metrics):
        """After stop, the same port can be served again."""
        port = _free_port()
        metrics.serve(host="127.0.0.1", port=port)()

        stop = metrics.serve(host="127.0.0.1", port=port)

        stop()


NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")


@pytest.fixture
def node_exporter(tmp_path) -> Iterator[tuple[Path, Callable[[], str]]]:
    """node_exporter with only its textfile collector on; yields the directory and a scrape.

    Its log goes to ``node_exporter.log`` in ``tmp_path``.
    """
    if NODE_EXPORTER is None:
        pytest.skip("node_exporter is not installed (apt-get install prometheus-node-exporter)")
    directory = tmp_path / "textfile"
    directory.mkdir()
    port = _free_port()
    log = (tmp_path / "node_exporter.log").open("wb")
    proc = subprocess.Popen(
        [
            NODE_EXPORTER,
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={directory}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=log,
    )

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            return str(answer.read().decode())

    try:
        deadline = time.monotonic() + 20
        while True:  # until it listens: each try is a connection attempt, not a sleep
            try:
                scrape()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
        yield directory, scrape
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


class TestNodeExporter:
    def test_node_exporter_serves_every_value_of_the_textfile_without_error(
        self, metrics, node_exporter
    ):
        """The real textfile collector reads the file whole: same values, no scrape error."""
        directory, scrape = node_exporter
        metrics.observe_round(every_host_ok())
        metrics.write_textfile(directory / "ecrd.prom")

        scrape()
        served = parse(scrape())

        assert parse((directory / "ecrd.prom").read_text()) == ecrd_only(served)
        assert 0.0 == served[("node_textfile_scrape_error", ())]
        gathering = (("cause", "gathering"),)
        assert 0.0 == served[("promhttp_metric_handler_errors_total", gathering)]

    def test_two_configurations_in_one_directory_are_told_apart_without_collision(
        self, node_exporter, tmp_path
    ):
        """Two ecrd textfiles with the same host: both served, told apart by config, no clash."""
        directory, scrape = node_exporter
        ci, dev = "/etc/ecrd/ci.yaml", "/home/build/.config/ecrd/config.yaml"
        for name, config, at in (("ci", ci, NOW), ("dev", dev, NOW + timedelta(hours=1))):
            metrics = Metrics(config=config, clock=lambda: STARTED)
            metrics.observe_config(valid=True)
            metrics.observe_round(every_host_ok(at))
            metrics.write_textfile(directory / f"ecrd-{name}.prom")

        scrape()
        text = scrape()
        served = {
            (s.name, s.labels.get("config"), s.labels.get("host")): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name.startswith("ecrd_")
        }

        log = (tmp_path / "node_exporter.log").read_text()
        assert "collected before" not in log
        assert "error" not in log.lower()
        assert "node_textfile_scrape_error 0" in text.splitlines()
        expiry = "ecrd_token_expiry_timestamp_seconds"
        assert EXPIRES.timestamp() == served[(expiry, ci, WEST_HOST)]
        assert (EXPIRES + timedelta(hours=1)).timestamp() == served[(expiry, dev, WEST_HOST)]
        assert (
            1.0
            == served[("ecrd_config_valid", ci, None)]
            == served[("ecrd_config_valid", dev, None)]
        )


# --- End to end: `python -m ecrd refresh` against the emulator -------------------------------


@pytest.fixture
def fixed_emulator() -> Iterator[tuple[Emulator, datetime]]:
    """An emulator whose clock stands still, so that its expiresAt is known exactly."""
    issued = datetime.fromtimestamp(round(datetime.now(timezone.utc).timestamp()), timezone.utc)
    with Emulator(clock=lambda: issued) as emu:
        yield emu, issued


def write_config(tmp_path: Path, emulator: Emulator) -> Path:
    config = tmp_path / "ecrd.yaml"
    config.write_text(
        f"""\
metrics:
  textfile: {tmp_path}/textfile/ecrd.prom
aws:
  endpoint_url: {emulator.url}
outputs:
  - type: docker
    path: {tmp_path}/out/config.json
registries:
  - 111111111111.dkr.ecr.us-west-2.amazonaws.com
  - registry_id: "222222222222"
    region: us-west-2
    hosts: [registry.example.internal]
  - 333333333333.dkr.ecr.eu-central-1.amazonaws.com
"""
    )
    (tmp_path / "textfile").mkdir()
    return config


class TestRefreshProcess:
    def test_textfile_expiry_is_the_emulators_and_status_says_the_same(
        self, tmp_path, fixed_emulator
    ):
        """Each host's expiry in the textfile is the emulator's expiresAt and status's expires_at."""
        emulator, issued = fixed_emulator
        config = write_config(tmp_path, emulator)

        done = ecrd("refresh", "-c", str(config))
        status = json.loads(ecrd("status", "-c", str(config), "--output", "json").stdout)
        textfile = tmp_path / "textfile" / "ecrd.prom"
        samples = parse(textfile.read_text(), config=str(config))

        assert 0 == done.returncode, done.stderr
        expires_at = (issued + timedelta(hours=12)).timestamp()
        hosts = {
            "111111111111.dkr.ecr.us-west-2.amazonaws.com": ("111111111111", "us-west-2"),
            "222222222222.dkr.ecr.us-west-2.amazonaws.com": ("222222222222", "us-west-2"),
            "registry.example.internal": ("222222222222", "us-west-2"),
            "333333333333.dkr.ecr.eu-central-1.amazonaws.com": ("333333333333", "eu-central-1"),
        }
        expiry = {
            dict(labels)["host"]: value
            for (name, labels), value in samples.items()
            if name == "ecrd_token_expiry_timestamp_seconds"
        }
        assert dict.fromkeys(hosts, expires_at) == expiry
        by_status = {
            h["host"]: datetime.fromisoformat(h["expires_at"]).timestamp() for h in status["hosts"]
        }
        assert by_status == expiry
        for host, (registry_id, region) in hosts.items():
            labels = host_labels(host, registry_id, region)
            refreshed = next(h["refreshed_at"] for h in status["hosts"] if h["host"] == host)
            success = samples[("ecrd_last_success_timestamp_seconds", labels)]
            assert datetime.fromisoformat(refreshed).timestamp() == success
            assert 0.0 == samples[("ecrd_host_failing", labels)]
        attempts = {
            dict(labels)["group"]: value
            for (name, labels), value in samples.items()
            if name == "ecrd_refresh_attempts_total"
        }
        endpoint = f" endpoint={emulator.url}"
        assert {f"ecr:us-west-2{endpoint}": 1.0, f"ecr:eu-central-1{endpoint}": 1.0} == attempts
        assert 1.0 == samples[("ecrd_config_valid", ())]
        assert 0o644 == stat.S_IMODE(textfile.stat().st_mode)
        assert ["ecrd.prom"] == names(tmp_path / "textfile")

    def test_an_injected_fault_sets_the_failing_flag_and_counts_the_failure(
        self, tmp_path, fixed_emulator
    ):
        """eu-central-1 denied: its host is failing, its group counts a failure, the rest not."""
        emulator, _ = fixed_emulator
        config = write_config(tmp_path, emulator)
        endpoint = f" endpoint={emulator.url}"
        emulator.inject(Fault(kind="access_denied", region="eu-central-1", count=None))

        done = ecrd("refresh", "-c", str(config))
        samples = parse((tmp_path / "textfile" / "ecrd.prom").read_text(), config=str(config))

        assert 1 == done.returncode
        failing = {
            dict(labels)["host"]: value
            for (name, labels), value in samples.items()
            if name == "ecrd_host_failing"
        }
        assert {
            "111111111111.dkr.ecr.us-west-2.amazonaws.com": 0.0,
            "222222222222.dkr.ecr.us-west-2.amazonaws.com": 0.0,
            "registry.example.internal": 0.0,
            "333333333333.dkr.ecr.eu-central-1.amazonaws.com": 1.0,
        } == failing
        attempts = {
            tuple(dict(labels).values()): value
            for (name, labels), value in samples.items()
            if name == "ecrd_refresh_attempts_total"
        }
        assert {
            (f"ecr:us-west-2{endpoint}", "success"): 1.0,
            (f"ecr:eu-central-1{endpoint}", "failure"): 1.0,
        } == attempts


def test_a_daemon_without_metrics_never_imports_prometheus_client():
    """Metrics kept in memory cost no import; the first render loads the client library."""
    code = (
        "import sys\n"
        "from ecrd.metrics import Metrics\n"
        "metrics = Metrics(config='/etc/ecrd/config.yaml')\n"
        "metrics.observe_config(valid=True)\n"
        "before = 'prometheus_client' in sys.modules\n"
        "text = metrics.render().decode()\n"
        "print(before, 'prometheus_client' in sys.modules, 'ecrd_config_valid{config=\"/etc/ecrd/config.yaml\"} 1.0' in text)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert "False True True" == done.stdout.strip()
