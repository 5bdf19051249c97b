"""Occurrences on IGNORED groups (spec §12.7): the forecast escalation (§15.5.4), snooze expiry by count and by
time, the escalation priority bump (§17), and `is_escalating` through the change to the post-process message."""
from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from storage.changes import GroupState, OccurrenceChange, change_from_wire
from streams.core.decide import (
    IncomingOccurrence,
    decide_occurrence,
    decide_status_change,
)
from streams.core.enums import ActivityType, GroupStatus, GroupSubStatus
from streams.core.group_state import KeyState, TypeRules
from streams.core.grouping import Candidate, Outcome, apply_to_group, create_group
from streams.core.postprocess import post_process_entries, post_process_message
from streams.core.status import (
    FALLBACK_FORECAST,
    StatusRequest,
    apply_ignored_rules,
    apply_status_change,
    todays_forecast,
)
from tests.unit.core.test_decide import facts
from tests.unit.core.test_grouping_rules import new_group

DAY = 86_400.0
FIRST_SEEN = 1_000.0  # new_group()'s first_seen
HOUR = 3 * DAY  # 1970-01-04T00:00Z, an hour start three days after first_seen
EVENT_ID = "e" * 32
LOW, MEDIUM, HIGH = 25, 50, 75
RULES = TypeRules(type_id=2001, default_priority=25)


def ignored(substatus: int = GroupSubStatus.UNTIL_ESCALATING, **changes: object) -> GroupState:
    return replace(new_group(), status=GroupStatus.IGNORED, substatus=substatus, substatus_since=2_500.0,
                   times_seen=5, **changes)


def burst(group: GroupState, n: int, *, t: float = HOUR, escalation_detection: bool = True):
    """n occurrences at T (times_seen and the count of hour(T) counted by §12.4 before §12.7), the effect of the
    last one."""
    applied = None
    for _ in range(n):
        group = apply_to_group(group, facts(1), t=t).state
        applied = apply_ignored_rules(group, event_id=EVENT_ID, t=t, escalation_detection=escalation_detection)
        group = applied.state
    assert applied is not None
    return applied


# ----------------------------------------------------------------------------------- forecast escalation


def test_the_eleventh_occurrence_of_an_hour_escalates_against_the_fallback_forecast() -> None:  # §12.7, §15.5.4
    ten = burst(ignored(), FALLBACK_FORECAST)
    assert (ten.state.status, ten.state.substatus, ten.activities, ten.is_escalating) == (2, 1, (), False)
    assert (ten.state.hour_start, ten.state.hour_count) == (HOUR, 10)
    eleventh = burst(ten.state, 1, t=HOUR + 3599.0)
    state = eleventh.state
    assert (state.status, state.substatus, state.substatus_since) == (GroupStatus.UNRESOLVED,
                                                                        GroupSubStatus.ESCALATING, HOUR + 3599.0)
    assert eleventh.is_escalating
    assert [(a.type, a.data) for a in eleventh.activities] == [
        (ActivityType.SET_ESCALATING, {"event_id": EVENT_ID, "forecast": 10}),
        (ActivityType.SET_PRIORITY, {"priority": "medium", "reason": "escalating"}),  # §17: LOW → MEDIUM
    ]
    assert state.priority == MEDIUM and state.initial_priority == LOW
    # The forecast belonged to UNTIL_ESCALATING; the hour's count goes on (spec §12.7, §15.5.3).
    assert (state.forecast, state.forecast_date, state.hour_start, state.hour_count) == (None, None, HOUR, 11)
    assert state.version == ten.state.version + 2  # the occurrence's update (§12.4), then the move


def test_a_new_hour_counts_from_one_again() -> None:  # the hourly count of hour(T) (spec §12.7)
    ten = burst(ignored(), 10)
    next_hour = burst(ten.state, 1, t=HOUR + 3600.0)
    assert (next_hour.state.status, next_hour.state.hour_start, next_hour.state.hour_count) == (2, HOUR + 3600.0, 1)


