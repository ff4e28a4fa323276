"""What `ecrd run` prints: JSON lines off a TTY, a console format on one, and no secret."""

from __future__ import annotations

import base64
import contextlib
import os
import pty
import signal
import subprocess
import sys
import threading

from ecrd.emulator.server import Emulator, Fault
from tests.daemon.conftest import (
    EAST,
    EAST_HOST,
    EU,
    EU_HOST,
    FAST,
    SHORT_LIFETIME,
    STOP_SECONDS,
    WAIT,
    WEST,
    WEST_HOST,
    config_yaml,
    holding,
    parse_time,
)

# The stable event names, and the keys each carries (more are allowed).
EVENT_KEYS = {
    "daemon_started": {"config", "groups", "hosts", "pid"},
    "token_refreshed": {"group", "hosts", "expires_at"},
    "refresh_failed": {"group", "hosts", "error", "code"},
    "refresh_scheduled": {"group", "hosts", "at", "restored"},
    "output_written": {"path", "hosts", "removed"},
    "config_reloaded": {"config", "refreshed", "removed"},
    "config_rejected": {"config", "errors"},
    "daemon_stopping": set(),
}


def auth_of(password: str) -> str:
    return base64.b64encode(f"AWS:{password}".encode()).decode()


class TestLogFormat:
    def test_json_lines_off_a_tty_with_the_stable_event_names(
        self, start_daemon, fast_emulator, config_path, outputs
    ):
        """Through a refresh, a failure, a good and a bad reload and a stop: JSON lines only.

        No --log-format: stderr is a pipe, so JSON it is. Each event has its name, level,
        timestamp and the keys it is documented with.
        """
        text = config_yaml(endpoint=fast_emulator.url, registries=[WEST_HOST], outputs=outputs)
        config_path.write_text(text)
        daemon = start_daemon(config_path, log_args=("--log-level", "debug"))
        daemon.wait_for("output_written", path=str(outputs.netrc))
        fast_emulator.inject(Fault(kind="access_denied", count=1))
        daemon.wait_for("refresh_failed")
        config_path.write_text(text.replace(f"  - {WEST_HOST}", f"  - {WEST_HOST}\n  - {EU_HOST}"))
        daemon.wait_for("config_reloaded")
        config_path.write_text("refresh: {jitter: soon}\n")
        daemon.wait_for("config_rejected")

        code = daemon.stop()

        assert 0 == code
        assert [] == daemon.stray
        assert [] == daemon.stdout
        names = {e["event"] for e in daemon.events}
        assert set(EVENT_KEYS) <= names
        for event in daemon.events:
            assert {"event", "level", "timestamp"} <= set(event)
            parse_time(event["timestamp"])
            missing = EVENT_KEYS.get(event["event"], set()) - set(event)
            assert set() == missing, event
        for event in daemon.find("token_refreshed") + daemon.find("refresh_scheduled"):
            parse_time(event.get("expires_at") or event["at"])

    def test_a_console_format_on_a_tty(self, fast_emulator, config_path, write_config):
        """With stderr on a terminal the events are readable lines, not JSON."""
        write_config(fast_emulator, WEST_HOST, refresh=FAST)
        controller, terminal = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ecrd", "run", "-c", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
            env=os.environ.copy(),
        )
        os.close(terminal)
        seen = bytearray()
        refreshed = threading.Event()

        def read() -> None:
            with contextlib.suppress(OSError):  # EIO once the process has gone
                while chunk := os.read(controller, 4096):
                    seen.extend(chunk)
                    if b"token_refreshed" in seen:
                        refreshed.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            got_refresh = refreshed.wait(WAIT)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=STOP_SECONDS)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join(timeout=WAIT)
            os.close(controller)
        lines = [line for line in seen.decode(errors="replace").splitlines() if line.strip()]

        assert got_refresh, seen.decode(errors="replace")
        assert 0 == code
        assert [] == [line for line in lines if line.lstrip().startswith("{")]
        assert any("token_refreshed" in line and WEST_HOST in line for line in lines)

    def test_log_level_warning_keeps_only_warnings_and_errors(
        self, write_config, start_daemon, fast_emulator, config_path
    ):
        """--log-level warning: refresh_failed is printed, info and debug events are not."""
        fast_emulator.inject(Fault(kind="access_denied", count=None))
        write_config(fast_emulator, WEST_HOST, refresh=FAST)
        daemon = start_daemon(config_path, log_args=("--log-level", "warning"))

        daemon.wait_for("refresh_failed", count=2)
        daemon.stop()

        assert {"error"} == {e["level"] for e in daemon.events if e["event"] == "refresh_failed"}
        assert set() == {e["level"] for e in daemon.events} - {"warning", "error"}


class TestNoSecretPrinted:
    def test_no_password_nor_auth_value_in_anything_printed_at_debug_level(
        self, start_daemon, config_path, outputs
    ):
        """Refreshes, faults, a good and a bad reload, a stop, at debug level: no secret shown.

        The passwords are the emulator's (stable per registry) and those read back from the
        files ecrd wrote; none of them, nor their docker ``auth`` form (base64 of
        ``AWS:password``, also ECR's authorizationToken), nor a 32-character piece of one,
        appears in stdout or stderr.
        """
        with Emulator(token_lifetime=SHORT_LIFETIME, stable_passwords=True) as emulator:
            text = config_yaml(
                endpoint=emulator.url, registries=[WEST_HOST, EU_HOST], outputs=outputs
            )
            config_path.write_text(text)
            daemon = start_daemon(config_path)
            daemon.wait_for("token_refreshed", hosts=[WEST_HOST], count=2)
            emulator.inject(Fault(kind="access_denied", count=1, region="us-west-2"))
            emulator.inject(Fault(kind="malformed", count=1, region="eu-west-1"))
            daemon.wait_for("refresh_failed", hosts=[WEST_HOST])
            daemon.wait_for("refresh_failed", hosts=[EU_HOST])
            mark = daemon.mark()
            config_path.write_text(
                text.replace(f"  - {EU_HOST}", f"  - {EU_HOST}\n  - {EAST_HOST}")
            )
            daemon.wait_for(
                "output_written", since=mark, path=str(outputs.netrc), where=holding(EAST_HOST)
            )
            config_path.write_text(text.replace("registries:", "registries: oops"))
            daemon.wait_for("config_rejected")
            code = daemon.stop()
            passwords = [emulator.password_for(i) for i in (WEST, EU, EAST)]
        auths = [entry["auth"] for entry in outputs.auths().values()]
        netrc_words = outputs.netrc.read_text().split()
        netrc_passwords = [
            netrc_words[i + 1] for i, word in enumerate(netrc_words) if word == "password"
        ]
        secrets = {*passwords, *netrc_passwords, *auths, *(auth_of(p) for p in passwords)}
        pieces = {s[len(s) // 2 : len(s) // 2 + 32] for s in secrets}
        printed = daemon.output()

        assert 0 == code
        assert sorted(auth_of(p) for p in passwords) == sorted(auths)
        assert sorted(passwords) == sorted(netrc_passwords)
        assert [True] * 3 == [len(p) > 100 for p in passwords]
        assert [] == [s for s in secrets if s in printed]
        assert [] == [p for p in pieces if p in printed]
