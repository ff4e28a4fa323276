"""APScheduler's own warnings reach the log as structlog events, through ecrd.logs."""

from __future__ import annotations

import io
import json
import logging

import structlog

from ecrd.logs import configure_logging


def test_a_scheduler_warning_is_a_json_event():
    """A skipped run, as APScheduler logs it, comes out as one JSON line with its level."""
    stream = io.StringIO()
    configure_logging(level="info", log_format="json", stream=stream)
    try:
        logging.getLogger("apscheduler.scheduler").warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
            "ecr:us-west-2",
            1,
        )
        logging.getLogger("apscheduler.executors.groups").info("Running job")  # below WARNING
    finally:
        structlog.reset_defaults()

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert 1 == len(lines)
    assert "warning" == lines[0]["level"]
    assert "apscheduler.scheduler" == lines[0]["logger"]
    assert "skipped: maximum number of running instances" in lines[0]["event"]
