"""The owner's decision for API mutations (spec §20.8, §20.9): updates, API status changes and deletes, with the
priority lock (§17), their activities (§18.3), at-most-once by change id (§2.4, §12.3), and a delete after which
the key's next group starts afresh, noise gate included (§19, §2.4.5)."""
from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from storage.changes import GroupDeletion, InputNoop, StatusChange, UpdateChange, change_from_wire
from storage.sink_plan import BatchPlan, ChangeRecord
from streams.core.decide import activity_id
from streams.core.enums import ActivityType
from streams.core.group_state import KeyState, SeenRecord
from streams.core.grouping import Activity, Outcome
from streams.core.messages import api_status_change_message, decode, delete_message, encode, is_api_message
from streams.core.mutations import (
    UpdateRequest,
    apply_update,
    decide_api_status_change,
    decide_delete,
    decide_update,
)
from streams.core.noise import NoiseCount, NoiseState, count_in_window, noise_gate
from streams.core.status import StatusRequest
from tests.unit.core.test_decide import KEY, NOISE_3, created_state, facts, grant, occur

T = 5_000.0
CHANGE = "c" * 32
LOW, MEDIUM, HIGH = 25, 50, 75


def live() -> KeyState:
    state = created_state()
    assert state.group is not None and state.group.priority == LOW and state.offset == 1
    return state


def update(state: KeyState, request: UpdateRequest, offset: int = 10, *, generation: int = 0,
           seen: SeenRecord | None = None, change_id: str = CHANGE, t: float = T):
    return decide_update(state, change_id=change_id, request=request, generation=generation, group_key=KEY,
                         offset=offset, t=t, seen=seen, dedupe_seconds=3600)


def status(state: KeyState, request: StatusRequest, offset: int = 10, *, generation: int = 0,
           seen: SeenRecord | None = None):
    return decide_api_status_change(state, change_id=CHANGE, request=request, generation=generation, group_key=KEY,
                                    offset=offset, t=T, seen=seen, dedupe_seconds=3600)


def delete(state: KeyState, offset: int = 10, *, generation: int = 0):
    return decide_delete(state, change_id=CHANGE, generation=generation, group_key=KEY, offset=offset, t=T,
                         seen=None, dedupe_seconds=3600)


# ----------------------------------------------------------------------------------------------- update rules


def test_an_api_priority_sets_and_locks_it_with_a_user_activity() -> None:  # spec §17, §20.8.1
    group = live().group
    assert group is not None
    updated, activities = apply_update(group, UpdateRequest(priority=HIGH), t=T)
    assert (updated.priority, updated.priority_locked_at, updated.version) == (HIGH, T, group.version + 1)
    assert activities == (Activity(ActivityType.SET_PRIORITY, {"priority": "high", "reason": "user"}, T),)


def test_an_equal_priority_still_locks_but_records_nothing() -> None:  # spec §20.8.1
    group = live().group
    assert group is not None
    updated, activities = apply_update(group, UpdateRequest(priority=LOW), t=T)
    assert (updated.priority, updated.priority_locked_at, activities) == (LOW, T, ())
    assert updated.version == group.version + 1  # the lock is a change the sink must store


def test_assigning_and_unassigning_record_their_activities_and_an_equal_assignee_nothing() -> None:  # §18.3
    group = live().group
    assert group is not None
    assigned, activities = apply_update(group, UpdateRequest(assign=True, assignee="team:ops"), t=T)
    assert assigned.assignee == "team:ops"
    assert activities == (Activity(ActivityType.ASSIGNED, {"assignee": "ops", "assigneeType": "team"}, T),)
    same, none = apply_update(assigned, UpdateRequest(assign=True, assignee="team:ops"), t=T + 1)
    assert (same, none) == (assigned, ())
    cleared, activities = apply_update(assigned, UpdateRequest(assign=True, assignee=None), t=T + 2)
    assert cleared.assignee is None and activities == (Activity(ActivityType.UNASSIGNED, {}, T + 2),)


def test_a_locked_priority_is_not_moved_by_an_escalation() -> None:  # spec §17
    state = update(live(), UpdateRequest(priority=LOW)).state
    escalated = status(replace(state, group=replace(state.group, status=2, substatus=1)),  # type: ignore[arg-type]
                       StatusRequest(0, 2), offset=11)
    assert escalated.state.group is not None and escalated.state.group.priority == LOW
    (change,) = escalated.changes
    assert isinstance(change, StatusChange) and [a.type for a in change.activities] == [ActivityType.SET_ESCALATING]