def run(state: KeyState, steps: list[tuple[str, float]]) -> tuple[KeyState, list[bool]]:
    """Occurrences ("o") and status changes archiving until escalating ("a") or forever ("f") at their T, through
    the owner's decisions; the state after them and each occurrence's is_escalating."""
    escalating = []
    for offset, (kind, t) in enumerate(steps, start=state.offset + 1):
        assert state.group is not None
        if kind == "o":
            decision = decide_occurrence(state, IncomingOccurrence(facts(offset), {"id": f"{offset:032x}"}, None),
                                         group_key=state.group.group_key, offset=offset, t=t, rules=RULES,
                                         noise_before=None, seen=None, dedupe_seconds=3600)
            escalating.append(decision.changes[0].is_escalating)  # type: ignore[union-attr]
        else:
            substatus = GroupSubStatus.UNTIL_ESCALATING if kind == "a" else GroupSubStatus.FOREVER
            decision = decide_status_change(state, change_id=f"{offset:032x}", request=StatusRequest(
                GroupStatus.IGNORED, substatus), group_key=state.group.group_key,
                offset=offset, t=t, seen=None, dedupe_seconds=3600)
        assert decision.outcome == Outcome.APPLIED, decision.outcome
        state = decision.state
    return state, escalating


def test_the_hours_occurrences_before_the_archive_count() -> None:  # spec §12.7: hour(T)'s count, §15.5.3
    # Six before the archive and five after, all in one hour: the eleventh is above the fallback 10.
    state, escalating = run(KeyState(offset=0, last_t=0.0, group=new_group()),
                            [("o", HOUR + n) for n in range(6)] + [("a", HOUR + 10)]
                            + [("o", HOUR + 20 + n) for n in range(5)])
    assert escalating == [False] * 10 + [True]
    assert state.group is not None and state.group.substatus == GroupSubStatus.ESCALATING


def test_an_hour_boundary_resets_the_count_and_a_status_change_does_not() -> None:  # spec §12.7
    # Ten in the hour before the archive's, then the archive: the new hour counts from one, so ten more stay
    # below the forecast, and the eleventh of the hour escalates.
    state, escalating = run(KeyState(offset=0, last_t=0.0, group=new_group()),
                            [("o", HOUR - 10 + n) for n in range(10)] + [("a", HOUR)]
                            + [("o", HOUR + 1 + n) for n in range(10)])
    assert not any(escalating)
    group = state.group
    assert group is not None and (group.status, group.hour_start, group.hour_count) == (2, HOUR, 10)
    # Archived forever, then until escalating again, mid-hour (T5, T3): the count stays.
    state, _ = run(state, [("f", HOUR + 100), ("a", HOUR + 101)])
    assert state.group is not None and (state.group.hour_start, state.group.hour_count) == (HOUR, 10)
    state, escalating = run(state, [("o", HOUR + 3599)])
    assert escalating == [True]


def test_a_state_written_before_the_count_was_kept_starts_it_with_the_next_occurrence() -> None:
    old = {key: value for key, value in ignored().to_dict().items() if not key.startswith("hour_")}
    decoded = GroupState.from_dict(old)
    assert (decoded.hour_start, decoded.hour_count) == (None, None)
    counted = apply_to_group(decoded, facts(1), t=HOUR + 5).state
    assert (counted.hour_start, counted.hour_count) == (HOUR, 1)


@pytest.mark.parametrize(("first_t", "counted"), [(HOUR, (HOUR, 3)), (HOUR - 1, (None, None)), (None, (None, None))])
def test_a_creation_counts_its_occurrences_when_all_are_in_its_hour(first_t: float | None,
                                                                    counted: tuple[object, object]) -> None:
    candidate = Candidate(creator=facts(1), latest=facts(3), times_seen=3, first_seen=1_001.0, last_seen=1_003.0,
                          environments=("production",), first_t=first_t)
    group, _ = create_group(candidate, group_key="1:" + "a" * 32, generation=0, t=HOUR + 60, default_priority=25)
    assert (group.hour_start, group.hour_count) == counted


