"""Applying an occurrence to a group and creating one (spec §12.4–§12.8, §13.3, §17)."""
from __future__ import annotations

from dataclasses import replace

from streams.core.enums import ActivityType, GroupStatus, GroupSubStatus
from streams.core.grouping import (
    Candidate,
    OccurrenceFacts,
    apply_to_group,
    build_message,
    create_group,
)
from streams.core.status import StatusRequest, apply_status_change

KEY = "1:" + "a" * 32
FACTS = OccurrenceFacts(
    id="f" * 32, project_id=1, type_id=2001, title="File I/O on Main Thread", subtitle="open() blocked",
    culprit="app.io.read", level=30, event_id="e" * 32, event_timestamp=1_000.0, platform="python",
    environment="production", priority=None, assignee=None,
)


def candidate(**changes: object) -> Candidate:
    facts = replace(FACTS, **changes)
    return Candidate(creator=facts, latest=facts, times_seen=1, first_seen=facts.event_timestamp,
                     last_seen=facts.event_timestamp, environments=(facts.environment,))


def new_group(**changes: object):
    state, _ = create_group(candidate(**changes), group_key=KEY, generation=0, t=2_000.0, default_priority=25)
    return state


def test_creation_is_unresolved_new_with_the_type_default_priority() -> None:  # spec §13.3.1
    state, activities = create_group(candidate(), group_key=KEY, generation=0, t=2_000.0, default_priority=25)
    assert (state.status, state.substatus) == (GroupStatus.UNRESOLVED, GroupSubStatus.NEW)
    assert state.priority == state.initial_priority == 25
    assert state.substatus_since == state.created_at == 2_000.0
    assert [a.type for a in activities] == [ActivityType.FIRST_SEEN]
    assert activities[0].data == {"priority": "low"}


def test_creation_with_an_assignee_records_first_seen_then_assigned() -> None:  # spec §13.3.2
    _, activities = create_group(candidate(assignee="team:backend"), group_key=KEY, generation=0, t=1.0,
                                 default_priority=50)
    assert [a.type for a in activities] == [ActivityType.FIRST_SEEN, ActivityType.ASSIGNED]
    assert activities[1].data == {"assignee": "backend", "assigneeType": "team"}


def test_a_given_priority_wins_over_the_type_default() -> None:  # spec §4.3
    assert new_group(priority=75).priority == 75


def test_creation_from_a_noise_window_takes_its_count_and_bounds() -> None:  # spec §13.1.8
    counted = Candidate(creator=FACTS, latest=replace(FACTS, title="Latest"), times_seen=3, first_seen=900.0,
                        last_seen=1_100.0, environments=("production",))
    state, _ = create_group(counted, group_key=KEY, generation=0, t=2_000.0, default_priority=25)
    assert (state.times_seen, state.first_seen, state.last_seen, state.title) == (3, 900.0, 1_100.0, "Latest")


def test_next_occurrence_updates_counts_times_and_latest_text() -> None:  # spec §12.4
    state = new_group()
    later = replace(FACTS, event_timestamp=900.0, title="New title", subtitle="", culprit="other", level=40)
    applied = apply_to_group(state, later, t=2_100.0)
    updated = applied.state
    assert updated.times_seen == 2
    assert (updated.first_seen, updated.last_seen) == (900.0, 1_000.0)
    assert (updated.title, updated.culprit, updated.level, updated.message) == ("New title", "other", 40, "New title other")
    assert updated.version == state.version + 1
    assert applied.activities == () and not applied.is_regression


def test_a_resolved_group_regresses() -> None:  # spec §12.5.1
    resolved = apply_status_change(new_group(), StatusRequest(1, None), t=3_000.0).state
    applied = apply_to_group(resolved, FACTS, t=4_000.0)
    assert applied.is_regression
    assert (applied.state.status, applied.state.substatus) == (GroupStatus.UNRESOLVED, GroupSubStatus.REGRESSED)
    assert applied.state.substatus_since == 4_000.0 and applied.state.resolved_at is None
    assert [(a.type, a.data) for a in applied.activities] == [(ActivityType.SET_REGRESSION, {"event_id": "e" * 32})]


def test_an_ignored_group_never_regresses() -> None:  # spec §12.5.3
    ignored = apply_status_change(new_group(), StatusRequest(2, 5), t=3_000.0).state
    applied = apply_to_group(ignored, FACTS, t=4_000.0)
    assert (applied.state.status, applied.state.substatus) == (GroupStatus.IGNORED, 5)
    assert not applied.is_regression and applied.state.times_seen == 2


def test_a_given_priority_changes_the_group_with_an_activity() -> None:  # spec §12.6
    applied = apply_to_group(new_group(), replace(FACTS, priority=75), t=2_100.0)
    assert applied.state.priority == 75 and applied.state.initial_priority == 25
    assert [(a.type, a.data) for a in applied.activities] == [
        (ActivityType.SET_PRIORITY, {"priority": "high", "reason": "issue_platform"})
    ]


def test_the_same_priority_records_nothing() -> None:  # spec §17: only when the value changes
    assert apply_to_group(new_group(), replace(FACTS, priority=25), t=2_100.0).activities == ()


def test_a_locked_priority_is_not_changed_by_occurrences() -> None:  # spec §17
    locked = replace(new_group(), priority_locked_at=1_500.0)
    applied = apply_to_group(locked, replace(FACTS, priority=75), t=2_100.0)
    assert applied.state.priority == 25 and applied.activities == ()


def test_regression_comes_before_the_priority_update() -> None:  # spec §12.6 runs after §12.5
    resolved = apply_status_change(new_group(), StatusRequest(1, None), t=3_000.0).state
    applied = apply_to_group(resolved, replace(FACTS, priority=50), t=4_000.0)
    assert [a.type for a in applied.activities] == [ActivityType.SET_REGRESSION, ActivityType.SET_PRIORITY]


def test_a_new_environment_is_reported_once() -> None:  # spec §12.8
    staging = replace(FACTS, environment="staging")
    first = apply_to_group(new_group(), staging, t=2_100.0)
    assert first.is_new_group_environment
    assert not apply_to_group(first.state, staging, t=2_200.0).is_new_group_environment


def test_message_skips_empty_and_contained_parts_and_keeps_the_first_line() -> None:  # spec §13.3.3
    assert build_message("Slow query", "Slow", "db.run") == "Slow query db.run"
    assert build_message("Title", "", "") == "Title"
    assert build_message("line one\nline two", "x", "") == "line one"
    assert len(build_message("a" * 300, "", "")) == 255


def test_status_change_to_resolved_sets_resolved_at() -> None:  # spec §14.3 T2
    applied = apply_status_change(new_group(), StatusRequest(1, None), t=3_000.0)
    state = applied.state
    assert applied.outcome == "applied"
    assert (state.status, state.substatus, state.resolved_at, state.substatus_since) == (1, None, 3_000.0, 3_000.0)


def test_status_change_equal_to_the_current_state_is_a_noop() -> None:  # spec §14.3 T1
    state = new_group()
    applied = apply_status_change(state, StatusRequest(0, 7), t=3_000.0)
    assert (applied.state, applied.outcome, applied.activities) == (state, "noop", ())
