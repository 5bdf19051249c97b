"""The status machine: every row of spec §14.3 (T1–T9, T1b, T6b) with its state, outcome and activity, and
§14.4 snoozes kept in the group state."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from storage.changes import GroupState, StatusChange
from streams.core.decide import activity_id, decide_status_change
from streams.core.enums import ActivityType, GroupStatus
from streams.core.group_state import KeyState
from streams.core.grouping import Activity, Outcome, apply_to_group
from streams.core.status import StatusRequest, apply_status_change, escalation_priority
from tests.unit.core.test_decide import KEY as PENDING_KEY
from tests.unit.core.test_decide import facts, grant, occur
from tests.unit.core.test_grouping_rules import FACTS, KEY, new_group

T = 10_000.0
UPDATE = 9_000.5
LOW, MEDIUM, HIGH = 25, 50, 75

# Every (status, substatus) a group can be in (spec §8.3).
STATES = [(0, 2), (0, 3), (0, 6), (0, 7), (1, None), (2, 1), (2, 4), (2, 5)]
# Every change §14.2 lets through, with the row it takes from a state it differs from.
CHANGES = {(1, None): "T2", (2, 1): "T3", (2, 4): "T4", (2, 5): "T5", (0, 2): "T6", (0, 6): "T7", (0, 3): "T9"}


def group(status: int = 0, substatus: int | None = 7, **changes: object) -> GroupState:
    """A group created at 2,000 with times_seen 3, in (status, substatus) since 2,500."""
    base = replace(new_group(), status=status, substatus=substatus, substatus_since=2_500.0, times_seen=3,
                   resolved_at=2_500.0 if status == GroupStatus.RESOLVED else None)
    return replace(base, **changes)


def snoozed(**changes: object) -> GroupState:
    return group(2, 4, snooze_count=10, times_seen_at_snooze=2, **changes)


def moved(before: GroupState, after: GroupState, status: int, substatus: int | None) -> None:
    """What every state-changing row does (spec §14.3, §8.3): the pair, substatus_since = T, no stale snooze,
    a newer version for the sink's upsert."""
    assert (after.status, after.substatus, after.substatus_since) == (status, substatus, T)
    assert after.version == before.version + 1
    if (status, substatus) != (2, 4):
        assert (after.snooze_count, after.times_seen_at_snooze, after.snooze_until) == (None, None, None)


# ----------------------------------------------------------------------------------------------- T1, T1b


@pytest.mark.parametrize("current", STATES)
def test_t1_a_change_equal_to_the_current_state_changes_nothing_and_records_nothing(current: tuple) -> None:
    before = snoozed() if current == (2, 4) else group(*current)
    applied = apply_status_change(before, StatusRequest(*current, update_date=UPDATE, detector_id=4), t=T)
    assert (applied.state, applied.outcome, applied.activities) == (before, Outcome.NOOP, ())


def test_t1_the_snooze_of_an_equal_change_does_not_replace_the_stored_one() -> None:
    before = snoozed()
    applied = apply_status_change(before, StatusRequest(2, 4, snooze_count=99), t=T)
    assert applied.outcome is Outcome.NOOP and applied.state.snooze_count == 10


@pytest.mark.parametrize("current", STATES)
def test_t1b_an_equal_change_with_an_activity_type_records_only_that_activity(current: tuple) -> None:
    before = group(*current)
    change = StatusRequest(*current, activity_type=ActivityType.SET_RESOLVED_IN_RELEASE,
                           activity_data={"version": "1.2"}, detector_id=8, update_date=UPDATE)
    applied = apply_status_change(before, change, t=T)
    assert applied.state == before and applied.outcome is Outcome.ACTIVITY_ONLY
    assert applied.activities == (Activity(13, {"version": "1.2", "detector_id": 8}, UPDATE),)


# ------------------------------------------------------------------------------------------------- T2