# ------------------------------------------------------------------------------------------------ decisions


def test_an_update_sends_one_update_change_naming_its_api_change() -> None:  # spec §20.8.4, §18.2
    decision = update(live(), UpdateRequest(priority=HIGH, assign=True, assignee="user:7"))
    assert decision.outcome is Outcome.APPLIED and decision.record_seen
    (change,) = decision.changes
    assert isinstance(change, UpdateChange) and change.api_change == CHANGE and change.cause_id == CHANGE
    assert [(a.id, a.type, a.source, a.actor) for a in change.activities] == [
        (activity_id(CHANGE, 0), ActivityType.SET_PRIORITY, "api", "api"),
        (activity_id(CHANGE, 1), ActivityType.ASSIGNED, "api", "api"),
    ]
    assert decision.state.group == change.group and decision.state.offset == 10


def test_an_update_that_changes_nothing_still_sends_its_outcome() -> None:  # spec §20.8.4: ?wait=1 sees it
    decision = update(live(), UpdateRequest(assign=True, assignee=None))
    assert decision.outcome is Outcome.NOOP
    assert decision.changes == (InputNoop(outcome="noop", t=T, group_key=KEY, project_id=1, api_change=CHANGE),)


def test_an_api_status_change_takes_its_section_14_row_with_api_activities() -> None:  # spec §20.8.2, §14.3
    decision = status(live(), StatusRequest(1, None))
    (change,) = decision.changes
    assert isinstance(change, StatusChange) and change.api_change == CHANGE
    assert (change.group.status, change.group.resolved_at) == (1, T)
    assert [(a.type, a.source, a.actor) for a in change.activities] == [(ActivityType.SET_RESOLVED, "api", "api")]
    again = status(decision.state, StatusRequest(1, None), offset=11)  # T1
    assert again.outcome is Outcome.NOOP and isinstance(again.changes[0], InputNoop)


def test_an_api_snooze_is_kept_in_the_group() -> None:  # spec §14.4, §20.8.2
    decision = status(live(), StatusRequest(2, 4, snooze_count=5))
    group = decision.state.group
    assert group is not None and (group.status, group.substatus, group.snooze_count) == (2, 4, 5)


@pytest.mark.parametrize("decide", [
    lambda s, **kw: update(s, UpdateRequest(priority=HIGH), **kw),
    lambda s, **kw: status(s, StatusRequest(1, None), **kw),
    lambda s, **kw: delete(s, **kw),
])
def test_a_change_for_another_generation_is_not_applied_to_the_new_group(decide) -> None:  # spec §2.4.5
    state = live()
    decision = decide(state, generation=1)
    assert decision.outcome is Outcome.GROUP_NOT_FOUND and decision.state.group == state.group
    assert [(c.outcome, c.api_change) for c in decision.changes] == [("group_not_found", CHANGE)]
    assert decision.rejection is None  # an API message is no input: nothing to dead-letter


def test_a_retried_request_is_applied_at_most_once() -> None:  # spec §2.4, §12.3
    first = update(live(), UpdateRequest(priority=HIGH))
    retried = update(first.state, UpdateRequest(priority=HIGH), offset=11, t=T + 30,
                     seen=SeenRecord(t=first.t, offset=10))
    assert retried.outcome is Outcome.DUPLICATE and retried.state.group == first.state.group
    assert [(c.outcome, c.api_change) for c in retried.changes] == [("duplicate", CHANGE)]


def test_a_message_read_again_is_skipped() -> None:  # spec §2.3.2
    first = update(live(), UpdateRequest(priority=HIGH))
    again = update(first.state, UpdateRequest(priority=MEDIUM), offset=10)
    assert again.outcome is Outcome.REDELIVERED and again.changes == () and again.state == first.state


def test_t_prime_is_monotonic_for_api_changes() -> None:  # spec §0.2
    state = replace(live(), last_t=T + 100)
    decision = update(state, UpdateRequest(priority=HIGH))
    assert decision.t == T + 100 and decision.state.group.priority_locked_at == T + 100  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------------ delete


