"""One group's fetch, bounded: the daemon stops waiting at ``attempt_timeout``, whatever happens.

The token source promises to give up within ``attempt_timeout`` (it kills a hung
credential_process, its sockets time out); this is the daemon's own bound on top of it, for
what no timeout reaches (a C call that never returns). The fetch runs on a ``DaemonPool``
worker, and the group's job waits for it at most that long. A group whose abandoned fetch
has not ended yet is not fetched again until it has: a stuck identity holds at most one
worker, so it can never starve the other groups' fetches.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING

from ecrd.daemon.pool import DaemonPool, PoolStoppedError
from ecrd.errors import TokenError
from ecrd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from ecrd.config.model import Group, GroupKey
    from ecrd.secret import Credentials
    from ecrd.tokens.source import TokenSource

log = get_logger("ecrd")


class Fetcher:
    """Fetches groups' credentials from ``source`` on a pool of daemon threads."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source
        self._pool = DaemonPool(size=1, name="ecrd-fetch")
        self._lock = threading.Lock()
        self._abandoned: dict[GroupKey, Future[Sequence[Credentials]]] = {}

    def resize(self, groups: int) -> None:
        """One worker per group, plus one for an abandoned fetch not ended yet."""
        self._pool.resize(groups + 1)

    def fetch(
        self, group: Group, *, timeout: timedelta
    ) -> Sequence[Credentials] | TokenError | None:
        """The group's credentials, or the TokenError; None when the daemon stopped first."""
        seconds = timeout.total_seconds()
        with self._lock:
            stuck = self._abandoned.get(group.key)
            if stuck is not None and not stuck.done():
                return TokenError(
                    f"group {group.name}: the previous attempt, given up after {seconds:g} s,"
                    " has not ended yet",
                    code="AttemptTimeout",
                )
            self._abandoned.pop(group.key, None)
        try:
            future = self._pool.submit(self._source.fetch, group)
        except RuntimeError as exc:  # no thread for it (or stopping): retried with backoff
            return TokenError(f"group {group.name}: cannot start the fetch: {exc}", code="NoThread")
        return self._wait(group, future, seconds)

    def stop(self) -> None:
        """Wake every waiting job with None; fetches in flight are abandoned."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _wait(
        self, group: Group, future: Future[Sequence[Credentials]], seconds: float
    ) -> Sequence[Credentials] | TokenError | None:
        try:
            return future.result(timeout=seconds)
        except FutureTimeout:
            with self._lock:
                self._abandoned[group.key] = future
            return TokenError(
                f"group {group.name}: gave up after {seconds:g} s waiting for the credentials"
                " and ECR's answer",
                code="AttemptTimeout",
            )
        except PoolStoppedError:
            return None
        except TokenError as exc:
            return exc
        except Exception as exc:  # a bug: retried with backoff, not fatal to the group
            log.exception("refresh_crashed", group=group.name, hosts=list(group.hosts))
            msg = f"group {group.name}: internal error ({type(exc).__name__}); see the log"
            return TokenError(msg, code="InternalError")
