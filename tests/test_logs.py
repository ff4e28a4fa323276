"""Log set-up: JSON lines off a TTY, libraries' warnings included, secrets masked."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from ecrd.logs import configure_logging


class TestConfigureLogging:
    def test_events_are_json_lines_with_secret_keys_masked(self):
        """An event off a TTY is one JSON line; a value under a password key is masked."""
        stream = io.StringIO()
        configure_logging(log_format=None, stream=stream)

        structlog.get_logger("ecrd").info("token_refreshed", host="h", password="hunter2")

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


@pytest.mark.xdist_group("structlog-reset")  # the two tests run in order, in one process
class TestReset:
    def test_a_test_configures_logging(self):
        """A test may leave structlog writing JSON into a stream it owns (see the next)."""
        configure_logging(log_format="json", level="error", stream=io.StringIO())

        assert structlog.is_configured()

    def test_the_next_test_starts_from_structlogs_defaults(self):
        """The autouse reset in conftest undoes any configuration a test left behind."""
        assert not structlog.is_configured()
        assert not [h for h in logging.getLogger().handlers if type(h).__name__ == "_LibraryLogs"]
