"""The owner's decision for a `tick` (spec §15.1): re-evaluate its one check at T' and record what it moved."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from storage.changes import ActivityRecord, StatusChange
from streams.core.decide import Decision, activity_id
from streams.core.group_state import KeyState
from streams.core.grouping import Outcome
from streams.core.timers import CHECKS, SOURCES, TickRules, apply_tick


def decide_tick(state: KeyState, *, check: str, tick_id: str, group_key: str, offset: int, t: float,
                rules: TickRules, forecast: Sequence[int] | None = None) -> Decision:
    """A tick is idempotent (spec §15.1.2): a check that no longer holds at T' changes nothing of the group and
    records nothing (outcome `noop`). A transition is sent to the sink like a status change, its activities
    under ids from the tick's id (spec §18.2, source per check); a stored forecast stays in the owner's state
    (outcome `applied`, nothing sent). A tick for a key without a live group (deleted since the scan) is a no-op.
    """
    if offset <= state.offset:  # redelivery (spec §2.3.2)
        return Decision(Outcome.REDELIVERED, state, max(t, state.last_t))
    now = max(t, state.last_t)  # T' (spec §0.2)
    advanced = replace(state, offset=offset, last_t=now)
    group = state.group
    if group is None or check not in CHECKS:  # deleted since the scan; a check of a later version: nothing here
        return Decision(Outcome.NOOP, advanced, now)
    applied = apply_tick(group, check, t=now, rules=rules, forecast=forecast)
    if not applied.changed(group):
        return Decision(Outcome.NOOP, advanced, now)
    moved = replace(advanced, group=applied.state)
    if not applied.activities:  # a forecast: only the owner's state holds it
        return Decision(Outcome.APPLIED, moved, now)
    source = SOURCES[check]
    activities = tuple(
        ActivityRecord(id=activity_id(tick_id, position), type=activity.type, data=activity.data,
                       datetime=activity.datetime, source=source)
        for position, activity in enumerate(applied.activities)
    )
    change = StatusChange(outcome=Outcome.APPLIED.value, t=now, group_key=group_key, project_id=group.project_id,
                          group=applied.state, cause_id=tick_id, activities=activities)
    return Decision(Outcome.APPLIED, moved, now, changes=(change,))
