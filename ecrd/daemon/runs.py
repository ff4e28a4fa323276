"""What the daemon keeps of each group between attempts, and when its job runs next.

The times themselves are computed by ``groups`` (pure); this holds the runs, hands each
next time to the group's job, and records the schedule in the state for ``ecrd status``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ecrd.daemon.groups import (
    GroupRun,
    after_failure,
    after_success,
    rescheduled,
    restored,
    schedule,
    summary,
)
from ecrd.errors import EcrdError, TokenError
from ecrd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from ecrd.config.model import Config, Group, GroupKey, RefreshPolicy
    from ecrd.daemon.jobs import Jobs
    from ecrd.daemon.reports import Reports
    from ecrd.refresh_round import RoundResult
    from ecrd.secret import Credentials
    from ecrd.state import StateStore
    from ecrd.state_model import State

log = get_logger("ecrd")


class Runs:
    """Each group's run (credentials, failures, next attempt); called under the rounds' lock."""

    def __init__(
        self,
        *,
        jobs: Jobs,
        store: StateStore,
        reports: Reports,
        clock: Callable[[], datetime],
        rand: Callable[[], float],
    ) -> None:
        self._jobs = jobs
        self._store = store
        self._reports = reports
        self._clock = clock
        self._rand = rand
        self._runs: dict[GroupKey, GroupRun] = {}

    def restore(self, *, config: Config, state: State | None) -> None:
        """The runs of the groups whose recorded tokens are fresh and written everywhere.

        Everywhere includes the tokens file, which the consumers read.
        """
        self._runs = restored(
            config=config,
            state=state,
            tokens=self._store.tokens.expiries(),
            now=self._clock(),
            rand=self._rand,
        )

    def get(self, key: GroupKey) -> GroupRun | None:
        """``key``'s run, None when the group has none yet."""
        return self._runs.get(key)

    def snapshot(self) -> dict[GroupKey, GroupRun]:
        """Every run, now."""
        return dict(self._runs)

    def remove(self, key: GroupKey) -> None:
        """Forget ``key``'s run and job (the group left the configuration)."""
        self._runs.pop(key, None)
        self._jobs.remove(key)

    def credentials(self, key: GroupKey) -> tuple[Credentials, ...] | None:
        """The credentials ``key`` last fetched, None when it has none."""
        run = self._runs.get(key)
        return None if run is None else run.credentials

    def after(
        self,
        group: Group,
        fetched: Sequence[Credentials] | TokenError,
        result: RoundResult | None,
        *,
        policy: RefreshPolicy,
    ) -> None:
        """A round with ``group`` was written (``result``) or failed: its next attempt."""
        run = self._runs.get(group.key, GroupRun())
        now = self._clock()
        if isinstance(fetched, TokenError) or result is None:
            error = fetched if isinstance(fetched, TokenError) else None
            new = after_failure(run, error=error, now=now, policy=policy, rand=self._rand)
            if new.needs_login and not run.needs_login:
                # Retrying cannot help until a person logs in: the SSO cache watch (or
                # retry_max, for other kinds of login) brings the next try.
                self._reports.login_needed(group, error)
        else:
            if run.needs_login:
                self._reports.login_restored(group)
            new = after_success(credentials=fetched, now=now, policy=policy, rand=self._rand)
        self._runs[group.key] = new
        self.schedule(group, new.next_at or now)

    def reschedule(self, group: Group, *, policy: RefreshPolicy, busy: bool) -> None:
        """A healthy ``group``'s next time under a new ``policy``, unless ``busy`` (in flight)."""
        run = self._runs.get(group.key)
        again = None if run is None else rescheduled(run, policy=policy, rand=self._rand)
        if again is not None and not busy:
            self._runs[group.key] = again
            self.schedule(group, again.next_at or self._clock())

    def schedule(
        self, group: Group, at: datetime, *, restored: bool = False, dispatch: bool = True
    ) -> None:
        """``group``'s next attempt at ``at``; ``dispatch`` hands it to its job."""
        run = self._runs.get(group.key, GroupRun())
        self._runs[group.key] = dataclasses.replace(run, next_at=at)
        if dispatch:
            self._jobs.schedule(group.key, at)
        log.info(
            "refresh_scheduled",
            group=group.name,
            hosts=list(group.hosts),
            at=at.isoformat(),
            restored=restored,
        )

    def record(self, config: Config) -> None:
        """Each host's next refresh into the state, for ``ecrd status``."""
        try:
            self._store.record_schedule(next_refresh=schedule(config, self._runs))
        except EcrdError as exc:
            log.error("state_failed", error=str(exc))

    def summary(self, config: Config) -> str:
        """One line for `systemctl status`."""
        return summary(config, self._runs)
