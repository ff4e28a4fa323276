"""``--debug``: the request and response flow on stderr, as the AWS CLI logs it, tokens masked.

The AWS CLI's ``--debug`` turns on botocore's and urllib3's debug logs, which show the
response body with the ``authorizationToken`` in it. ecrd shows the same flow but masks
every token: the value of ``authorizationToken``, session tokens, and any long base64 run.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import TextIO

LOG_FORMAT: Final = "%(asctime)s - %(threadName)s - %(name)s - %(levelname)s - %(message)s"
LOGGER: Final = "ecrd.awscli"
_LOGGERS: Final = (LOGGER, "botocore", "urllib3")
_MASK: Final = "***"
_SECRETS: Final = (
    # "authorizationToken": "...", in JSON bodies and Python reprs alike
    re.compile(r"""(["']authorizationToken["']\s*:\s*b?["'])[^"']*"""),
    # the session token of temporary credentials, in headers and canonical requests
    re.compile(r"""(x-amz-security-token["']?\s*[:=]\s*b?["']?)[^\s"',}]+""", re.IGNORECASE),
    re.compile(r"""(aws_session_token["']?\s*[:=]\s*["']?)[^\s"',}]+""", re.IGNORECASE),
)
# A safety net: ECR tokens and passwords are base64 runs of 2 KB and more.
_LONG_BASE64: Final = re.compile(r"[A-Za-z0-9+/]{200,}={0,2}")


def mask(text: str) -> str:
    """Return ``text`` with every token and password replaced by ``***``."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + _MASK, text)
    return _LONG_BASE64.sub(_MASK, text)


class _MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


@contextmanager
def debug_logging(*, enabled: bool, stream: TextIO) -> Iterator[None]:
    """While active, log ecrd's, botocore's and urllib3's debug records to ``stream``, masked.

    The loggers stop propagating meanwhile, so that no other handler sees an unmasked record;
    everything is put back on exit.
    """
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_MaskingFormatter(LOG_FORMAT))
    saved = []
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
        handler.flush()
