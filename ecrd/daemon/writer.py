"""The daemon's write of one round, and what follows it for each group written.

A round is written for the groups fetched that are still configured (a reload may have
changed or removed a group while it was fetched), as they are configured now. Each group
written then gets its next attempt: ahead of expiry, after a failure with backoff, or at
once when a reload changed it while it was fetched. The schedule is recorded for
`ecrd status`, and the groups waiting to be gathered into a round are woken.

A round whose state could not be saved (a full file system) leaves the state and the tokens
file behind the outputs: the next round then writes every group whose login is held, not
only its own, so that no host waits for its own group's next refresh (hours away) to be
back in `ecrd status` and in what `docker-credential-ecrd` and the kubelet provider read. Both the jobs'
rounds (``Rounds.attempt``) and `ecrd refresh` beside the daemon (``Rounds.refresh_now``)
write through here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecrd.errors import EcrdError
from ecrd.logs import get_logger
from ecrd.problems import STATE_FAILED
from ecrd.refresh_round import RoundResult, apply_round

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from datetime import datetime

    from ecrd.config.model import Config, Group, GroupKey
    from ecrd.daemon.gathering import Fetched, Gathering
    from ecrd.daemon.reports import Reports
    from ecrd.daemon.runs import Runs
    from ecrd.state import StateStore

log = get_logger("ecrd")


def still_configured(
    *, config: Config, fetched: Mapping[GroupKey, tuple[Group, Fetched]]
) -> dict[GroupKey, Group]:
    """The groups of ``fetched`` that ``config`` still holds, as it holds them now."""
    current = {group.key: group for group in config.groups()}
    return {key: current[key] for key in fetched if key in current}


class RoundWriter:
    """Writes the daemon's rounds; every method is called under the rounds' lock."""

    def __init__(
        self,
        *,
        store: StateStore,
        runs: Runs,
        reports: Reports,
        gathering: Gathering,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._runs = runs
        self._reports = reports
        self._gathering = gathering
        self._clock = clock
        self._state_behind = False  # the last round's state was not saved

    def write_fetched(
        self,
        *,
        config: Config,
        live: Mapping[GroupKey, Group],
        fetched: Mapping[GroupKey, tuple[Group, Fetched]],
    ) -> RoundResult | None:
        """One round for ``live`` (see ``still_configured``), then each group's next attempt.

        ``fetched`` holds, per group, the group as it was when its fetch began and what the
        fetch gave. ``None`` when the round could not be written (logged ``round_failed``):
        each group is then retried as after a failure.
        """
        result = self.write(
            config=config,
            groups=list(live.values()),
            fetched={key: fetched[key][1] for key in live},
            fresh=list(live),
        )
        for key, group in live.items():
            self._runs.after(group, fetched[key][1], result, policy=config.refresh)
            # Changed by a reload while fetched: what was written came from the old group.
            if group != fetched[key][0] or self._gathering.refetch(key):
                self._runs.schedule(group, self._clock())
        self._runs.record(config)
        self._gathering.wake()
        return result

    def write(
        self,
        *,
        config: Config,
        groups: Sequence[Group],
        fetched: Mapping[GroupKey, Fetched],
        fresh: Iterable[GroupKey],
    ) -> RoundResult | None:
        """One round of ``groups`` (``fresh``: those just fetched); None when not written."""
        if self._state_behind:
            groups, fetched = self._with_held(config, groups, fetched)
        self._state_behind = True  # until a round says its state was saved
        try:
            result = apply_round(
                config=config,
                store=self._store,
                groups=groups,
                fetched=fetched,
                fresh=list(fresh),
                now=self._clock(),
            )
        except EcrdError as exc:
            log.error("round_failed", error=str(exc))
            return None
        except Exception:  # a bug, with its traceback: the group is retried, not dropped
            log.exception("round_failed")
            return None
        self._state_behind = any(p.code == STATE_FAILED for p in result.problems)
        self._reports.round_written(config, result)
        return result

    def _with_held(
        self, config: Config, groups: Sequence[Group], fetched: Mapping[GroupKey, Fetched]
    ) -> tuple[list[Group], dict[GroupKey, Fetched]]:
        """``groups`` and every other configured group whose login is held, with it."""
        groups, fetched = list(groups), dict(fetched)
        for group in config.groups():
            held = self._runs.credentials(group.key)
            if group.key not in fetched and held is not None:
                groups.append(group)
                fetched[group.key] = held
        return groups, fetched
