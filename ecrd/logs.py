"""Log events: structlog, as JSON lines for journald and launchd, a console format on a TTY.

structlog is loaded at the first event that passes the level, not with this module nor at
set-up: its import is a noticeable share of a short command's start (it brings its stdlib
integration and asyncio along), which a healthy ``ecrd refresh`` or ``ecrd run --log-level warning`` never needs,
and ``ecrd --version`` and ``check-config`` never log. ``get_logger`` gives the loggers the
modules hold; ``configure_logging`` sets the level at once and structlog's processors at
that first event.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
from typing import TYPE_CHECKING, Any, Literal, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable, MutableMapping

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

# Before any set-up every event passes, to structlog's defaults (as structlog.get_logger's).
_threshold = logging.NOTSET
_pending: Callable[[], None] | None = None  # structlog's configuration, until the first event
_load_lock = threading.Lock()


class Logger:
    """A structlog logger that loads structlog only for an event that passes the level."""

    __slots__ = ("_name",)

    def __init__(self, name: str | None = None) -> None:
        self._name = name

    def debug(self, event: str, **fields: Any) -> None:  # noqa: ANN401 - any event value
        """Log ``event`` at debug level."""
        self._emit(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:  # noqa: ANN401
        """Log ``event`` at info level."""
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:  # noqa: ANN401
        """Log ``event`` at warning level."""
        self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:  # noqa: ANN401
        """Log ``event`` at error level."""
        self._emit(logging.ERROR, "error", event, fields)

    def exception(self, event: str, **fields: Any) -> None:  # noqa: ANN401
        """Log ``event`` at error level with the exception being handled."""
        self._emit(logging.ERROR, "exception", event, fields)

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if level < _threshold:
            return
        structlog = _structlog()
        logger = structlog.get_logger() if self._name is None else structlog.get_logger(self._name)
        getattr(logger, method)(event, **fields)


def get_logger(name: str | None = None) -> Logger:
    """The logger a module keeps; structlog loads at its first event that is shown."""
    return Logger(name)


def _structlog() -> Any:  # noqa: ANN401 - the structlog module
    global _pending
    import structlog  # noqa: PLC0415 -- see the module's docstring

    with _load_lock:
        pending, _pending = _pending, None
        if pending is not None:
            pending()
    return structlog


def redact(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask values under keys that name a secret; a safety net, not the plan."""
    for key in list(event_dict):
        if key != "event" and _SECRET_KEY.search(key) and event_dict[key] is not None:
            event_dict[key] = _MASK
    return event_dict


def configure_logging(
    *,
    level: str = "info",
    log_format: LogFormat | None = None,
    stream: TextIO | None = None,
    lazy: bool = True,
) -> None:
    """Send log events to ``stream`` (stderr), as JSON lines unless it is a TTY.

    ``lazy=False`` configures structlog now (for a caller that changes it further).
    """
    global _threshold, _pending  # noqa: PLW0603 - the one set-up of the process
    stream = sys.stderr if stream is None else stream
    if log_format is None:
        log_format = "console" if stream.isatty() else "json"
    threshold = LEVELS[level.lower()]
    colors = log_format == "console" and stream.isatty()
    with _load_lock:
        _threshold = threshold
        _pending = functools.partial(
            _configure_structlog,
            stream=stream,
            log_format=log_format,
            colors=colors,
            level=threshold,
        )
    # botocore logs request bodies and headers at debug level: keep it quieter than ours.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    _route_library_logs(stream, log_format=log_format, colors=colors, level=threshold)
    if not lazy:
        _structlog()


def reset_logging() -> None:
    """Forget the set-up: events go to structlog's defaults again (a test's fresh start)."""
    global _threshold, _pending
    with _load_lock:
        _threshold, _pending = logging.NOTSET, None
    logging.captureWarnings(False)  # noqa: FBT003 - the standard library's signature


def _renderer(log_format: LogFormat, *, colors: bool) -> Processor:
    import structlog  # noqa: PLC0415 -- see the module's docstring

    if log_format == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=colors)


def _configure_structlog(
    *, stream: TextIO, log_format: LogFormat, colors: bool, level: int
) -> None:
    import structlog  # noqa: PLC0415 -- see the module's docstring

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            _renderer(log_format, colors=colors),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # One write per event (PrintLogger writes the newline apart): events from several
        # threads, and the library logs beside them, never run into one line.
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


class _LibraryLogs(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler ecrd installs (a second set-up replaces it); formats like structlog.

    Its formatter, structlog's, is built at the first record shown.
    """

    def __init__(self, stream: TextIO, *, log_format: LogFormat, colors: bool) -> None:
        super().__init__(stream)
        self._log_format: LogFormat = log_format
        self._colors = colors

    def format(self, record: logging.LogRecord) -> str:
        """The record as a structlog event line."""
        if self.formatter is None:
            self.setFormatter(_library_formatter(self._log_format, colors=self._colors))
        return super().format(record)


def _route_library_logs(stream: TextIO, *, log_format: LogFormat, colors: bool, level: int) -> None:
    """Libraries' warnings (urllib3, botocore, watchdog) as events in the same format.

    Without it they reach stderr through logging's last resort, as plain text among the JSON
    lines that journald and launchd collect. ecrd's own stdlib loggers (``ecrd.*``, the
    emulator's request log) follow ``level``, as its structlog events do.
    """
    handler = _LibraryLogs(stream, log_format=log_format, colors=colors)
    handler.addFilter(
        lambda record: (
            record.levelno >= (level if record.name.startswith("ecrd") else logging.WARNING)
        )
    )
    logging.getLogger("ecrd").setLevel(level)
    # Python's warnings (a library's DeprecationWarning ...) as events too, not raw text.
    logging.captureWarnings(True)  # noqa: FBT003 - the standard library's signature
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _LibraryLogs)]:
        root.removeHandler(old)
    root.addHandler(handler)


def _library_formatter(log_format: LogFormat, *, colors: bool) -> logging.Formatter:
    import structlog  # noqa: PLC0415 -- see the module's docstring

    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _plain_library_record,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact,
            _renderer(log_format, colors=colors),
        ],
    )


def _plain_library_record(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A library's record in words: its exception as one ``error`` line, a warning as one line.

    A record logged with ``exc_info`` would otherwise render the exception tuple's repr
    (``<traceback object at 0x...>``); a captured Python warning holds the source line too.
    """
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    error = exc_info[1] if isinstance(exc_info, tuple) else exc_info
    if isinstance(error, BaseException):
        event_dict["error"] = f"{type(error).__name__}: {' '.join(str(error).split())}"
    event = event_dict.get("event")
    if isinstance(event, str) and "\n" in event:
        event_dict["event"] = event.strip().splitlines()[0]
    return event_dict
