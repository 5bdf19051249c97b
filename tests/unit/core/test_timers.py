"""Automatic transitions, pure (spec §15): auto-resolve §15.2 and §12.5.2, ongoing after 7 days §15.3, snooze
expiry §15.4, daily forecasts §15.5.2, each at its boundary and one second before; the tick decision (§15.1.2:
idempotent, a no-op records nothing); the due-time index the scan reads (§15.1)."""
from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from storage.changes import GroupState, StatusChange
from streams.core.decide import activity_id, decide_occurrence
from streams.core.enums import ActivityType, GroupStatus
from streams.core.group_state import KeyState
from streams.core.grouping import Activity, Outcome
from streams.core.ticks import decide_tick
from streams.core.timers import (
    AUTO_RESOLVE,
    FORECAST,
    ONGOING,
    SNOOZE_EXPIRY,
    TickRules,
    apply_tick,
    due_entries,
    index_key,
    index_writes,
    next_midnight,
    tick_message,
    wanted_entries,
)
from streams.core.timestamps import format_epoch
from tests.unit.core.test_decide import NO_NOISE, incoming
from tests.unit.core.test_grouping_rules import KEY, new_group

HOUR, DAY = 3600.0, 86400.0
LAST_SEEN = 1_000.0  # new_group(): first_seen = last_seen = 1,000, created at 2,000
LOW, MEDIUM, HIGH = 25, 50, 75
RULES = TickRules(auto_resolve=True, escalation_detection=True, resolve_age_hours=1)
STATES = [(0, 2), (0, 3), (0, 6), (0, 7), (1, None), (2, 1), (2, 4), (2, 5)]


def group(status: int = 0, substatus: int | None = 7, **changes: object) -> GroupState:
    base = replace(new_group(), status=status, substatus=substatus, substatus_since=2_500.0,
                   resolved_at=2_500.0 if status == GroupStatus.RESOLVED else None)
    return replace(base, **changes)


# ------------------------------------------------------------------------------------------ §15.2 auto-resolve


def test_auto_resolve_at_exactly_a_hours_after_last_seen_resolves_with_set_resolved_by_age() -> None:  # §15.2
    t = LAST_SEEN + 1 * HOUR
    before = group()
    applied = apply_tick(before, AUTO_RESOLVE, t=t, rules=RULES)
    after = applied.state
    assert (after.status, after.substatus, after.resolved_at, after.substatus_since) == (1, None, t, t)
    assert after.version == before.version + 1
    assert applied.activities == (Activity(ActivityType.SET_RESOLVED_BY_AGE, {"age": 1}, t),)


def test_auto_resolve_one_second_before_a_hours_changes_nothing() -> None:  # spec §15.2 boundary
    before = group()
    applied = apply_tick(before, AUTO_RESOLVE, t=LAST_SEEN + HOUR - 1, rules=RULES)
    assert applied.state is before and applied.activities == () and not applied.changed(before)


@pytest.mark.parametrize("current", STATES)
def test_only_unresolved_groups_are_auto_resolved_whatever_their_substatus(current: tuple) -> None:  # §15.2
    before = group(*current)
    applied = apply_tick(before, AUTO_RESOLVE, t=LAST_SEEN + 10 * DAY, rules=RULES)
    assert applied.changed(before) is (current[0] == GroupStatus.UNRESOLVED)
    if current[0] == GroupStatus.IGNORED:  # spec §15.2: IGNORED groups are never auto-resolved
        assert applied.state.status == GroupStatus.IGNORED


@pytest.mark.parametrize("rules", [replace(RULES, auto_resolve=False), replace(RULES, resolve_age_hours=None)])
def test_no_auto_resolve_without_the_types_flag_or_the_projects_age(rules: TickRules) -> None:  # spec §15.2
    before = group()
    assert not apply_tick(before, AUTO_RESOLVE, t=LAST_SEEN + 100 * DAY, rules=rules).changed(before)


