"""The emulator package: its exports, and its request log."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys

import boto3
from botocore.config import Config

import ecrd.emulator
from ecrd.emulator import Emulator, Fault


def test_package_exports():
    """`ecrd.emulator` exports the emulator, its faults and calls, and the foreground server."""
    assert ["Call", "Emulator", "Fault", "serve"] == sorted(ecrd.emulator.__all__)


def test_each_request_is_logged_at_debug_without_the_token(caplog):
    """One debug line per request: api, operation, region and status; never the token."""
    caplog.set_level(logging.DEBUG, logger="ecrd.emulator")
    with Emulator(stable_passwords=True) as emulator:
        emulator.inject(Fault("throttle", count=1))
        client = boto3.client(
            "ecr",
            region_name="eu-central-1",
            endpoint_url=emulator.url,
            config=Config(retries={"total_max_attempts": 2}),
        )
        client.get_authorization_token(registryIds=["123456789012"])
        password = emulator.password_for("123456789012")

    served = [r.getMessage() for r in caplog.records if r.getMessage().startswith("request_served")]
    assert [
        "request_served api=ecr operation=GetAuthorizationToken region=eu-central-1 status=400 fault=throttle",
        "request_served api=ecr operation=GetAuthorizationToken region=eu-central-1 status=200 fault=None",
    ] == served
    assert not any(password in r.getMessage() for r in caplog.records)


def test_ecrd_emulator_at_debug_level_shows_each_request(tmp_path):
    """`ecrd emulator --log-level debug` prints a request line per call, never the token."""
    log_path = tmp_path / "emulator.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ecrd",
                "emulator",
                "--port",
                "0",
                "--log-level",
                "debug",
                "--log-format",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
        try:
            assert proc.stdout is not None
            url = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline())
            assert url is not None
            client = boto3.client(
                "ecr",
                region_name="us-east-1",
                endpoint_url=url.group(0),
                aws_access_key_id="AKIDEXAMPLE",
                aws_secret_access_key="secret",
            )
            token = client.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=10)

    text = log_path.read_text()
    served = [line for line in text.splitlines() if "request_served" in line]
    assert 1 == len(served)
    assert "operation=GetAuthorizationToken" in served[0]
    assert token not in text


def test_the_emulator_imports_nothing_of_the_daemon_or_the_tokens():
    """Every module of `ecrd.emulator` loads, of ecrd, only the package and its errors."""
    code = (
        "import pkgutil, importlib, sys\n"
        "import ecrd.emulator\n"
        "for m in pkgutil.iter_modules(ecrd.emulator.__path__, 'ecrd.emulator.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(' '.join(sorted(n for n in sys.modules if n.startswith('ecrd'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    loaded = done.stdout.split()
    outside = [n for n in loaded if n != "ecrd" and not n.startswith("ecrd.emulator")]
    assert ["ecrd.errors"] == outside
