"""When a group is refreshed next: pure functions of expiry, policy, time and chance.

What the state file records per host (expiry, last refresh, last error) stays there; a
``GroupRun`` holds only what the daemon needs between two attempts and the state does not
keep: the credentials in memory (to write a new output without a call), the failures in a
row, and whether a person has to log in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from ecrd.errors import NEEDS_LOGIN

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime

    from ecrd.config.model import Config, GroupKey, RefreshPolicy
    from ecrd.errors import TokenError
    from ecrd.secret import Credentials
    from ecrd.state import State

# Each retry delay is shortened at random by up to this share, so a fleet does not retry in step.
RETRY_SPREAD = 0.2
# After throttling, the delay is drawn from [THROTTLE_FLOOR, delay], the delay capped here:
# a fleet restarted without state then drains through ECR's rate limit instead of in waves.
THROTTLE_CAP = timedelta(seconds=60)
THROTTLE_FLOOR = timedelta(seconds=1)
# A login that needs a person is retried this rarely (the SSO cache watch brings it sooner).
_LOGIN_FAILURES = 64


@dataclass(frozen=True)
class GroupRun:
    """What the daemon keeps of one group between attempts."""

    credentials: tuple[Credentials, ...] | None = None
    refreshed_at: datetime | None = None
    failures: int = 0
    needs_login: bool = False
    next_at: datetime | None = None


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


def retry_delay(
    *, failures: int, policy: RefreshPolicy, rand: Callable[[], float], throttled: bool = False
) -> timedelta:
    """The wait after the ``failures``-th failure in a row (1 for the first).

    ``retry_initial``, doubling up to ``retry_max``, each shortened by up to 20 % at random.
    After throttling: uniform between 1 s and that delay capped at 60 s ("full jitter").
    """
    exponent = min(max(failures, 1) - 1, 32)  # 2**32 times any initial delay exceeds any max
    base: timedelta = min(policy.retry_initial * (1 << exponent), policy.retry_max)
    if throttled:
        cap = min(base, THROTTLE_CAP)
        if cap <= THROTTLE_FLOOR:
            return cap
        return THROTTLE_FLOOR + (cap - THROTTLE_FLOOR) * rand()
    return base * (1 - RETRY_SPREAD * rand())


def after_success(
    *,
    credentials: Sequence[Credentials],
    now: datetime,
    policy: RefreshPolicy,
    rand: Callable[[], float],
) -> GroupRun:
    """The run after a written refresh: scheduled ahead of the earliest expiry."""
    at = next_refresh(
        expires_at=min(c.expires_at for c in credentials),
        policy=policy,
        refreshed_at=now,
        rand=rand,
    )
    return GroupRun(credentials=tuple(credentials), refreshed_at=now, next_at=at)


def after_failure(
    run: GroupRun,
    *,
    error: TokenError | None,
    now: datetime,
    policy: RefreshPolicy,
    rand: Callable[[], float],
) -> GroupRun:
    """The run after a failed fetch (``error``) or a round that could not be written (None)."""
    failures = run.failures + 1
    needs_login = error is not None and error.code == NEEDS_LOGIN
    delay = retry_delay(
        failures=_LOGIN_FAILURES if needs_login else failures,
        policy=policy,
        rand=rand,
        throttled=error is not None and error.throttled,
    )
    return dataclasses.replace(run, failures=failures, needs_login=needs_login, next_at=now + delay)


def rescheduled(
    run: GroupRun, *, policy: RefreshPolicy, rand: Callable[[], float]
) -> GroupRun | None:
    """A healthy run under a new policy, or None when it has nothing to go by."""
    if run.failures or run.credentials is None or run.refreshed_at is None:
        return None
    return after_success(
        credentials=run.credentials, now=run.refreshed_at, policy=policy, rand=rand
    )


def restored(
    *,
    config: Config,
    state: State | None,
    tokens: Mapping[str, datetime],
    now: datetime,
    rand: Callable[[], float],
) -> dict[GroupKey, GroupRun]:
    """The groups whose recorded tokens are fresh and written everywhere, with their next time.

    Everywhere is every output of the state and the tokens file (``tokens``: each host's
    expiry as that file holds it), which the consumers read: a host missing there (a file
    an older ecrd wrote, or lost) would go unanswered until the next refresh. The other
    groups are due at once.
    """
    if state is None:
        return {}
    paths = {str(o.path) for o in config.outputs}
    runs: dict[GroupKey, GroupRun] = {}
    for group in config.groups():
        if not all((at := tokens.get(h)) is not None and at > now for h in group.hosts):
            continue
        hosts = [state.hosts.get(h) for h in group.hosts]
        fresh = [
            h
            for h in hosts
            if h is not None
            and h.expires_at is not None
            and h.refreshed_at is not None
            and h.expires_at > now
            and h.last_error is None
            and paths <= set(h.outputs)
        ]
        if not hosts or len(fresh) != len(hosts):
            continue
        refreshed_at = min(h.refreshed_at for h in fresh if h.refreshed_at)
        expires_at = min(h.expires_at for h in fresh if h.expires_at)
        at = next_refresh(
            expires_at=expires_at, policy=config.refresh, refreshed_at=refreshed_at, rand=rand
        )
        runs[group.key] = GroupRun(refreshed_at=refreshed_at, next_at=at)
    return runs


def schedule(config: Config, runs: Mapping[GroupKey, GroupRun]) -> dict[str, datetime | None]:
    """Each configured host's next refresh, for the state (``ecrd status``)."""
    return {
        host: run.next_at if (run := runs.get(g.key)) else None
        for g in config.groups()
        for host in g.hosts
    }


def summary(config: Config, runs: Mapping[GroupKey, GroupRun]) -> str:
    """One line for `systemctl status`: hosts, groups, the failing ones, the next refresh."""
    groups = config.groups()
    failing = [k.name for k, r in runs.items() if r.failures]
    upcoming = [r.next_at for r in runs.values() if r.next_at]
    line = f"{sum(len(g.hosts) for g in groups)} hosts in {len(groups)} groups"
    if failing:
        line += f", {len(failing)} failing ({', '.join(failing)})"
    if upcoming:
        line += f", next refresh {min(upcoming):%Y-%m-%d %H:%M:%S}Z"
    return line