@pytest.mark.parametrize("current", [s for s in STATES if s != (1, None)])
def test_t2_resolves_at_the_update_date_with_set_resolved(current: tuple) -> None:
    before = snoozed() if current == (2, 4) else group(*current)
    applied = apply_status_change(before, StatusRequest(1, None, update_date=UPDATE, activity_data={"k": 1}), t=T)
    moved(before, applied.state, 1, None)
    assert applied.state.resolved_at == UPDATE and applied.outcome is Outcome.APPLIED
    assert applied.activities == (Activity(ActivityType.SET_RESOLVED, {"k": 1}, UPDATE),)


def test_t2_without_an_update_date_resolves_at_t_with_empty_data() -> None:
    applied = apply_status_change(group(), StatusRequest(1, None), t=T)
    assert applied.state.resolved_at == T
    assert applied.activities == (Activity(ActivityType.SET_RESOLVED, {}, T),)


# -------------------------------------------------------------------------------------------- T3–T5


@pytest.mark.parametrize("current", [s for s in STATES if s != (2, 1)])
def test_t3_archives_until_escalating_with_set_ignored(current: tuple) -> None:
    before = snoozed() if current == (2, 4) else group(*current)
    applied = apply_status_change(before, StatusRequest(2, 1, detector_id=3), t=T)
    moved(before, applied.state, 2, 1)
    assert applied.state.resolved_at is None and applied.state.priority == before.priority
    assert applied.activities == (
        Activity(ActivityType.SET_IGNORED, {"detector_id": 3, "substatus": "archived_until_escalating"}, T),)


@pytest.mark.parametrize("current", [s for s in STATES if s != (2, 4)])
def test_t4_stores_a_count_snooze_from_the_current_times_seen(current: tuple) -> None:
    before = group(*current)
    applied = apply_status_change(before, StatusRequest(2, 4, snooze_count=5, update_date=UPDATE), t=T)
    moved(before, applied.state, 2, 4)
    state = applied.state
    assert (state.snooze_count, state.times_seen_at_snooze, state.snooze_until) == (5, 3, None)
    assert applied.outcome is Outcome.APPLIED
    assert applied.activities == (Activity(ActivityType.SET_IGNORED, {
        "substatus": "archived_until_condition_met", "snooze": {"count": 5}}, UPDATE),)


def test_t4_stores_a_time_snooze() -> None:
    until = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    applied = apply_status_change(group(1, None), StatusRequest(2, 4, snooze_until=until), t=T)
    state = applied.state
    assert (state.snooze_count, state.times_seen_at_snooze, state.snooze_until) == (None, None, until)
    assert applied.activities == (Activity(ActivityType.SET_IGNORED, {
        "substatus": "archived_until_condition_met", "snooze": {"until": "2023-11-14T22:13:20.000000Z"}}, T),)


def test_t4_without_a_snooze_waits_for_the_producer() -> None:  # spec §14.4
    applied = apply_status_change(group(), StatusRequest(2, 4, activity_data={"why": "flaky"}), t=T)
    moved(group(), applied.state, 2, 4)
    assert (applied.state.snooze_count, applied.state.snooze_until) == (None, None)
    assert applied.activities == (Activity(ActivityType.SET_IGNORED, {
        "why": "flaky", "substatus": "archived_until_condition_met"}, T),)


def test_the_rules_own_keys_win_over_activity_data() -> None:  # spec §14.3.1
    change = StatusRequest(2, 4, snooze_count=2, activity_data={"substatus": "x", "snooze": "y", "keep": True})
    (activity,) = apply_status_change(group(), change, t=T).activities
    assert activity.data == {"substatus": "archived_until_condition_met", "snooze": {"count": 2}, "keep": True}


@pytest.mark.parametrize("current", [s for s in STATES if s != (2, 5)])
def test_t5_archives_forever_and_clears_a_snooze(current: tuple) -> None:
    before = snoozed() if current == (2, 4) else group(*current)
    applied = apply_status_change(before, StatusRequest(2, 5), t=T)
    moved(before, applied.state, 2, 5)
    assert applied.activities == (Activity(ActivityType.SET_IGNORED, {"substatus": "archived_forever"}, T),)


# ---------------------------------------------------------------------------------------------- T6, T6b


