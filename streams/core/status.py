"""The status machine of a live group: spec §14.3's transition table (T1–T9, T1b, T6b) and §14.4 snoozes, pure.

The owner calls `apply_status_change` after redelivery, dedupe and the group lookup (spec §14.3 first
paragraph, streams.core.decide); it returns the group after the change, the counter outcome (spec §23
`issue_platform_status_changes_total`) and the activities the change records (spec §14.3.1, §18.3).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from grouptypes.priority import PriorityLevel
from storage.changes import GroupState
from streams.core.enums import (
    PRIORITY_NAMES,
    SUBSTATUS_NAMES,
    ActivityType,
    GroupStatus,
    GroupSubStatus,
)
from streams.core.grouping import HOUR_SECONDS, Activity, Outcome
from streams.core.timestamps import format_epoch, parse_timestamp


@dataclass(frozen=True)
class StatusRequest:
    """What a validated status change asks (spec §6.2; §14.2 already passed at ingest)."""

    new_status: int
    new_substatus: int | None
    activity_type: int | None = None  # only row T1b uses it
    activity_data: Mapping[str, Any] | None = None
    detector_id: int | None = None
    update_date: float | None = None  # epoch seconds; the activity's time and T2's resolved_at
    snooze_count: int | None = None  # only with 2/4 (spec §14.4)
    snooze_until: float | None = None  # epoch seconds; only with 2/4

    @classmethod
    def from_message(cls, change: Mapping[str, Any]) -> StatusRequest:
        """From a grouping message's `status_change` (timestamps in the §0.4 form ingest wrote)."""
        return cls(
            new_status=change["new_status"],
            new_substatus=change.get("new_substatus"),
            activity_type=change.get("activity_type"),
            activity_data=change.get("activity_data"),
            detector_id=change.get("detector_id"),
            update_date=_epoch(change.get("update_date")),
            snooze_count=change.get("snooze_count"),
            snooze_until=_epoch(change.get("snooze_until")),
        )

    def extras(self) -> dict[str, Any]:
        """Every field beyond (new_status, new_substatus) that is set, epoch seconds as they are: what a held
        status change keeps of it (streams.core.group_state.WaitingStatusChange)."""
        values = {"activity_type": self.activity_type, "activity_data": self.activity_data,
                  "detector_id": self.detector_id, "update_date": self.update_date,
                  "snooze_count": self.snooze_count, "snooze_until": self.snooze_until}
        return {name: value for name, value in values.items() if value is not None}


def _epoch(text: str | None) -> float | None:
    return None if text is None else parse_timestamp(text).timestamp()


@dataclass(frozen=True)
class StatusApplied:
    state: GroupState
    outcome: Outcome  # APPLIED, NOOP, ACTIVITY_ONLY or IGNORED_ESCALATION
    activities: tuple[Activity, ...] = ()


