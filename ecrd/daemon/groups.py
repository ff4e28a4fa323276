"""When a group is refreshed next: pure functions of expiry, policy, time and chance."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime, timedelta

    from ecrd.config.model import RefreshPolicy

# Each retry delay is shortened at random by up to this share, so a fleet does not retry in step.
RETRY_SPREAD = 0.2


def next_refresh(
    *,
    expires_at: datetime,
    policy: RefreshPolicy,
    refreshed_at: datetime,
    rand: Callable[[], float],
) -> datetime:
    """The next refresh after a success: ``before_expiry`` ahead of expiry, less some jitter.

    Never sooner than ``min_interval`` after ``refreshed_at``, so an expiry in the past, a
    token shorter-lived than ``before_expiry`` or a skewed clock cannot cause a tight loop.
    """
    target = expires_at - policy.before_expiry - policy.jitter * rand()
    return max(target, refreshed_at + policy.min_interval)


def retry_delay(*, failures: int, policy: RefreshPolicy, rand: Callable[[], float]) -> timedelta:
    """The wait after the ``failures``-th failure in a row (1 for the first).

    ``retry_initial``, doubling up to ``retry_max``, each shortened by up to 20 % at random.
    """
    exponent = min(max(failures, 1) - 1, 32)  # 2**32 times any initial delay exceeds any max
    base: timedelta = min(policy.retry_initial * (1 << exponent), policy.retry_max)
    return base * (1 - RETRY_SPREAD * rand())