@pytest.mark.parametrize(("current", "priority", "bumped"), [
    ((2, 1), LOW, MEDIUM), ((2, 4), MEDIUM, HIGH), ((2, 5), HIGH, HIGH)])
def test_t6_an_ignored_group_escalates_with_the_priority_bump(current: tuple, priority: int, bumped: int) -> None:
    before = (snoozed() if current == (2, 4) else group(*current))
    before = replace(before, priority=priority)
    applied = apply_status_change(before, StatusRequest(0, 2, activity_data={"forecast": 7}, update_date=UPDATE),
                                  t=T)
    moved(before, applied.state, 0, 2)
    assert applied.state.priority == bumped and applied.outcome is Outcome.APPLIED
    expected = [Activity(ActivityType.SET_ESCALATING, {"forecast": 7}, UPDATE)]
    if bumped != priority:  # spec §17: SET_PRIORITY only when the value changes
        expected.append(Activity(ActivityType.SET_PRIORITY, {"priority": {MEDIUM: "medium", HIGH: "high"}[bumped],
                                                             "reason": "escalating"}, UPDATE))
    assert applied.activities == tuple(expected)


def test_t6_a_locked_priority_is_not_bumped() -> None:  # spec §17
    before = group(2, 1, priority=LOW, priority_locked_at=1_000.0)
    applied = apply_status_change(before, StatusRequest(0, 2), t=T)
    assert applied.state.priority == LOW
    assert [a.type for a in applied.activities] == [ActivityType.SET_ESCALATING]


def test_the_escalation_bump_raises_low_to_medium_and_anything_else_to_high() -> None:  # spec §17
    assert [escalation_priority(p) for p in (LOW, MEDIUM, HIGH)] == [MEDIUM, HIGH, HIGH]


@pytest.mark.parametrize("current", [(0, 3), (0, 6), (0, 7), (1, None)])
def test_t6b_escalating_a_group_that_is_not_ignored_is_counted_and_changes_nothing(current: tuple) -> None:
    before = group(*current)
    applied = apply_status_change(before, StatusRequest(0, 2, activity_type=ActivityType.SET_ESCALATING), t=T)
    assert (applied.state, applied.outcome, applied.activities) == (before, Outcome.IGNORED_ESCALATION, ())


# -------------------------------------------------------------------------------------------------- T7


@pytest.mark.parametrize("current", [s for s in STATES if s != (0, 6)])
def test_t7_regresses_with_set_regression(current: tuple) -> None:
    before = snoozed() if current == (2, 4) else group(*current)
    applied = apply_status_change(before, StatusRequest(0, 6, activity_data={"event_id": "e" * 32}), t=T)
    moved(before, applied.state, 0, 6)
    assert applied.state.resolved_at is None and applied.state.priority == before.priority
    assert applied.activities == (Activity(ActivityType.SET_REGRESSION, {"event_id": "e" * 32}, T),)


# ---------------------------------------------------------------------------------------------- T8, T9


def test_t8_escalating_to_ongoing_resets_the_initial_priority_with_auto_set_ongoing() -> None:
    before = group(0, 2, priority=HIGH, initial_priority=LOW)
    applied = apply_status_change(before, StatusRequest(0, 3, detector_id=1, update_date=UPDATE), t=T)
    moved(before, applied.state, 0, 3)
    assert applied.state.priority == LOW and applied.outcome is Outcome.APPLIED
    assert applied.activities == (
        Activity(ActivityType.AUTO_SET_ONGOING, {"detector_id": 1}, UPDATE),
        Activity(ActivityType.SET_PRIORITY, {"priority": "low", "reason": "ongoing"}, UPDATE),
    )


def test_t8_keeps_a_locked_priority_and_records_no_unchanged_one() -> None:  # spec §17
    locked = apply_status_change(group(0, 2, priority=HIGH, initial_priority=LOW, priority_locked_at=1.0),
                                 StatusRequest(0, 3), t=T)
    assert locked.state.priority == HIGH and [a.type for a in locked.activities] == [ActivityType.AUTO_SET_ONGOING]
    same = apply_status_change(group(0, 2, priority=LOW, initial_priority=LOW), StatusRequest(0, 3), t=T)
    assert [a.type for a in same.activities] == [ActivityType.AUTO_SET_ONGOING]


