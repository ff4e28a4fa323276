"""Log set-up: JSON lines off a TTY, libraries' warnings included, secrets masked."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import structlog

from ecrd.logs import configure_logging, get_logger
from tests.conftest import reset_logs


class TestConfigureLogging:
    def test_events_are_json_lines_with_secret_keys_masked(self):
        """An event off a TTY is one JSON line; a value under a password key is masked."""
        stream = io.StringIO()
        configure_logging(log_format=None, stream=stream)

        get_logger("ecrd").info("token_refreshed", host="h", password="hunter2")

        event = json.loads(stream.getvalue())
        assert ("token_refreshed", "h", "***") == (event["event"], event["host"], event["password"])

    def test_library_warnings_become_json_events_and_info_is_dropped(self):
        """A urllib3 warning is a JSON line in the same stream; a library's info is not shown."""
        stream = io.StringIO()
        configure_logging(log_format="json", stream=stream)

        logging.getLogger("urllib3.connectionpool").warning("Retrying %s", "GET /")
        logging.getLogger("watchdog").info("chatter")
        configure_logging(log_format="json", stream=io.StringIO())  # replaces, not adds

        lines = stream.getvalue().splitlines()
        assert 1 == len(lines)
        event = json.loads(lines[0])
        assert ("Retrying GET /", "warning", "urllib3.connectionpool") == (
            event["event"],
            event["level"],
            event["logger"],
        )
        assert 1 == sum(type(h).__name__ == "_LibraryLogs" for h in logging.getLogger().handlers)


class TestReset:
    def test_the_reset_each_test_gets_undoes_what_a_test_configured(self, request):
        """The autouse reset in conftest, run around every test, undoes a configuration left."""
        configure_logging(log_format="json", level="error", stream=io.StringIO())
        get_logger("ecrd").error("configured_now")
        configured = (structlog.is_configured(), _library_handlers())

        reset_logs()

        assert "_reset_logging" in request.fixturenames
        assert ((True, 1), (False, 0)) == (
            configured,
            (structlog.is_configured(), _library_handlers()),
        )


def _library_handlers() -> int:
    return sum(type(h).__name__ == "_LibraryLogs" for h in logging.getLogger().handlers)


class TestLazyLoading:
    """structlog is imported only for an event that is shown (a fresh interpreter each)."""

    @staticmethod
    def run(code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )

    def test_events_below_the_level_do_not_load_structlog(self):
        """Debug and info events under --log-level warning cost no import, and print nothing."""
        done = self.run(
            "import sys\n"
            "from ecrd.logs import configure_logging, get_logger\n"
            "configure_logging(level='warning', log_format='json')\n"
            "get_logger('ecrd').info('token_refreshed', host='h')\n"
            "get_logger().debug('temp_files_removed')\n"
            "print('structlog' in sys.modules)\n"
        )

        assert ("False", "") == (done.stdout.strip(), done.stderr)

    def test_the_first_event_shown_loads_and_configures_structlog(self):
        """A warning loads structlog with ecrd's set-up: one JSON line, secrets masked."""
        done = self.run(
            "import sys\n"
            "from ecrd.logs import configure_logging, get_logger\n"
            "configure_logging(level='warning', log_format='json')\n"
            "get_logger('ecrd').warning('state_failed', token='hunter2')\n"
            "print('structlog' in sys.modules)\n"
        )

        event = json.loads(done.stderr)
        assert ("True", "state_failed", "warning", "***") == (
            done.stdout.strip(),
            event["event"],
            event["level"],
            event["token"],
        )

    def test_a_library_warning_loads_structlog_for_its_line(self):
        """The root handler builds structlog's formatter at its first record."""
        done = self.run(
            "import logging\n"
            "from ecrd.logs import configure_logging\n"
            "configure_logging(level='warning', log_format='json')\n"
            "logging.getLogger('urllib3').warning('Retrying %s', 'GET /')\n"
        )

        assert ("Retrying GET /", "urllib3") == (
            json.loads(done.stderr)["event"],
            json.loads(done.stderr)["logger"],
        )


class TestLibraryWarnings:
    def test_a_library_warning_with_an_exception_is_one_clean_json_line(self):
        """A botocore record logged with exc_info: its error in words, no object repr."""
        stream = io.StringIO()
        configure_logging(log_format="json", stream=stream)
        try:
            raise ConnectionError("connection reset\n by peer")  # noqa: TRY301
        except ConnectionError:
            logging.getLogger("botocore.endpoint").warning("retrying", exc_info=True)

        (line,) = stream.getvalue().splitlines()
        event = json.loads(line)

        assert "object at 0x" not in line
        assert "retrying" == event["event"]
        assert "ConnectionError: connection reset by peer" == event["error"]

    def test_a_python_warning_is_one_json_event(self):
        """warnings.warn in a process that set up logging: one JSON line, no source line."""
        code = (
            "import warnings\n"
            "from ecrd.logs import configure_logging\n"
            "configure_logging(level='warning', log_format='json')\n"
            "warnings.warn('an old API', UserWarning, stacklevel=1)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )

        (line,) = done.stderr.splitlines()
        event = json.loads(line)

        assert "py.warnings" == event["logger"]
        assert event["event"].endswith("UserWarning: an old API")