@pytest.mark.parametrize(("age", "escalates"), [(DAY - 1.0, False), (DAY, True)])
def test_groups_younger_than_24_hours_skip_the_forecast_rule(age: float, escalates: bool) -> None:  # spec §12.7
    t = FIRST_SEEN + age
    applied = burst(ignored(), 11, t=t)
    assert applied.is_escalating is escalates
    if not escalates:
        assert applied.state.hour_count == 11  # still counted: the rule applies once the group is old enough


def test_a_type_without_escalation_detection_never_escalates_through_a_forecast() -> None:  # spec §15.5.4
    before = ignored()
    applied = burst(before, 100, escalation_detection=False)
    assert (applied.state.status, applied.state.hour_count, applied.is_escalating) == (2, 100, False)


@pytest.mark.parametrize(("day", "value"), [(-2, 100), (0, 100), (1, 101), (13, 113), (14, 113), (40, 113)])
def test_todays_forecast_is_the_stored_value_of_the_day(day: int, value: int) -> None:  # spec §15.5.4
    group = ignored(forecast=tuple(range(100, 114)), forecast_date="1970-01-04")
    assert todays_forecast(group, HOUR + day * DAY + 5.0) == value
    assert todays_forecast(ignored(), HOUR) == FALLBACK_FORECAST


def test_a_stored_forecast_sets_the_threshold() -> None:  # spec §12.7: count > today's forecast
    group = ignored(forecast=(3,) * 14, forecast_date="1970-01-04")
    assert not burst(group, 3).is_escalating
    escalated = burst(group, 4)
    assert escalated.is_escalating and escalated.activities[0].data == {"event_id": EVENT_ID, "forecast": 3}


@pytest.mark.parametrize(("priority", "locked", "after", "bumped"), [
    (LOW, None, MEDIUM, True), (MEDIUM, None, HIGH, True), (HIGH, None, HIGH, False), (LOW, 1_500.0, LOW, False),
])
def test_the_escalation_bumps_the_priority_unless_locked(priority: int, locked: float | None, after: int,
                                                          bumped: bool) -> None:  # spec §17
    applied = burst(ignored(priority=priority, priority_locked_at=locked), 11)
    assert applied.state.priority == after
    assert [a.type for a in applied.activities] == [ActivityType.SET_ESCALATING] + (
        [ActivityType.SET_PRIORITY] if bumped else [])


# ---------------------------------------------------------------------------------------------- snoozes


def test_a_snooze_count_escalates_after_n_more_occurrences() -> None:  # spec §12.7, §14.4, §18.3
    group = ignored(GroupSubStatus.UNTIL_CONDITION_MET, snooze_count=3, times_seen_at_snooze=5)
    two = burst(group, 2)
    assert (two.state.status, two.state.snooze_count, two.activities) == (2, 3, ())
    third = burst(two.state, 1)
    assert (third.state.status, third.state.substatus, third.is_escalating) == (0, GroupSubStatus.ESCALATING, True)
    assert [(a.type, a.data) for a in third.activities] == [
        (ActivityType.SET_ESCALATING, {"event_id": EVENT_ID, "snooze": {"count": 3}}),
        (ActivityType.SET_PRIORITY, {"priority": "medium", "reason": "escalating"}),
    ]
    assert (third.state.snooze_count, third.state.times_seen_at_snooze, third.state.snooze_until) == (None,) * 3


@pytest.mark.parametrize(("until", "expires"), [(HOUR, True), (HOUR + 1.0, False)])
def test_an_occurrence_at_or_after_snooze_until_makes_the_group_ongoing(until: float, expires: bool) -> None:
    applied = burst(ignored(GroupSubStatus.UNTIL_CONDITION_MET, snooze_until=until), 1)  # spec §12.7, §15.4
    if not expires:
        assert (applied.state.status, applied.activities) == (2, ())
        return
    assert (applied.state.status, applied.state.substatus, applied.is_escalating) == (0, GroupSubStatus.ONGOING,
                                                                                      False)
    assert [(a.type, a.data) for a in applied.activities] == [
        (ActivityType.SET_UNRESOLVED, {"event_id": EVENT_ID, "snooze": {"until": "1970-01-04T00:00:00.000000Z"}})]
    assert applied.state.snooze_until is None and applied.state.priority == LOW


