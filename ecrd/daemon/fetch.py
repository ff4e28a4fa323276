"""One group's fetch in the daemon: one attempt, one deadline, given up for good at it.

The fetch runs on a ``DaemonPool`` worker under an ``Attempt`` whose deadline is the
configuration's ``attempt_timeout`` as it is when the attempt starts (a reload changes the
next one). The token source works under that attempt: its requests' timeouts and its
credential processes follow the same deadline, and nothing of it goes on past it. At the
deadline the group's job stops waiting and the attempt is given up (its processes killed,
its sockets timing out with it): the group's retry goes out on the retry schedule, never
held back by the abandoned attempt.
"""

from __future__ import annotations

from concurrent.futures import Future, wait
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ecrd.daemon.pool import DaemonPool, PoolStoppedError
from ecrd.ecr.deadline import Attempt, GaveUp
from ecrd.errors import TokenError
from ecrd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from ecrd.config.model import Group
    from ecrd.ecr.source import TokenSource
    from ecrd.secret import Credentials

log = get_logger("ecrd")


@runtime_checkable
class Forgetting(Protocol):
    """A token source that holds something per group (sessions, clients)."""

    def forget(self, *, keep: Sequence[Group]) -> None:
        """Release what is held for every group not in ``keep``."""
        ...


class Fetcher:
    """Fetches groups' credentials from ``source`` on a pool of daemon threads."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source
        self._pool = DaemonPool(size=1, name="ecrd-fetch")

    def resize(self, groups: int) -> None:
        """One worker per group, and as many for abandoned attempts still ending."""
        self._pool.resize(2 * groups + 1)

    def forget(self, *, keep: Sequence[Group]) -> None:
        """Have the source release what it holds for groups not in ``keep`` (a reload)."""
        if isinstance(self._source, Forgetting):
            self._source.forget(keep=keep)

    def fetch(
        self, group: Group, *, timeout: timedelta
    ) -> Sequence[Credentials] | TokenError | None:
        """The group's credentials, or the TokenError; None when the daemon stopped first."""
        attempt = Attempt(
            timeout=timeout.total_seconds(),
            waiting_for="the credentials and ECR's answer took too long",
        )
        try:
            future = self._pool.submit(attempt.run, lambda: self._source.fetch(group))
        except RuntimeError as exc:  # no thread for it (or stopping): retried with backoff
            return TokenError(f"group {group.name}: cannot start the fetch: {exc}", code="NoThread")
        return _outcome(group, future, attempt)

    def stop(self) -> None:
        """Wake every waiting job with None; fetches in flight are abandoned."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _outcome(
    group: Group, future: Future[Sequence[Credentials]], attempt: Attempt
) -> Sequence[Credentials] | TokenError | None:
    """What the fetch gave by the attempt's deadline; the attempt is given up past it."""
    if not attempt.wait(lambda seconds: bool(wait([future], timeout=seconds).done)):
        attempt.give_up()
        return TokenError(f"group {group.name}: {attempt.gave_up()}", code="Timeout")
    try:
        return future.result()
    except GaveUp as exc:  # a worker came after the deadline: the work never started
        return TokenError(f"group {group.name}: {exc}", code="Timeout")
    except PoolStoppedError:
        return None
    except TokenError as exc:
        return exc
    except Exception as exc:  # a bug: retried with backoff, not fatal to the group
        log.exception("refresh_crashed", group=group.name, hosts=list(group.hosts))
        msg = f"group {group.name}: internal error ({type(exc).__name__}); see the log"
        return TokenError(msg, code="InternalError")
