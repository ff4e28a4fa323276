"""What a new configuration changes: the groups to fetch, to drop, to reschedule, to rewrite.

Pure: the daemon applies the plan (``Rounds.apply_plan``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ecrd.config.model import Config, Group, GroupKey
    from ecrd.daemon.groups import GroupRun


@dataclass(frozen=True)
class ReloadPlan:
    """The difference between two configurations, as work for the daemon."""

    fetch: tuple[Group, ...]  # new or changed, or needed by a new output: fetched at once
    removed: tuple[GroupKey, ...]  # gone: unscheduled, forgotten
    reschedule: tuple[Group, ...]  # unchanged, under a new refresh policy
    rewrite: bool  # outputs changed or hosts left: write from memory at once, without a call

    @property
    def summary(self) -> dict[str, list[str]]:
        """For the ``config_reloaded`` event."""
        return {
            "refreshed": [g.name for g in self.fetch],
            "removed": [k.name for k in self.removed],
        }


def plan_reload(*, old: Config, new: Config, runs: Mapping[GroupKey, GroupRun]) -> ReloadPlan:
    """What to do to go from ``old`` to ``new``, knowing what each group holds in memory."""
    before = {g.key: g for g in old.groups()}
    after = new.groups()
    fetch = [g for g in after if before.get(g.key) != g]
    keys = {g.key for g in after}
    removed = tuple(k for k in before if k not in keys)
    outputs_added = {o.path for o in new.outputs} - {o.path for o in old.outputs}
    if outputs_added:
        # A new output needs every group's credentials; those not in memory are fetched.
        fetch += [
            g
            for g in after
            if g not in fetch and (g.key not in runs or runs[g.key].credentials is None)
        ]
    reschedule = tuple(g for g in after if g not in fetch) if old.refresh != new.refresh else ()
    hosts_left = {h for g in old.groups() for h in g.hosts} - {h for g in after for h in g.hosts}
    return ReloadPlan(
        fetch=tuple(fetch),
        removed=removed,
        reschedule=reschedule,
        rewrite=old.outputs != new.outputs or bool(hosts_left),
    )