def test_a_delete_removes_the_group_and_the_next_occurrence_creates_the_next_generation() -> None:  # §19, §2.4.5
    deleted = delete(live())
    assert deleted.outcome is Outcome.DELETED and deleted.record_seen
    assert deleted.changes == (GroupDeletion(t=T, group_key=KEY, project_id=1, generation=0, api_change=CHANGE),)
    state = deleted.state
    assert (state.group, state.generation, state.noise_floor, state.offset) == (None, 1, 10, 10)
    again = occur(state, 5, 11)
    assert again.outcome is Outcome.PENDING_QUOTA and again.quota_request is not None  # the quota again
    created = grant(again.state, facts(5).id, 12)
    assert created.outcome is Outcome.CREATED and created.state.group is not None
    assert created.state.group.generation == 1 and created.state.group.times_seen == 1


def test_after_a_delete_the_noise_counted_before_is_not_counted_again() -> None:  # spec §19: noise included
    deleted = delete(live(), offset=10)
    before = NoiseState(**count_in_window(count_in_window(None, NoiseCount(1.0, 2_000.0, 1008, 3)),
                                          NoiseCount(1.0, 2_001.0, 1008, 4)))  # 2 counted before the group
    first = occur(deleted.state, 6, 11, rules=NOISE_3, type_id=1008, noise=before)
    assert first.outcome is Outcome.HELD_BACK  # counted from 1 again, not 3
    assert first.count_noise is not None and first.count_noise.floor == 10
    # The table write of that contribution starts the window again, as the decision did.
    after = NoiseState(**count_in_window(before.to_dict(), first.count_noise))
    assert (after.count, after.offset) == (1, 11)
    second = occur(first.state, 7, 12, rules=NOISE_3, type_id=1008, noise=after)
    assert second.outcome is Outcome.HELD_BACK
    third_window = NoiseState(**count_in_window(after.to_dict(), second.count_noise))  # type: ignore[arg-type]
    third = occur(second.state, 8, 13, rules=NOISE_3, type_id=1008, noise=third_window)
    assert third.outcome is Outcome.PENDING_QUOTA


def test_a_window_without_a_delete_counts_as_before() -> None:
    before = NoiseState(**count_in_window(None, NoiseCount(1.0, 1.0, 1008, 3)))
    assert noise_gate(before, limit=3, type_id=1008, event_timestamp=1.0, t=2.0, offset=4).deciding.count == 2


def test_the_noise_floor_is_stored_only_for_a_key_with_a_deleted_group() -> None:  # value size unchanged
    assert "noise_floor" not in live().to_dict()
    state = delete(live()).state
    assert state.to_dict()["noise_floor"] == 10
    assert KeyState.from_dict(orjson.loads(orjson.dumps(state.to_dict()))) == state


# --------------------------------------------------------------------------------------------- wire, sink


def test_api_changes_survive_the_wire_and_other_changes_keep_their_form() -> None:
    update_change = update(live(), UpdateRequest(priority=HIGH)).changes[0]
    deletion = delete(live()).changes[0]
    noop = update(live(), UpdateRequest(assign=True, assignee=None)).changes[0]
    for change in (update_change, deletion, noop):
        assert change_from_wire(orjson.loads(orjson.dumps(change.to_wire()))) == change
    assert update_change.to_wire()["kind"] == "update" and deletion.to_wire()["kind"] == "delete"
    plain = InputNoop(outcome="noop", t=T, group_key=KEY, project_id=1)
    assert "api_change" not in plain.to_wire()


def test_the_sink_plans_the_deletions_and_records_each_api_outcome_once() -> None:  # spec §20.9, §20.8.4
    update_change = update(live(), UpdateRequest(priority=HIGH)).changes[0]
    deletion = delete(live(), offset=11).changes[0]
    records = [ChangeRecord(0, 5, update_change), ChangeRecord(0, 6, deletion), ChangeRecord(0, 7, deletion)]
    plan = BatchPlan(records)
    assert plan.deletions == [(KEY, 0)]
    assert plan.api_change_rows == [(CHANGE, KEY, "applied")]  # one id: the first outcome of it wins


def test_api_messages_are_told_apart_from_inputs() -> None:
    message = decode(encode(api_status_change_message(change_id=CHANGE, generation=2, t=T, new_status=2,
                                                      new_substatus=4, snooze_until=T + 60)))
    assert is_api_message(message) and message["status_change"]["snooze_until"] == "1970-01-01T01:24:20.000000Z"
    assert StatusRequest.from_message(message["status_change"]).snooze_until == T + 60
    assert is_api_message(delete_message(change_id=CHANGE, generation=0, t=T))