def apply_status_change(group: GroupState, change: StatusRequest, *, t: float) -> StatusApplied:
    """Spec §14.3 for a live group at decision time T. Rows are tried in the table's order, so a change equal
    to the current (status, substatus) is T1/T1b whatever its snooze fields."""
    when = change.update_date if change.update_date is not None else t  # spec §14.3.1
    target = (change.new_status, change.new_substatus)
    if target == (group.status, group.substatus):
        if change.activity_type is None:  # T1
            return StatusApplied(group, Outcome.NOOP)
        # T1b: the state stays as it is, so the group keeps its version and the sink's upsert skips it.
        return StatusApplied(group, Outcome.ACTIVITY_ONLY,
                             (Activity(change.activity_type, _data(change), when),))
    status, substatus = target
    if status == GroupStatus.RESOLVED:  # T2
        moved = _moved(group, status, None, t=t, resolved_at=when)
        return StatusApplied(moved, Outcome.APPLIED, (Activity(ActivityType.SET_RESOLVED, _data(change), when),))
    if status == GroupStatus.IGNORED:  # T3, T4, T5
        moved = _moved(group, status, substatus, t=t)
        own: dict[str, Any] = {"substatus": SUBSTATUS_NAMES[substatus]} if substatus is not None else {}
        if substatus == GroupSubStatus.UNTIL_CONDITION_MET:  # T4: the snooze, if any, replaces the last one
            moved = replace(moved, snooze_count=change.snooze_count, snooze_until=change.snooze_until,
                            times_seen_at_snooze=group.times_seen if change.snooze_count is not None else None)
            if change.snooze_count is not None:
                own["snooze"] = {"count": change.snooze_count}
            elif change.snooze_until is not None:
                own["snooze"] = {"until": format_epoch(change.snooze_until)}
        # T3's forecast (spec §15.5.2 a) needs the group's hourly counts, which only PostgreSQL holds: it is
        # computed by the forecast timer, not here.
        return StatusApplied(moved, Outcome.APPLIED, (Activity(ActivityType.SET_IGNORED, _data(change, own), when),))
    # UNRESOLVED: 0/2, 0/3 or 0/6 (§14.2 refuses every other substatus at ingest)
    if substatus == GroupSubStatus.ESCALATING:
        if group.status != GroupStatus.IGNORED:  # T6b
            return StatusApplied(group, Outcome.IGNORED_ESCALATION)
        moved = _moved(group, status, substatus, t=t)  # T6
        activities = [Activity(ActivityType.SET_ESCALATING, _data(change), when)]
        moved = _with_priority(moved, escalation_priority(moved.priority), "escalating", when, activities)
        return StatusApplied(moved, Outcome.APPLIED, tuple(activities))
    if substatus == GroupSubStatus.REGRESSED:  # T7
        moved = _moved(group, status, substatus, t=t)
        return StatusApplied(moved, Outcome.APPLIED, (Activity(ActivityType.SET_REGRESSION, _data(change), when),))
    if substatus == GroupSubStatus.ONGOING:
        moved = _moved(group, status, substatus, t=t)
        if group.substatus == GroupSubStatus.ESCALATING:  # T8
            activities = [Activity(ActivityType.AUTO_SET_ONGOING, _data(change), when)]
            moved = _with_priority(moved, group.initial_priority, "ongoing", when, activities)
            return StatusApplied(moved, Outcome.APPLIED, tuple(activities))
        # T9
        return StatusApplied(moved, Outcome.APPLIED, (Activity(ActivityType.SET_UNRESOLVED, _data(change), when),))
    raise ValueError(f"status change {status}/{substatus} passed no row of spec §14.3: §14.2 should refuse it")


# Spec §15.5.1, §15.5.4: today's forecast of a group without a stored one (the reference's ONE_EVENT_FORECAST).
FALLBACK_FORECAST = 10
# Spec §12.7: groups younger than this (T − first_seen) skip the forecast rule.
ESCALATION_MIN_AGE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class IgnoredApplied:
    """An occurrence's effect on its IGNORED group (spec §12.7)."""

    state: GroupState
    activities: tuple[Activity, ...] = ()
    is_escalating: bool = False


def todays_forecast(group: GroupState, t: float) -> int:
    """Spec §15.5.4 for a type with escalation detection: the stored forecast's value for date(T), else 10."""
    forecast, first_day = group.forecast, group.forecast_date
    if not forecast or first_day is None:
        return FALLBACK_FORECAST
    k = (_utc_date(t) - date.fromisoformat(first_day)).days
    return forecast[min(max(k, 0), len(forecast) - 1)]


def _utc_date(t: float) -> date:
    return datetime.fromtimestamp(t, UTC).date()