def occurrence_on(state_group: GroupState, *, t: float, resolve_age_hours: int | None):
    state = KeyState(offset=5, last_t=2_000.0, group=state_group)
    return decide_occurrence(state, incoming(9), group_key=KEY, offset=6, t=t, rules=NO_NOISE, noise_before=None,
                             seen=None, dedupe_seconds=3600, resolve_age_hours=resolve_age_hours)


def test_an_occurrence_on_a_group_due_for_auto_resolve_resolves_it_first_then_regresses() -> None:  # §12.5.2
    t = LAST_SEEN + 2 * HOUR  # last_seen before the occurrence ≤ T − A h (A = 2): exactly at the boundary
    decision = occurrence_on(group(0, 3), t=t, resolve_age_hours=2)
    change = decision.changes[0]
    after = decision.state.group
    assert after is not None and (after.status, after.substatus, after.resolved_at) == (0, 6, None)
    assert [(a.type, a.data) for a in change.activities] == [
        (ActivityType.SET_RESOLVED_BY_AGE, {"age": 2}), (ActivityType.SET_REGRESSION, {"event_id": "e" * 32})]
    assert change.is_regression and all(a.datetime == t for a in change.activities)


@pytest.mark.parametrize(("t", "age"), [(LAST_SEEN + 2 * HOUR - 1, 2), (LAST_SEEN + 100 * DAY, None)])
def test_an_occurrence_on_a_group_not_due_is_applied_without_auto_resolve(t: float, age: int | None) -> None:
    decision = occurrence_on(group(0, 3), t=t, resolve_age_hours=age)  # one second before A, or no A (§12.5.2)
    after = decision.state.group
    assert after is not None and (after.status, after.substatus) == (0, 3)
    assert decision.changes[0].activities == () and not decision.changes[0].is_regression


def test_an_ignored_group_is_not_auto_resolved_by_an_occurrence_either() -> None:  # spec §12.5.2, §12.5.3
    decision = occurrence_on(group(2, 5), t=LAST_SEEN + 100 * DAY, resolve_age_hours=1)
    assert decision.state.group is not None and decision.state.group.status == GroupStatus.IGNORED
    assert decision.changes[0].activities == ()


# ------------------------------------------------------------------------------------------ §15.3 ongoing


@pytest.mark.parametrize(("substatus", "since"), [(7, "first_seen"), (6, "substatus_since"), (2, "substatus_since")])
def test_ongoing_after_exactly_seven_days_and_not_one_second_before(substatus: int, since: str) -> None:  # §15.3
    before = group(0, substatus, priority=LOW)
    start = before.first_seen if since == "first_seen" else before.substatus_since
    assert not apply_tick(before, ONGOING, t=start + 7 * DAY - 1, rules=RULES).changed(before)
    t = start + 7 * DAY
    applied = apply_tick(before, ONGOING, t=t, rules=RULES)
    assert (applied.state.status, applied.state.substatus, applied.state.substatus_since) == (0, 3, t)
    assert applied.activities[0] == Activity(ActivityType.AUTO_SET_ONGOING, {"after_days": 7}, t)


def test_escalating_to_ongoing_resets_the_priority_to_the_initial_one() -> None:  # spec §15.3, §17
    before = group(0, 2, priority=HIGH, initial_priority=LOW)
    t = before.substatus_since + 7 * DAY
    applied = apply_tick(before, ONGOING, t=t, rules=RULES)
    assert applied.state.priority == LOW
    assert applied.activities == (Activity(ActivityType.AUTO_SET_ONGOING, {"after_days": 7}, t),
                                  Activity(ActivityType.SET_PRIORITY, {"priority": "low", "reason": "ongoing"}, t))


