"""Automatic transitions (spec §15): the pure rules a tick applies, and the due-time index the timers scan.

The owner applies a `tick` (spec §15.1.1) by re-evaluating its one check at the tick's T' (spec §15.1.2):
`apply_tick` returns the group after it, or the group unchanged when the check no longer holds (a no-op tick
records nothing). The due-time index keeps, per group key and check, one entry whose time is never later
than the check's true due time; `wanted_entries` says what a key's entries should be after a decision and
`index_key` how an entry is spelled in the `timer-index` table, so the scan (`due_entries`) reads only the
entries that are due, in time order, never every group state.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from storage.changes import GroupState
from streams.core.enums import ActivityType, GroupStatus, GroupSubStatus
from streams.core.grouping import Activity
from streams.core.status import _moved, _with_priority  # the status machine's own moves
from streams.core.timestamps import format_epoch

AUTO_RESOLVE, ONGOING, SNOOZE_EXPIRY, FORECAST = "auto_resolve", "ongoing", "snooze_expiry", "forecast"
CHECKS = (AUTO_RESOLVE, ONGOING, SNOOZE_EXPIRY, FORECAST)
# spec §18.2: the `source` of the activities each check records.
SOURCES = {AUTO_RESOLVE: "auto_resolve", ONGOING: "auto_ongoing", SNOOZE_EXPIRY: "snooze", FORECAST: "forecast"}
TRANSITION_AFTER_DAYS = 7  # spec §15.3
_ONGOING_SECONDS = TRANSITION_AFTER_DAYS * 86400
# spec §15.5.2 (b): only groups seen within the last 7 days get their daily forecast.
FORECAST_RECENT_SECONDS = 7 * 86400
_HOUR_SECONDS = 3600
_DAY_SECONDS = 86400


@dataclass(frozen=True)
class TickRules:
    """What re-evaluating a tick needs beside the group: the type's flags (spec §9.2) and the project's
    `resolve_age_hours` A (spec §15.2; None: the project does not auto-resolve)."""

    auto_resolve: bool
    escalation_detection: bool
    resolve_age_hours: int | None


@dataclass(frozen=True)
class TickApplied:
    state: GroupState
    activities: tuple[Activity, ...] = ()

    def changed(self, before: GroupState) -> bool:
        return self.state is not before


# ---------------------------------------------------------------------------------------------- the rules


def due_for_auto_resolve(group: GroupState, *, t: float, auto_resolve: bool, resolve_age_hours: int | None) -> bool:
    """Spec §15.2 (and §12.5.2 with the last_seen before the occurrence): UNRESOLVED, the type auto-resolves,
    the project has A, and last_seen ≤ T − A h. IGNORED groups never auto-resolve."""
    return (group.status == GroupStatus.UNRESOLVED and auto_resolve and resolve_age_hours is not None
            and group.last_seen <= t - resolve_age_hours * _HOUR_SECONDS)


def auto_resolved(group: GroupState, *, t: float, resolve_age_hours: int) -> TickApplied:
    """Spec §15.2's effect: RESOLVED/null, resolved_at = T, SET_RESOLVED_BY_AGE {"age": A}."""
    moved = _moved(group, GroupStatus.RESOLVED, None, t=t, resolved_at=t)
    return TickApplied(moved, (Activity(ActivityType.SET_RESOLVED_BY_AGE, {"age": resolve_age_hours}, t),))


def ongoing_since(group: GroupState) -> float | None:
    """The time spec §15.3 counts 7 days from: first_seen for NEW, substatus_since for REGRESSED and
    ESCALATING; None for every other state."""
    if group.status != GroupStatus.UNRESOLVED:
        return None
    if group.substatus == GroupSubStatus.NEW:
        return group.first_seen
    if group.substatus in (GroupSubStatus.REGRESSED, GroupSubStatus.ESCALATING):
        return group.substatus_since
    return None


def apply_ongoing(group: GroupState, *, t: float) -> TickApplied:
    """Spec §15.3: after 7 days, UNRESOLVED/ONGOING with AUTO_SET_ONGOING {"after_days": 7}; from ESCALATING
    the priority goes back to the initial one (spec §17, SET_PRIORITY reason `ongoing`, unless locked)."""
    since = ongoing_since(group)
    if since is None or since > t - _ONGOING_SECONDS:
        return TickApplied(group)
    moved = _moved(group, GroupStatus.UNRESOLVED, GroupSubStatus.ONGOING, t=t)
    activities = [Activity(ActivityType.AUTO_SET_ONGOING, {"after_days": TRANSITION_AFTER_DAYS}, t)]
    if group.substatus == GroupSubStatus.ESCALATING:
        moved = _with_priority(moved, group.initial_priority, "ongoing", t, activities)
    return TickApplied(moved, tuple(activities))


