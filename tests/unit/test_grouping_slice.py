"""The first slice of the grouping decision: create, update, redelivery, type mismatch (spec §12–§13.3)."""
from __future__ import annotations

from dataclasses import replace

from streams.core.enums import GroupStatus, GroupSubStatus
from streams.core.grouping import (
    GroupState,
    OccurrenceFacts,
    Outcome,
    apply_occurrence,
    apply_status_change,
    build_message,
)

KEY = "1:" + "a" * 32
FACTS = OccurrenceFacts(
    id="f" * 32, project_id=1, type_id=2001, title="File I/O on Main Thread", subtitle="open() blocked",
    culprit="app.io.read", level=30, event_id="e" * 32, event_timestamp=1_000.0, platform="python",
    environment="production", priority=None, assignee=None,
)


def create(**changes: object) -> GroupState:
    decision = apply_occurrence(None, replace(FACTS, **changes), group_key=KEY, t=2_000.0, offset=0,
                                default_priority=25)
    assert decision.state is not None
    return decision.state


def test_first_occurrence_creates_an_unresolved_new_group() -> None:  # spec §13.3.1
    decision = apply_occurrence(None, FACTS, group_key=KEY, t=2_000.0, offset=5, default_priority=25)
    assert decision.outcome is Outcome.CREATED and decision.is_new and decision.is_new_group_environment
    state = decision.state
    assert state is not None
    assert (state.status, state.substatus) == (GroupStatus.UNRESOLVED, GroupSubStatus.NEW)
    assert state.times_seen == 1
    assert state.first_seen == state.last_seen == 1_000.0
    assert state.priority == state.initial_priority == 25  # the type's default: no given priority
    assert state.offset == 5 and state.substatus_since == 2_000.0


def test_a_given_priority_wins_over_the_type_default() -> None:  # spec §4.3
    assert create(priority=75).priority == 75


def test_next_occurrence_updates_counts_times_and_latest_text() -> None:  # spec §12.4
    state = create()
    later = replace(FACTS, event_timestamp=900.0, title="New title", subtitle="", culprit="other", level=40)
    decision = apply_occurrence(state, later, group_key=KEY, t=2_100.0, offset=1, default_priority=25)
    assert decision.outcome is Outcome.APPLIED and not decision.is_new
    updated = decision.state
    assert updated is not None
    assert updated.times_seen == 2
    assert (updated.first_seen, updated.last_seen) == (900.0, 1_000.0)
    assert (updated.title, updated.culprit, updated.level) == ("New title", "other", 40)
    assert updated.message == "New title other"
    assert updated.version == state.version + 1


def test_a_redelivered_offset_has_no_effect() -> None:  # spec §2.3.2
    state = create()
    decision = apply_occurrence(state, FACTS, group_key=KEY, t=2_100.0, offset=0, default_priority=25)
    assert decision.outcome is Outcome.REDELIVERED
    assert decision.state == state


def test_an_occurrence_of_another_type_is_a_type_mismatch_and_changes_nothing() -> None:  # spec §12.9
    state = create()
    decision = apply_occurrence(state, replace(FACTS, type_id=2002), group_key=KEY, t=2_100.0, offset=1,
                                default_priority=25)
    assert decision.outcome is Outcome.TYPE_MISMATCH
    assert decision.state == state


def test_decision_time_never_goes_backwards_for_a_key() -> None:  # spec §0.2
    state = create()
    decision = apply_occurrence(state, FACTS, group_key=KEY, t=1_500.0, offset=1, default_priority=25)
    assert decision.t == 2_000.0


def test_a_new_environment_is_reported_once() -> None:  # spec §12.8
    state = create()
    staging = replace(FACTS, environment="staging")
    first = apply_occurrence(state, staging, group_key=KEY, t=2_100.0, offset=1, default_priority=25)
    assert first.is_new_group_environment
    assert first.state is not None
    second = apply_occurrence(first.state, staging, group_key=KEY, t=2_200.0, offset=2, default_priority=25)
    assert not second.is_new_group_environment


def test_message_skips_empty_and_contained_parts_and_keeps_the_first_line() -> None:  # spec §13.3.3
    assert build_message("Slow query", "Slow", "db.run") == "Slow query db.run"
    assert build_message("Title", "", "") == "Title"
    assert build_message("line one\nline two", "x", "") == "line one"
    assert len(build_message("a" * 300, "", "")) == 255


def test_status_change_for_a_missing_group_is_group_not_found() -> None:  # spec §14.3
    assert apply_status_change(None, new_status=1, new_substatus=None, t=1.0, offset=0).outcome is Outcome.GROUP_NOT_FOUND


def test_status_change_to_resolved_sets_resolved_at() -> None:  # spec §14.3 T2
    decision = apply_status_change(create(), new_status=1, new_substatus=None, t=3_000.0, offset=1)
    assert decision.outcome is Outcome.STATUS_CHANGED
    assert decision.state is not None
    assert (decision.state.status, decision.state.substatus, decision.state.resolved_at) == (1, None, 3_000.0)
    assert decision.state.substatus_since == 3_000.0


def test_status_change_equal_to_the_current_state_is_a_noop() -> None:  # spec §14.3 T1
    decision = apply_status_change(create(), new_status=0, new_substatus=7, t=3_000.0, offset=1)
    assert decision.outcome is Outcome.NOOP