@pytest.mark.parametrize("substatus", [GroupSubStatus.UNTIL_CONDITION_MET, GroupSubStatus.FOREVER])
def test_without_a_snooze_or_forever_the_group_stays_ignored(substatus: int) -> None:  # spec §12.7
    applied = burst(ignored(substatus), 500)
    assert (applied.state.status, applied.state.substatus, applied.activities) == (2, substatus, ())
    assert applied.state.hour_count == 500  # the counts still apply


def test_groups_that_are_not_ignored_are_untouched() -> None:
    group = new_group()
    assert apply_ignored_rules(group, event_id=EVENT_ID, t=HOUR, escalation_detection=True).state is group


# -------------------------------------------------------------------------------- through the decision


def test_an_escalating_occurrence_reaches_post_process_with_is_escalating() -> None:  # spec §12.7, §18.1
    state = KeyState(offset=0, last_t=HOUR, group=ignored())
    decisions = []
    for n in range(1, 12):
        occurrence = facts(n)
        document = {"id": occurrence.id, "event_id": EVENT_ID}
        decision = decide_occurrence(state, IncomingOccurrence(occurrence, document, None),
                                     group_key=state.group.group_key, offset=n, t=HOUR + n, rules=RULES,
                                     noise_before=None, seen=None, dedupe_seconds=3600)
        assert decision.outcome == Outcome.APPLIED
        state = decision.state
        decisions.append(decision)
    wires = [decision.changes[0].to_wire() for decision in decisions]
    assert [wire.get("is_escalating", False) for wire in wires] == [False] * 10 + [True]
    assert "is_escalating" not in wires[0]  # every other change keeps its wire form
    change = change_from_wire(orjson.loads(orjson.dumps(wires[-1])))
    assert isinstance(change, OccurrenceChange) and change.is_escalating
    assert [a.type for a in change.activities] == [ActivityType.SET_ESCALATING, ActivityType.SET_PRIORITY]
    assert [a.source for a in change.activities] == ["occurrence", "occurrence"]
    entry = post_process_entries(wires[-1])[0]
    message = post_process_message(change=wires[-1], entry=entry, group_id=1, short_id=1, project_slug="p",
                                   type_slug="t", category=1)
    assert (message["is_escalating"], message["status"], message["substatus"], message["priority"]) == (
        True, 0, GroupSubStatus.ESCALATING, MEDIUM)
    assert state.group is not None and state.group.status == GroupStatus.UNRESOLVED


# ---------------------------------------------------------------------------------------- state and rows


def test_the_forecast_and_hourly_count_survive_the_key_state_and_only_ignored_groups_carry_a_forecast() -> None:
    group = ignored(forecast=tuple(range(14)), forecast_date="1970-01-04", hour_start=HOUR, hour_count=7)
    assert GroupState.from_dict(orjson.loads(orjson.dumps(group.to_dict()))) == group
    assert not {"forecast", "forecast_date", "hour_start", "hour_count"} & set(new_group().to_dict())
    counted = apply_to_group(new_group(), facts(1), t=HOUR).state
    assert {"hour_start": HOUR, "hour_count": 1}.items() <= counted.to_dict().items()
    assert not {"forecast", "forecast_date"} & set(counted.to_dict())


def test_a_status_change_out_of_until_escalating_clears_the_forecast_not_the_count() -> None:  # spec §14.3, §12.7
    group = ignored(forecast=(5,) * 14, forecast_date="1970-01-04", hour_start=HOUR, hour_count=4)
    moved = apply_status_change(group, StatusRequest(2, GroupSubStatus.FOREVER), t=HOUR).state
    assert (moved.forecast, moved.forecast_date, moved.hour_start, moved.hour_count) == (None, None, HOUR, 4)
