"""The shipped alert rules: valid for the real promtool, and their own unit tests pass.

``prometheus/ecrd-rules.test.yml`` holds promtool's test cases: a login expiring within the
hour, a host failing for 30 minutes, an invalid configuration, a host with no login, one
configuration's series gone, and no ecrd series at all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ecrd.metrics import Metrics
from tests.test_metrics import every_host_ok

RULES = Path(__file__).resolve().parent.parent / "prometheus" / "ecrd-rules.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=RULES.parent,
    )


@needs_promtool
def test_promtool_checks_the_rules():
    """The real promtool checks the rules: every rule parses, six of them."""
    done = promtool("check", "rules", RULES.name)

    assert 0 == done.returncode, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


@needs_promtool
def test_promtool_runs_the_rules_test_cases():
    """The real promtool runs the test cases: each alert fires when it should, and not before."""
    done = promtool("test", "rules", "ecrd-rules.test.yml")

    assert 0 == done.returncode, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_rules_name_only_series_ecrd_writes(tmp_path):
    """Every ecrd_* name in the rules is a series of ecrd's textfile."""
    metrics = Metrics(config=tmp_path / "c.yaml")
    metrics.observe_config(valid=True)
    metrics.observe_round(every_host_ok())
    written = set(re.findall(r"^(ecrd_\w+?)(?:\{| )", metrics.render().decode(), re.MULTILINE))

    named = set(re.findall(r"\becrd_\w+", RULES.read_text()))

    assert set() == named - written