def test_a_locked_priority_is_not_reset_and_regressed_keeps_its_priority() -> None:  # spec §17
    locked = group(0, 2, priority=HIGH, initial_priority=LOW, priority_locked_at=3_000.0)
    applied = apply_tick(locked, ONGOING, t=locked.substatus_since + 7 * DAY, rules=RULES)
    assert applied.state.priority == HIGH and len(applied.activities) == 1
    regressed = group(0, 6, priority=HIGH, initial_priority=LOW)
    assert apply_tick(regressed, ONGOING, t=regressed.substatus_since + 7 * DAY, rules=RULES).state.priority == HIGH


@pytest.mark.parametrize("current", [(0, 3), (1, None), (2, 1), (2, 4), (2, 5)])
def test_no_ongoing_transition_from_ongoing_resolved_or_ignored(current: tuple) -> None:  # spec §15.3
    before = group(*current)
    assert not apply_tick(before, ONGOING, t=LAST_SEEN + 100 * DAY, rules=RULES).changed(before)


# ------------------------------------------------------------------------------------------ §15.4 snooze expiry


def test_a_snooze_until_equal_to_t_expires_to_ongoing_and_is_cleared() -> None:  # spec §15.4
    until = 50_000.0
    before = group(2, 4, snooze_until=until)
    assert not apply_tick(before, SNOOZE_EXPIRY, t=until - 1, rules=RULES).changed(before)
    applied = apply_tick(before, SNOOZE_EXPIRY, t=until, rules=RULES)
    after = applied.state
    assert (after.status, after.substatus, after.snooze_until, after.substatus_since) == (0, 3, None, until)
    assert applied.activities == (Activity(ActivityType.SET_UNRESOLVED, {"snooze": {"until": format_epoch(until)}},
                                           until),)


@pytest.mark.parametrize("before", [group(2, 4), group(2, 4, snooze_count=3, times_seen_at_snooze=1),
                                    group(2, 5), group(0, 3)])
def test_no_expiry_without_a_snooze_until_or_outside_until_condition_met(before: GroupState) -> None:  # §15.4
    assert not apply_tick(before, SNOOZE_EXPIRY, t=1e9, rules=RULES).changed(before)


# --------------------------------------------------------------------------------------- §15.5.2 forecasts

DAY_ONE = datetime(2026, 11, 30, tzinfo=UTC).timestamp()
FOURTEEN = list(range(30, 44))


def test_a_forecast_is_stored_with_the_date_of_t_and_the_version_kept() -> None:  # spec §15.5.2
    before = group(2, 1, last_seen=DAY_ONE)
    applied = apply_tick(before, FORECAST, t=DAY_ONE + 60, rules=RULES, forecast=FOURTEEN)
    assert (applied.state.forecast, applied.state.forecast_date) == (tuple(FOURTEEN), "2026-11-30")
    assert applied.state.version == before.version and applied.activities == ()


def test_an_empty_forecast_keeps_the_previous_one() -> None:  # spec §15.5.2
    before = group(2, 1, last_seen=DAY_ONE, forecast=tuple(FOURTEEN), forecast_date="2026-11-29")
    assert not apply_tick(before, FORECAST, t=DAY_ONE + 60, rules=RULES, forecast=[]).changed(before)


def test_the_daily_forecast_needs_last_seen_within_seven_days_exactly() -> None:  # spec §15.5.2 (b)
    t = DAY_ONE + 60
    at_boundary = group(2, 1, last_seen=t - 7 * DAY)
    assert apply_tick(at_boundary, FORECAST, t=t, rules=RULES, forecast=FOURTEEN).changed(at_boundary)
    stale = group(2, 1, last_seen=t - 7 * DAY - 1)
    assert not apply_tick(stale, FORECAST, t=t, rules=RULES, forecast=FOURTEEN).changed(stale)


@pytest.mark.parametrize(("before", "rules"), [(group(2, 4, last_seen=DAY_ONE), RULES),
                                               (group(0, 3, last_seen=DAY_ONE), RULES),
                                               (group(2, 1, last_seen=DAY_ONE),
                                                replace(RULES, escalation_detection=False))])
