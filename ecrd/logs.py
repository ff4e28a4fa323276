"""structlog set-up: JSON lines for journald and launchd, a console format on a TTY.

structlog is imported when logging is set up, not with this module: importing it costs
tens of milliseconds (it brings its stdlib integration and asyncio along), which
``ecrd --version`` and ``ecrd check-config`` do not pay.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING, Any, Literal, TextIO

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from structlog.typing import Processor

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
    import structlog  # noqa: PLC0415 -- see the module's docstring

    stream = sys.stderr if stream is None else stream
    if log_format is None:
        log_format = "console" if stream.isatty() else "json"
    renderer: Processor = (
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
        # One write per event (PrintLogger writes the newline apart): events from several
        # threads, and the library logs beside them, never run into one line.
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # botocore logs request bodies and headers at debug level: keep it quieter than ours.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    _route_library_logs(stream, renderer, level=LEVELS[level.lower()])


class _LibraryLogs(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the root handler ecrd installed, so that a second set-up replaces it."""


def _route_library_logs(stream: TextIO, renderer: Processor, *, level: int) -> None:
    """Libraries' warnings (urllib3, botocore, watchdog) as events in the same format.

    Without it they reach stderr through logging's last resort, as plain text among the JSON
    lines that journald and launchd collect. ecrd's own stdlib loggers (``ecrd.*``, the
    emulator's request log) follow ``level``, as its structlog events do.
    """
    import structlog  # noqa: PLC0415 -- see the module's docstring

    handler = _LibraryLogs(stream)
    handler.addFilter(
        lambda record: (
            record.levelno >= (level if record.name.startswith("ecrd") else logging.WARNING)
        )
    )
    logging.getLogger("ecrd").setLevel(level)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _LibraryLogs)]:
        root.removeHandler(old)
    root.addHandler(handler)
