"""Automatic tickets' pure decisions (spec §24.5): which activities ask for a ticket, the claim id, the retries."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.core.payload import ID_NAMESPACE
from streams.core.postprocess import activity_message
from streams.core.tracker_auto import (
    FAILED,
    IN_DOUBT,
    PENDING,
    after_failure,
    claim_id,
    matching_trigger,
    retry_delay,
    trigger_of,
)

AUTO = {"on": ["new", "regression"], "min_priority": "high", "types": None}


def activity(kind: int = 9, priority: int = 75, type_id: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"id": "a" * 32, "group_id": 3, "project_id": 1, "type": kind, "priority": priority}
    if type_id is not None:
        message["type_id"] = type_id
    return message


def test_the_claim_id_is_uuid5_of_group_and_tracker_as_32_hex() -> None:
    assert claim_id(42, "github") == uuid.uuid5(ID_NAMESPACE, "42:github").hex
    assert len(claim_id(42, "github")) == 32
    assert claim_id(42, "github") != claim_id(42, "gitlab") != claim_id(43, "github")


@pytest.mark.parametrize(("kind", "trigger"), [(9, "new"), (6, "regression"), (25, "escalating"), (7, None),
                                               (1, None), (True, None), ("9", None)])
def test_first_seen_regression_and_escalating_are_the_triggers(kind: Any, trigger: str | None) -> None:
    assert trigger_of({"type": kind}) == trigger


def test_an_activity_matches_on_trigger_priority_and_type() -> None:
    assert matching_trigger(AUTO, activity()) == "new"
    assert matching_trigger(AUTO, activity(kind=6)) == "regression"
    assert matching_trigger(AUTO, activity(kind=25)) is None  # escalating not in `on`
    assert matching_trigger(AUTO, activity(priority=50)) is None  # below min_priority
    assert matching_trigger({**AUTO, "min_priority": "medium"}, activity(priority=50)) == "new"
    assert matching_trigger({**AUTO, "min_priority": "low"}, activity(priority=25)) == "new"
    assert matching_trigger({**AUTO, "types": [1, 2]}, activity(type_id=2)) == "new"
    assert matching_trigger({**AUTO, "types": [1, 2]}, activity(type_id=3)) is None
    # A message of an older worker without type_id: only `types: null` takes it.
    assert matching_trigger({**AUTO, "types": [1]}, activity(type_id=None)) is None
    assert matching_trigger(AUTO, activity(type_id=None)) == "new"


@pytest.mark.parametrize("auto_create", [None, {}, {"on": [], "min_priority": "low", "types": None},
                                         {"on": ["new"], "min_priority": "urgent", "types": None}])
def test_no_or_an_unusable_auto_create_matches_nothing(auto_create: dict[str, Any] | None) -> None:
    assert matching_trigger(auto_create, activity()) is None


def test_a_missing_or_odd_priority_matches_nothing() -> None:
    assert matching_trigger(AUTO, {**activity(), "priority": None}) is None
    assert matching_trigger(AUTO, {**activity(), "priority": True}) is None


def test_the_activity_message_carries_the_groups_type_id() -> None:  # spec §18.2
    change = {"cause_id": "c" * 32, "group": {"project_id": 1, "type_id": 9801, "status": 0, "substatus": 3,
                                              "priority": 75}}
    record = {"id": "d" * 32, "type": 9, "data": {"priority": "high"}, "datetime": 1_700_000_000.0,
              "source": "occurrence"}
    message = activity_message(change=change, activity=record, group_id=5, short_id=1, project_slug="p")
    assert message["type_id"] == 9801
    assert matching_trigger({"on": ["new"], "min_priority": "high", "types": [9801]}, message) == "new"


def test_the_retry_delay_doubles_from_one_second_to_ten_minutes() -> None:
    delays = [retry_delay(attempts).total_seconds() for attempts in range(1, 13)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
    assert retry_delay(0) == timedelta(seconds=1)
    assert retry_delay(10_000) == timedelta(minutes=10)


NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def test_a_failure_that_proves_nothing_is_retried_with_backoff_then_fails_after_a_day() -> None:
    update = after_failure(attempts=3, created_at=NOW - timedelta(minutes=1), now=NOW, in_doubt=False,
                           can_search=False)
    assert (update.state, update.next_attempt_at, update.in_doubt) == (PENDING, NOW + timedelta(seconds=4), False)
    late = after_failure(attempts=200, created_at=NOW - timedelta(hours=23, minutes=55), now=NOW, in_doubt=False,
                         can_search=True)
    assert late.state == FAILED


def test_an_in_doubt_failure_searches_next_time_or_waits_for_a_person() -> None:
    searchable = after_failure(attempts=1, created_at=NOW, now=NOW, in_doubt=True, can_search=True)
    assert (searchable.state, searchable.next_attempt_at, searchable.in_doubt) == (
        PENDING, NOW + timedelta(seconds=1), True)
    blind = after_failure(attempts=1, created_at=NOW, now=NOW, in_doubt=True, can_search=False)
    assert (blind.state, blind.in_doubt) == (IN_DOUBT, True)
    late = after_failure(attempts=200, created_at=NOW - timedelta(hours=24), now=NOW, in_doubt=True, can_search=True)
    assert late.state == IN_DOUBT  # never `failed` while a ticket may exist