def test_no_forecast_outside_until_escalating_or_without_escalation_detection(before: GroupState,
                                                                             rules: TickRules) -> None:
    assert not apply_tick(before, FORECAST, t=DAY_ONE + 60, rules=rules, forecast=FOURTEEN).changed(before)


def test_next_midnight_is_the_start_of_the_next_utc_day() -> None:  # spec §15.5.2 (b): first scan after 00:00
    assert next_midnight(DAY_ONE) == DAY_ONE + DAY
    assert next_midnight(DAY_ONE + DAY - 0.001) == DAY_ONE + DAY


# ------------------------------------------------------------------------------------------ the tick decision

TICK = "7" * 32


def tick(state: KeyState, check: str, *, t: float, offset: int = 9, forecast: Sequence[int] | None = None):
    return decide_tick(state, check=check, tick_id=TICK, group_key=KEY, offset=offset, t=t, rules=RULES,
                       forecast=forecast)


def test_a_tick_that_moves_the_group_sends_it_with_activities_under_the_ticks_id() -> None:  # §15.1, §18.2
    state = KeyState(offset=5, last_t=2_000.0, group=group())
    t = LAST_SEEN + 5 * HOUR
    decision = tick(state, AUTO_RESOLVE, t=t)
    assert decision.outcome is Outcome.APPLIED and decision.state.offset == 9 and decision.state.last_t == t
    (change,) = decision.changes
    assert isinstance(change, StatusChange) and change.cause_id == TICK and change.group == decision.state.group
    assert [(a.id, a.type, a.source) for a in change.activities] == [
        (activity_id(TICK, 0), ActivityType.SET_RESOLVED_BY_AGE, "auto_resolve")]
    assert tick(state, AUTO_RESOLVE, t=t) == decision  # decided again after a crash: the same ids (§2.4.7)


def test_a_second_tick_for_the_same_check_is_a_no_op_that_records_nothing() -> None:  # spec §15.1.2
    first = tick(KeyState(offset=5, last_t=2_000.0, group=group()), AUTO_RESOLVE, t=LAST_SEEN + 5 * HOUR)
    second = decide_tick(first.state, check=AUTO_RESOLVE, tick_id="8" * 32, group_key=KEY, offset=10,
                         t=LAST_SEEN + 5 * HOUR, rules=RULES)
    assert second.outcome is Outcome.NOOP and second.changes == () and second.state.group == first.state.group
    assert second.state.offset == 10


def test_a_tick_keeps_t_prime_monotonic_and_re_evaluates_at_it() -> None:  # spec §0.2, §15.1.2
    state = KeyState(offset=5, last_t=LAST_SEEN + 5 * HOUR, group=group())
    decision = tick(state, AUTO_RESOLVE, t=LAST_SEEN)  # an old T: evaluated at T' = last_t, where it is due
    assert decision.outcome is Outcome.APPLIED and decision.t == LAST_SEEN + 5 * HOUR


def test_a_redelivered_tick_and_a_tick_without_a_group_change_nothing() -> None:  # spec §2.3.2
    state = KeyState(offset=9, last_t=2_000.0, group=group())
    assert tick(state, AUTO_RESOLVE, t=1e9).outcome is Outcome.REDELIVERED
    empty = tick(KeyState(offset=5), ONGOING, t=1e9)
    assert (empty.outcome, empty.changes, empty.state.group) == (Outcome.NOOP, (), None)
    unknown = tick(KeyState(offset=5, group=group()), "a_later_check", t=1e9)  # never stops the owner
    assert (unknown.outcome, unknown.changes, unknown.state.group) == (Outcome.NOOP, (), group())


def test_a_forecast_tick_stores_the_forecast_and_sends_nothing() -> None:  # spec §15.5.2
    state = KeyState(offset=5, last_t=2_000.0, group=group(2, 1, last_seen=DAY_ONE))
    decision = tick(state, FORECAST, t=DAY_ONE + 60, forecast=FOURTEEN)
    assert decision.outcome is Outcome.APPLIED and decision.changes == ()
    assert decision.state.group is not None and decision.state.group.forecast == tuple(FOURTEEN)