def apply_snooze_expiry(group: GroupState, *, t: float) -> TickApplied:
    """Spec §15.4: IGNORED/UNTIL_CONDITION_MET with snooze_until ≤ T becomes UNRESOLVED/ONGOING, with
    SET_UNRESOLVED {"snooze": {"until": ts}}; the snooze is cleared."""
    until = group.snooze_until
    if (group.status != GroupStatus.IGNORED or group.substatus != GroupSubStatus.UNTIL_CONDITION_MET
            or until is None or until > t):
        return TickApplied(group)
    moved = _moved(group, GroupStatus.UNRESOLVED, GroupSubStatus.ONGOING, t=t)
    return TickApplied(moved, (Activity(ActivityType.SET_UNRESOLVED, {"snooze": {"until": format_epoch(until)}}, t),))


def forecast_applies(group: GroupState, *, t: float, escalation_detection: bool) -> bool:
    """Spec §15.5.2: IGNORED/UNTIL_ESCALATING, the type has escalation detection, last_seen ≥ T − 7 d."""
    return (group.status == GroupStatus.IGNORED and group.substatus == GroupSubStatus.UNTIL_ESCALATING
            and escalation_detection and group.last_seen >= t - FORECAST_RECENT_SECONDS)


def apply_forecast(group: GroupState, *, t: float, escalation_detection: bool,
                   values: Sequence[int] | None) -> TickApplied:
    """Spec §15.5.2: the forecast the scan computed at T (§16, start = T) stored as (forecast, date(T)). An
    empty result stores nothing: the previous forecast, if any, is kept. Only the owner's state holds a
    forecast (PostgreSQL has no column for it), so the group's version does not move and nothing is sent."""
    if not values or not forecast_applies(group, t=t, escalation_detection=escalation_detection):
        return TickApplied(group)
    return TickApplied(replace(group, forecast=tuple(int(value) for value in values),
                               forecast_date=utc_date(t).isoformat()))


def apply_tick(group: GroupState, check: str, *, t: float, rules: TickRules,
               forecast: Sequence[int] | None = None) -> TickApplied:
    """Re-evaluate `check` for the live group at T' (spec §15.1.2): its transition, or the group unchanged."""
    if check == AUTO_RESOLVE:
        if not due_for_auto_resolve(group, t=t, auto_resolve=rules.auto_resolve,
                                    resolve_age_hours=rules.resolve_age_hours):
            return TickApplied(group)
        assert rules.resolve_age_hours is not None
        return auto_resolved(group, t=t, resolve_age_hours=rules.resolve_age_hours)
    if check == ONGOING:
        return apply_ongoing(group, t=t)
    if check == SNOOZE_EXPIRY:
        return apply_snooze_expiry(group, t=t)
    if check == FORECAST:
        return apply_forecast(group, t=t, escalation_detection=rules.escalation_detection, values=forecast)
    raise ValueError(f"unknown timer check {check!r}; the checks are {', '.join(CHECKS)}")


def utc_date(t: float) -> date:
    return datetime.fromtimestamp(t, UTC).date()


def next_midnight(t: float) -> float:
    """The start of the UTC day after the one holding T: when the daily forecast is next due (§15.5.2 b)."""
    day = datetime.combine(utc_date(t) + timedelta(days=1), datetime.min.time(), UTC)
    return day.timestamp()


# ------------------------------------------------------------------------------------------ due-time index


def wanted_entries(group: GroupState | None, current: Mapping[str, float], *, t: float, auto_resolve: bool,
                   escalation_detection: bool, refresh: frozenset[str] = frozenset()) -> dict[str, float]:
    """The index entries (check → time) a key should have after a decision at T', given those it has.

    An entry may be earlier than its check's true due time, never later: its tick then finds nothing to do
    and the owner moves the entry (the check is in `refresh`). So an occurrence, which only ever makes a due
    time later (last_seen grows), keeps the entries as they are and writes nothing to the index. The time of
    `auto_resolve` is last_seen, not a due time: the project's A is applied by the scan, so a changed A is
    seen at the next scan (spec §15.2). `forecast` is due at once when the group enters the state (§15.5.2 a),
    then at the first midnight after each tick (b), or within the hour while the group has none; a group not
    seen for 7 days loses the entry until an occurrence.
    """
    if group is None:
        return {}
    wanted: dict[str, float] = {}
    exact: dict[str, float | None] = {
        AUTO_RESOLVE: group.last_seen if auto_resolve and group.status == GroupStatus.UNRESOLVED else None,
        ONGOING: since + _ONGOING_SECONDS if (since := ongoing_since(group)) is not None else None,
        SNOOZE_EXPIRY: group.snooze_until if group.status == GroupStatus.IGNORED
        and group.substatus == GroupSubStatus.UNTIL_CONDITION_MET else None,
    }
    for check, due in exact.items():
        if due is None:
            continue
        known = current.get(check)
        wanted[check] = known if known is not None and known <= due and check not in refresh else due
    if forecast_applies(group, t=t, escalation_detection=escalation_detection):
        known = current.get(FORECAST)
        if FORECAST in refresh:
            # A group left without any forecast (its counts were not in PostgreSQL yet) tries again in an hour.
            wanted[FORECAST] = next_midnight(t) if group.forecast else min(t + _HOUR_SECONDS, next_midnight(t))
        else:
            wanted[FORECAST] = known if known is not None else t
    return wanted