@pytest.mark.parametrize("current", [(0, 6), (0, 7), (1, None), (2, 1), (2, 4), (2, 5)])
def test_t9_any_other_state_becomes_ongoing_with_set_unresolved(current: tuple) -> None:
    before = snoozed(priority=HIGH) if current == (2, 4) else group(*current, priority=HIGH)
    applied = apply_status_change(before, StatusRequest(0, 3, activity_data={"by": "detector"}), t=T)
    moved(before, applied.state, 0, 3)
    assert applied.state.priority == HIGH and applied.state.resolved_at is None
    assert applied.activities == (Activity(ActivityType.SET_UNRESOLVED, {"by": "detector"}, T),)


# Every state, and IGNORED/UNTIL_CONDITION_MET (the only one with a snooze, §14.4) with each kind of snooze.
SNOOZES = [(state, {}) for state in STATES] + [
    ((2, 4), {"snooze_count": 4, "times_seen_at_snooze": 2}), ((2, 4), {"snooze_until": 20_000.0})]


@pytest.mark.parametrize(("current", "snooze"), SNOOZES, ids=lambda value: str(value))
@pytest.mark.parametrize("change", list(CHANGES))
def test_every_change_from_every_state_takes_exactly_its_row(current: tuple, change: tuple, snooze: dict) -> None:
    before = group(*current, **snooze)
    applied = apply_status_change(before, StatusRequest(*change), t=T)
    if change == current:
        expected = Outcome.NOOP
        assert applied.state == before  # the snooze stays as it was
    elif change == (0, 2) and current[0] != GroupStatus.IGNORED:
        expected = Outcome.IGNORED_ESCALATION
        assert applied.state == before
    else:
        expected = Outcome.APPLIED
        moved(before, applied.state, *change)
        row = "T8" if change == (0, 3) and current == (0, 2) else CHANGES[change]
        first = {"T2": 1, "T3": 3, "T4": 3, "T5": 3, "T6": 25, "T7": 6, "T8": 24, "T9": 2}[row]
        assert applied.activities[0].type == first
        # A 2/4 without snooze fields stores none: the previous snooze never survives a change of state.
        assert (applied.state.snooze_count, applied.state.snooze_until) == (None, None)
    assert applied.outcome is expected


# ------------------------------------------------------------------------------ the owner's decision


def _decide(state: KeyState, request: StatusRequest, *, offset: int, change_id: str = "c" * 32):
    return decide_status_change(state, change_id=change_id, request=request, group_key=KEY, offset=offset, t=T,
                                seen=None, dedupe_seconds=3600)


def test_the_owner_sends_the_activities_under_ids_from_the_change_and_their_position() -> None:  # spec §18.2
    state = KeyState(offset=0, last_t=2_000.0, group=group(2, 1, priority=LOW))
    decision = _decide(state, StatusRequest(0, 2, update_date=UPDATE), offset=1)
    (change,) = decision.changes
    assert isinstance(change, StatusChange) and change.outcome == "applied" and change.cause_id == "c" * 32
    assert [(a.id, a.type, a.source, a.datetime) for a in change.activities] == [
        (activity_id("c" * 32, 0), ActivityType.SET_ESCALATING, "status_change", UPDATE),
        (activity_id("c" * 32, 1), ActivityType.SET_PRIORITY, "status_change", UPDATE),
    ]
    assert change.group == decision.state.group and change.group.priority == MEDIUM
    assert _decide(state, StatusRequest(0, 2, update_date=UPDATE), offset=1) == decision  # §2.4.7.1


def test_an_activity_only_change_carries_the_unchanged_group_and_its_activity() -> None:  # T1b
    state = KeyState(offset=0, last_t=2_000.0, group=group(1, None))
    decision = _decide(state, StatusRequest(1, None, activity_type=1), offset=1)
    (change,) = decision.changes
    assert decision.outcome is Outcome.ACTIVITY_ONLY and change.outcome == "activity_only"
    assert isinstance(change, StatusChange) and change.group == state.group
    assert [a.type for a in change.activities] == [1] and decision.record_seen