def test_the_tick_message_names_its_check_and_t() -> None:  # spec §15.1.1
    assert tick_message(tick_id=TICK, check=ONGOING, t=5.0) == {"kind": "tick", "t": 5.0, "id": TICK,
                                                                "check": ONGOING}
    assert tick_message(tick_id=TICK, check=FORECAST, t=5.0, forecast=None)["forecast"] == []


# ------------------------------------------------------------------------------------------ the due-time index


def entries(before: GroupState, current: dict[str, float] | None = None, *, t: float = 3_000.0,
            refresh: frozenset[str] = frozenset()) -> dict[str, float]:
    return wanted_entries(before, current or {}, t=t, auto_resolve=True, escalation_detection=True, refresh=refresh)


def test_a_new_group_is_indexed_for_auto_resolve_by_last_seen_and_ongoing_after_seven_days() -> None:  # §15.1
    assert entries(group()) == {AUTO_RESOLVE: LAST_SEEN, ONGOING: LAST_SEEN + 7 * DAY}


def test_an_occurrence_that_only_makes_due_times_later_writes_nothing() -> None:  # spec §15.1: cheap per occurrence
    current = entries(group())
    later = group(last_seen=LAST_SEEN + 500)
    assert entries(later, current) == current
    assert index_writes(KEY, 1, current, entries(later, current)) == index_writes(KEY, 1, current, current)
    assert index_writes(KEY, 1, current, current).put == {} and index_writes(KEY, 1, current, current).delete == ()


def test_an_earlier_due_time_or_a_tick_of_the_check_moves_the_entry() -> None:  # spec §15.1
    current = entries(group())
    earlier = group(first_seen=LAST_SEEN - 100)
    assert entries(earlier, current)[ONGOING] == LAST_SEEN - 100 + 7 * DAY
    later = group(last_seen=LAST_SEEN + 500)
    assert entries(later, current, refresh=frozenset({AUTO_RESOLVE}))[AUTO_RESOLVE] == LAST_SEEN + 500
    writes = index_writes(KEY, 1, current, entries(later, current, refresh=frozenset({AUTO_RESOLVE})))
    assert writes.delete == (index_key(AUTO_RESOLVE, 1, LAST_SEEN, KEY),)
    assert writes.put == {index_key(AUTO_RESOLVE, 1, LAST_SEEN + 500, KEY): LAST_SEEN + 500}


@pytest.mark.parametrize(("before", "wanted"), [
    (group(1, None), {}),
    (group(0, 3), {AUTO_RESOLVE: LAST_SEEN}),
    (group(0, 6), {AUTO_RESOLVE: LAST_SEEN, ONGOING: 2_500.0 + 7 * DAY}),
    (group(2, 4, snooze_until=9_000.0), {SNOOZE_EXPIRY: 9_000.0}),
    (group(2, 4), {}),
    (group(2, 5), {}),
    (group(2, 1, last_seen=2_900.0), {FORECAST: 3_000.0}),  # entering UNTIL_ESCALATING: due at once (§15.5.2 a)
    (group(2, 1, last_seen=3_000.0 - 7 * DAY - 1), {}),  # not seen for 7 days: no daily forecast (b)
])
def test_each_state_is_indexed_for_the_checks_that_apply_to_it(before: GroupState, wanted: dict) -> None:
    assert entries(before) == wanted


def test_a_forecast_tick_moves_the_entry_to_the_next_midnight() -> None:  # spec §15.5.2 (b)
    before = group(2, 1, last_seen=DAY_ONE)
    current = entries(before, t=DAY_ONE + 60)
    assert current == {FORECAST: DAY_ONE + 60}
    stored = replace(before, forecast=tuple(FOURTEEN), forecast_date="2026-11-30")
    assert entries(stored, current, t=DAY_ONE + 60, refresh=frozenset({FORECAST})) == {FORECAST: DAY_ONE + DAY}
    # Still none (no counts in PostgreSQL yet): again within the hour, never after the next midnight.
    assert entries(before, current, t=DAY_ONE + 60, refresh=frozenset({FORECAST})) == {FORECAST: DAY_ONE + 60 + HOUR}
    late = DAY_ONE + DAY - 60
    assert entries(before, current, t=late, refresh=frozenset({FORECAST})) == {FORECAST: DAY_ONE + DAY}