@dataclass(frozen=True)
class IndexWrites:
    """What the owner writes to the `timer-index` table: entries to put (key → time) and keys to delete."""

    put: dict[str, float]
    delete: tuple[str, ...]


def index_writes(group_key: str, project_id: int, current: Mapping[str, float],
                 wanted: Mapping[str, float]) -> IndexWrites:
    put: dict[str, float] = {}
    delete: list[str] = []
    for check in CHECKS:
        before, after = current.get(check), wanted.get(check)
        old = index_key(check, project_id, before, group_key) if before is not None else None
        new = index_key(check, project_id, after, group_key) if after is not None else None
        if old == new and before == after:
            continue
        if old is not None and old != new:
            delete.append(old)
        if new is not None:
            put[new] = after  # type: ignore[assignment]
    return IndexWrites(put, tuple(delete))


def index_key(check: str, project_id: int, at: float, group_key: str) -> str:
    """`{check}|{project}|{ms}|{group key}`, ordered by time within a check (and, for auto_resolve, within a
    project, whose A decides how far the scan reads): fixed-width numbers sort as text. Only auto_resolve
    carries the project; every other check is read in one range, project 0."""
    project = project_id if check == AUTO_RESOLVE else 0
    return f"{check}|{project:010d}|{_millis(at):015d}|{group_key}"


def _millis(at: float) -> int:
    # Floor: the key is never later than the exact time its value holds.
    return max(0, math.floor(at * 1000))


@dataclass(frozen=True)
class DueEntry:
    key: str  # the index key
    check: str
    project_id: int
    group_key: str
    at: float


# (raw key to start at, at most how many) → [(raw key, decoded key, decoded value)], keys ≥ the start in
# order, the start itself left out: streams.faust_compat.internals.table_items_after over one partition.
Reader = Callable[[bytes | None, int], Sequence[tuple[bytes, Any, Any]]]
# Entries read per look: a range usually ends within its first few entries (most are not due), so a look
# starts small and doubles while every entry it read was due.
FIRST_CHUNK, MAX_CHUNK = 8, 512


def raw_prefix(prefix: str) -> bytes:
    """The raw key (the table's JSON key serializer) every key starting with the ASCII `prefix` is at or after."""
    return b'"' + prefix.encode("ascii")


def due_entries(read: Reader, *, now: float, resolve_age_hours: Callable[[int], int | None],
                limit: int) -> list[DueEntry]:
    """The entries of one index partition due at `now` (at most `limit`), reading only those and one chunk
    more per range: auto_resolve per project, up to last_seen ≤ now − A h (a project without A is skipped
    by one seek); every other check up to its due time ≤ now."""
    due: list[DueEntry] = []
    for check in CHECKS:
        prefix = raw_prefix(f"{check}|")
        start = prefix
        size = FIRST_CHUNK
        while len(due) < limit:
            chunk = read(start, size)
            jump: bytes | None = None
            stop = not chunk
            for raw, key, value in chunk:
                if not raw.startswith(prefix):  # past this check's range
                    stop = True
                    break
                _, project_text, millis_text, group_key = key.split("|", 3)
                project = int(project_text)
                if check == AUTO_RESOLVE:
                    age = resolve_age_hours(project)
                    limit_at = now - age * _HOUR_SECONDS if age is not None else None
                else:
                    limit_at = now
                if limit_at is None or int(millis_text) > _millis(limit_at):
                    if check == AUTO_RESOLVE:  # nothing later in this project's range is due: the next project
                        jump = raw_prefix(f"{check}|{project + 1:010d}|")
                    else:
                        stop = True  # nothing later in this check is due
                    break
                if float(value) <= limit_at:
                    due.append(DueEntry(key, check, project, group_key, float(value)))
                    if len(due) >= limit:
                        stop = True
                        break
            if stop:
                break
            if jump is not None:
                start, size = jump, FIRST_CHUNK
            elif len(chunk) < size:
                break  # the end of the partition
            else:
                start, size = chunk[-1][0], min(size * 2, MAX_CHUNK)
    return due


def tick_message(*, tick_id: str, check: str, t: float, forecast: Sequence[int] | None = None) -> dict[str, Any]:
    """From the scan to the owner, keyed by the group key (spec §15.1.1); `forecast`: the 14 values the scan
    computed at T for a forecast tick (§15.5.2), empty when §16 gave none."""
    message: dict[str, Any] = {"kind": "tick", "t": t, "id": tick_id, "check": check}
    if check == FORECAST:
        message["forecast"] = list(forecast or ())
    return message