@pytest.mark.parametrize(("current", "change", "outcome"), [((1, None), (1, None), "noop"),
                                                            ((0, 7), (0, 2), "ignored_escalation")])
def test_changes_that_record_nothing_send_only_their_outcome(current: tuple, change: tuple, outcome: str) -> None:
    state = KeyState(offset=0, last_t=2_000.0, group=group(*current))
    decision = _decide(state, StatusRequest(*change), offset=1)
    assert decision.outcome.value == outcome and [c.outcome for c in decision.changes] == [outcome]
    assert decision.state.group == state.group and decision.state.offset == 1


# ------------------------------------------------------------------------------------------- snoozes


def test_a_snooze_survives_occurrences_and_the_table_form() -> None:  # spec §14.4, §12.7 storage side
    state = apply_to_group(snoozed(), FACTS, t=T).state
    assert (state.snooze_count, state.times_seen_at_snooze, state.times_seen) == (10, 2, 4)
    key = KeyState(offset=3, last_t=T, group=state)
    assert KeyState.from_dict(orjson.loads(orjson.dumps(key.to_dict()))) == key


def test_a_group_state_of_the_version_before_decodes_without_a_snooze() -> None:
    # Groups as the version before wrote them to the changelog and the group-changes topic.
    fixture = Path(__file__).parents[2] / "fixtures" / "group-changes-wire.jsonl"
    stored = [line["wire"]["group"] for line in map(orjson.loads, fixture.read_bytes().splitlines())
              if line.get("wire", {}).get("group")]
    assert stored and not any({"snooze_count", "times_seen_at_snooze", "snooze_until"} & g.keys() for g in stored)
    for old in stored:
        decoded = GroupState.from_dict(old)
        assert (decoded.snooze_count, decoded.times_seen_at_snooze, decoded.snooze_until) == (None, None, None)
        assert decoded.to_dict() == old  # and an unsnoozed group keeps that form
    assert group().to_dict().keys() == stored[0].keys()


def test_a_status_change_read_from_its_grouping_message() -> None:
    change = {"new_status": 2, "new_substatus": 4, "snooze_until": "2023-11-14T22:13:20.000000Z",
              "update_date": "2023-11-14T22:13:20.500000Z", "activity_type": None, "activity_data": {"a": 1},
              "detector_id": 9, "snooze_count": None, "id": "x", "fingerprint": ["f"], "project_id": 1}
    request = StatusRequest.from_message(change)
    assert request == StatusRequest(2, 4, activity_data={"a": 1}, detector_id=9, update_date=1_700_000_000.5,
                                    snooze_until=1_700_000_000.0)
    assert StatusRequest(2, 4, **request.extras()) == request


def test_a_status_change_held_for_a_creation_keeps_what_it_asks_and_is_applied_whole() -> None:  # §13.2.5 step 5
    pending = occur(KeyState(), 1, 0).state
    ask = StatusRequest(2, 4, snooze_count=3, activity_data={"why": "noisy"}, update_date=UPDATE)
    held = decide_status_change(pending, change_id="d" * 32, request=ask, group_key=PENDING_KEY, offset=1, t=T,
                                seen=None, dedupe_seconds=3600, raw_key=None, raw="{}")
    assert held.outcome is Outcome.STATUS_WAITING
    assert KeyState.from_dict(orjson.loads(orjson.dumps(held.state.to_dict()))) == held.state
    created = grant(held.state, facts(1).id, 2)
    _, change = created.changes
    assert isinstance(change, StatusChange) and change.outcome == "applied"
    assert (change.group.status, change.group.substatus, change.group.snooze_count) == (2, 4, 3)
    assert change.group.times_seen_at_snooze == 1 and created.state.group == change.group
    assert [(a.id, a.type, a.data, a.datetime) for a in change.activities] == [
        (activity_id("d" * 32, 0), ActivityType.SET_IGNORED,
         {"why": "noisy", "substatus": "archived_until_condition_met", "snooze": {"count": 3}}, UPDATE)]
