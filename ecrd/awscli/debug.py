"""``--debug``: the request and response flow on stderr, as the AWS CLI logs it, tokens masked.

The AWS CLI's ``--debug`` turns on botocore's and urllib3's debug logs, which show every
body and header: the ``authorizationToken``, STS's and SSO's secret keys and session
tokens, request signatures. ecrd shows the same flow with every secret masked.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

from ecrd.ecr.masking import mask

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import TextIO

LOG_FORMAT: Final = "%(asctime)s - %(threadName)s - %(name)s - %(levelname)s - %(message)s"
LOGGER: Final = "ecrd.awscli"
_LOGGERS: Final = (LOGGER, "botocore", "urllib3")


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