def apply_ignored_rules(group: GroupState, *, event_id: str, t: float, escalation_detection: bool) -> IgnoredApplied:
    """Spec §12.7, after §12.4–§12.6 applied this occurrence at decision time T: times_seen and the count of
    hour(T) already include it. Every group state keeps that count (streams.core.grouping.apply_to_group), so
    the occurrences of the hour that came before the archive are in it. A state written before the count was
    kept in every state starts it with its first occurrence after the upgrade: later than the spec's, for that
    hour only, never earlier."""
    if group.status != GroupStatus.IGNORED:
        return IgnoredApplied(group)
    if group.substatus == GroupSubStatus.UNTIL_ESCALATING:
        if not escalation_detection:  # spec §15.5.4: such types never escalate through a forecast
            return IgnoredApplied(group)
        if t - group.first_seen < ESCALATION_MIN_AGE_SECONDS:
            return IgnoredApplied(group)
        count = (group.hour_count or 0) if group.hour_start == t - t % HOUR_SECONDS else 0
        forecast = todays_forecast(group, t)
        if count <= forecast:
            return IgnoredApplied(group)
        return _escalated(group, {"event_id": event_id, "forecast": forecast}, t)
    if group.substatus == GroupSubStatus.UNTIL_CONDITION_MET:
        if group.snooze_until is not None and group.snooze_until <= t:
            data = {"event_id": event_id, "snooze": {"until": format_epoch(group.snooze_until)}}
            moved = _moved(group, GroupStatus.UNRESOLVED, GroupSubStatus.ONGOING, t=t)
            return IgnoredApplied(moved, (Activity(ActivityType.SET_UNRESOLVED, data, t),))
        count, since = group.snooze_count, group.times_seen_at_snooze
        if count is not None and since is not None and group.times_seen - since >= count:
            return _escalated(group, {"event_id": event_id, "snooze": {"count": count}}, t)
    return IgnoredApplied(group)


def _escalated(group: GroupState, data: dict[str, Any], t: float) -> IgnoredApplied:
    """UNRESOLVED/ESCALATING with SET_ESCALATING, then the escalation priority bump (spec §12.7, §17)."""
    moved = _moved(group, GroupStatus.UNRESOLVED, GroupSubStatus.ESCALATING, t=t)
    activities = [Activity(ActivityType.SET_ESCALATING, data, t)]
    moved = _with_priority(moved, escalation_priority(moved.priority), "escalating", t, activities)
    return IgnoredApplied(moved, tuple(activities), is_escalating=True)


def escalation_priority(priority: int) -> int:
    """Spec §17: an escalation raises LOW to MEDIUM and anything else to HIGH."""
    return PriorityLevel.MEDIUM if priority == PriorityLevel.LOW else PriorityLevel.HIGH


def _moved(group: GroupState, status: int, substatus: int | None, *, t: float,
           resolved_at: float | None = None) -> GroupState:
    """A new (status, substatus): substatus_since = T (spec §8.3), and no snooze, which belongs to
    IGNORED/UNTIL_CONDITION_MET only (T4 sets the new one), nor forecast, which belongs to
    IGNORED/UNTIL_ESCALATING only (a change into it computes one afresh, spec §15.5.2). The count of hour(T)
    stays: it counts occurrences, whatever the status (spec §12.7, §15.5.3)."""
    return replace(group, status=status, substatus=substatus, substatus_since=t, resolved_at=resolved_at,
                   snooze_count=None, times_seen_at_snooze=None, snooze_until=None, forecast=None,
                   forecast_date=None, version=group.version + 1)


def _with_priority(group: GroupState, priority: int, reason: str, when: float,
                   activities: list[Activity]) -> GroupState:
    """Spec §17: a locked priority changes only through the API; SET_PRIORITY only when the value changes."""
    if group.priority_locked_at is not None or priority == group.priority:
        return group
    activities.append(Activity(ActivityType.SET_PRIORITY, {"priority": PRIORITY_NAMES[priority], "reason": reason},
                               when))
    return replace(group, priority=priority)


def _data(change: StatusRequest, own: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Spec §14.3.1: `activity_data`, plus `detector_id`, plus the rule's own keys, later ones winning."""
    data: dict[str, Any] = dict(change.activity_data) if change.activity_data else {}
    if change.detector_id is not None:
        data["detector_id"] = change.detector_id
    if own:
        data.update(own)
    return data
