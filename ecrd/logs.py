"""structlog set-up: JSON lines for journald and launchd, a console format on a TTY."""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING, Any, Literal, TextIO

import structlog

if TYPE_CHECKING:
    from collections.abc import MutableMapping

LogFormat = Literal["json", "console"]
_SECRET_KEY = re.compile(r"password|passwd|secret|token|auth|credential", re.IGNORECASE)
_MASK = "***"
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def redact(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask values under keys that name a secret; a safety net, not the plan."""
    for key in list(event_dict):
        if key != "event" and _SECRET_KEY.search(key) and event_dict[key] is not None:
            event_dict[key] = _MASK
    return event_dict


def configure_logging(
    *, level: str = "info", log_format: LogFormat | None = None, stream: TextIO | None = None
) -> None:
    """Send structlog events to ``stream`` (stderr), as JSON lines unless it is a TTY."""
    stream = sys.stderr if stream is None else stream
    if log_format is None:
        log_format = "console" if stream.isatty() else "json"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level.lower()]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # botocore logs request bodies and headers at debug level: keep it quieter than ours.
    logging.getLogger("botocore").setLevel(logging.WARNING)