def test_a_deleted_group_loses_every_entry() -> None:  # spec §20.9
    current = entries(group())
    assert wanted_entries(None, current, t=0, auto_resolve=True, escalation_detection=True) == {}
    assert len(index_writes(KEY, 1, current, {}).delete) == 2


def test_index_keys_sort_by_time_within_a_check_and_auto_resolve_by_project_first() -> None:
    times = [0.0, 0.0005, 1.0, 999.999, 1e9, 4e9]
    keys = [index_key(ONGOING, 7, at, KEY) for at in times]
    assert sorted(keys) == keys and all(key.startswith("ongoing|0000000000|") for key in keys)
    assert index_key(AUTO_RESOLVE, 7, 1.0, KEY) < index_key(AUTO_RESOLVE, 8, 0.0, KEY)


class Partition:
    """One index partition as the table stores it: JSON-encoded keys in byte order."""

    def __init__(self, items: dict[str, float]) -> None:
        self.items = sorted((orjson.dumps(key), key, value) for key, value in items.items())
        self.reads = 0

    def read(self, start: bytes | None, limit: int) -> list[tuple[bytes, Any, Any]]:
        self.reads += 1
        raws = [raw for raw, _, _ in self.items]
        at = 0 if start is None else bisect.bisect_left(raws, start)
        found = [item for item in self.items[at:] if item[0] != start]
        return found[:limit]


def test_the_scan_reads_due_entries_up_to_now_and_per_project_up_to_its_age() -> None:  # spec §15.1, §15.2
    now = 100 * DAY
    items = {
        index_key(AUTO_RESOLVE, 1, now - HOUR, "1:a"): now - HOUR,  # A = 1: due exactly
        index_key(AUTO_RESOLVE, 1, now - HOUR + 1, "1:b"): now - HOUR + 1,  # one second short
        index_key(AUTO_RESOLVE, 2, 0.0, "2:a"): 0.0,  # project 2 has no A: never due
        index_key(AUTO_RESOLVE, 3, now - 48 * HOUR, "3:a"): now - 48 * HOUR,  # A = 24
        index_key(ONGOING, 1, now, "1:c"): now,  # due exactly at now
        index_key(ONGOING, 1, now + 1, "1:d"): now + 1,
        index_key(SNOOZE_EXPIRY, 1, now - 5, "1:e"): now - 5,
        index_key(FORECAST, 1, now + DAY, "1:f"): now + DAY,
    }
    for n in range(200):  # project 2's many entries are skipped by one seek, not read
        items[index_key(AUTO_RESOLVE, 2, float(n), f"2:{n}")] = float(n)
    partition = Partition(items)
    ages = {1: 1, 3: 24}
    due = due_entries(partition.read, now=now, resolve_age_hours=ages.get, limit=100)
    assert [(entry.check, entry.group_key) for entry in due] == [
        (AUTO_RESOLVE, "1:a"), (AUTO_RESOLVE, "3:a"), (ONGOING, "1:c"), (SNOOZE_EXPIRY, "1:e")]
    assert partition.reads <= 10
    assert len(due_entries(partition.read, now=now, resolve_age_hours=ages.get, limit=2)) == 2


def test_a_scan_of_many_due_entries_reads_them_all_in_chunks() -> None:
    partition = Partition({index_key(ONGOING, 1, float(n), f"1:{n}"): float(n) for n in range(1000)})
    due = due_entries(partition.read, now=499.0, resolve_age_hours=lambda project: None, limit=10_000)
    assert [entry.at for entry in due] == [float(n) for n in range(500)]
