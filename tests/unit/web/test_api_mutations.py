"""What a mutation request may ask (spec §20.8, §20.9): every body and parameter error of §20.1.3 that the pure
checks decide, the §20.8.2 status mapping, and the messages a request makes, in order, under deterministic ids."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams.core.mutations import UpdateRequest
from streams.web.errors import ApiError
from streams.web.mutate import parse_wait
from streams.web.mutations import (
    MAX_BULK,
    StatusAsk,
    Target,
    accepted_body,
    change_id,
    parse_bulk_delete_ids,
    parse_bulk_update_targets,
    parse_update_body,
    plan_deletes,
    plan_updates,
    request_key,
)

T = 1_700_000_000.0
TARGETS = [Target(11, "1:" + "a" * 32, 0), Target(12, "1:" + "b" * 32, 3)]


def body(value: Any) -> bytes:
    return value if isinstance(value, bytes) else orjson.dumps(value)


def refused(value: Any) -> ApiError:
    with pytest.raises(ApiError) as raised:
        parse_update_body(body(value))
    assert raised.value.status == 400 and raised.value.code == "invalid_body"
    assert set(raised.value.body()) == {"code", "message", "details"}
    return raised.value


def paths(value: Any) -> list[str]:
    return [error["path"] for error in refused(value).details["errors"]]


# ------------------------------------------------------------------------------------------ §20.8.2 mapping


@pytest.mark.parametrize(("request_body", "expected"), [
    ({"status": "resolved"}, StatusAsk(1, None)),
    ({"status": "resolved", "statusDetails": {}}, StatusAsk(1, None)),
    ({"status": "unresolved", "statusDetails": {}}, StatusAsk(0, 3)),
    ({"status": "unresolved"}, StatusAsk(0, 3)),
    ({"status": "unresolved", "substatus": "ongoing"}, StatusAsk(0, 3)),
    ({"status": "unresolved", "substatus": "escalating"}, StatusAsk(0, 2)),
    ({"status": "unresolved", "substatus": "regressed"}, StatusAsk(0, 6)),
    ({"status": "ignored"}, StatusAsk(2, 5)),
    ({"status": "ignored", "substatus": "archived_forever"}, StatusAsk(2, 5)),
    ({"status": "ignored", "statusDetails": {}}, StatusAsk(2, 5)),
    ({"status": "ignored", "substatus": "archived_until_escalating"}, StatusAsk(2, 1)),
    ({"status": "ignored", "statusDetails": {"ignoreUntilEscalating": True}}, StatusAsk(2, 1)),
    ({"status": "ignored", "substatus": "archived_until_condition_met"}, StatusAsk(2, 4)),
    ({"status": "ignored", "statusDetails": {"ignoreCount": 5}}, StatusAsk(2, 4, snooze_count=5)),
    ({"status": "ignored", "substatus": "archived_until_condition_met", "statusDetails": {"ignoreCount": 5}},
     StatusAsk(2, 4, snooze_count=5)),
    ({"status": "ignored", "statusDetails": {"ignoreUntil": "2030-01-01T00:00:00+01:00"}},
     StatusAsk(2, 4, snooze_until=1_893_452_400.0)),
    ({"status": "ignored", "statusDetails": {"ignoreUntil": 1_893_456_000}},
     StatusAsk(2, 4, snooze_until=1_893_456_000)),
    ({"status": "ignored", "statusDetails": {"ignoreDuration": 30}}, StatusAsk(2, 4, snooze_minutes=30)),
])
def test_each_status_asks_its_status_change(request_body: dict[str, Any], expected: StatusAsk) -> None:
    parsed = parse_update_body(body(request_body))
    assert parsed.status == expected and parsed.update is None and parsed.echo == request_body


def test_ignore_duration_is_counted_from_t() -> None:  # spec §20.8.1: until = T + duration
    assert StatusAsk(2, 4, snooze_minutes=30).until(T) == T + 1800
    assert StatusAsk(2, 4, snooze_until=5.0).until(T) == 5.0


def test_priority_and_assignee_are_one_update() -> None:  # spec §20.8.1
    parsed = parse_update_body(body({"priority": "medium", "assignedTo": "user:42"}))
    assert parsed.status is None and parsed.update == UpdateRequest(priority=50, assign=True, assignee="user:42")
    cleared = parse_update_body(body({"assignedTo": None}))
    assert cleared.update == UpdateRequest(assign=True, assignee=None)
    assert parse_update_body(body({"priority": "low"})).update == UpdateRequest(priority=25)


# ------------------------------------------------------------------------------------------ invalid_body


@pytest.mark.parametrize(("request_body", "expected_paths"), [
    (b"{not json", [""]),
    (b"", [""]),
    ([1, 2], [""]),
    ({}, [""]),
    ({"status": "resolved", "colour": "red"}, ["colour"]),
    ({"hasSeen": True}, ["hasSeen"]),
    ({"status": "closed"}, ["status"]),
    ({"substatus": "ongoing"}, ["substatus"]),
    ({"statusDetails": {"ignoreCount": 2}}, ["statusDetails"]),
    ({"status": "resolved", "substatus": "ongoing"}, ["substatus"]),
    ({"status": "resolved", "statusDetails": {"ignoreCount": 2}}, ["statusDetails"]),
    ({"status": "unresolved", "substatus": "new"}, ["substatus"]),
    ({"status": "unresolved", "substatus": "archived_forever"}, ["substatus"]),
    ({"status": "unresolved", "statusDetails": {"ignoreCount": 2}}, ["statusDetails"]),
    ({"status": "ignored", "substatus": "ongoing"}, ["substatus"]),
    ({"status": "ignored", "substatus": "spam"}, ["substatus"]),
    ({"status": "ignored", "substatus": "archived_forever", "statusDetails": {"ignoreCount": 2}}, ["statusDetails"]),
    ({"status": "ignored", "substatus": "archived_until_escalating", "statusDetails": {"ignoreDuration": 5}},
     ["statusDetails"]),
    ({"status": "ignored", "substatus": "archived_until_condition_met",
      "statusDetails": {"ignoreUntilEscalating": True}}, ["statusDetails"]),
    ({"status": "ignored", "statusDetails": {"ignoreCount": 2, "ignoreDuration": 5}}, ["statusDetails"]),
    ({"status": "ignored", "statusDetails": {"ignoreWindow": 5}}, ["statusDetails.ignoreWindow"]),
    ({"status": "ignored", "statusDetails": []}, ["statusDetails"]),
    ({"status": "ignored", "statusDetails": {"ignoreCount": 0}}, ["statusDetails.ignoreCount"]),
    ({"status": "ignored", "statusDetails": {"ignoreCount": True}}, ["statusDetails.ignoreCount"]),
    ({"status": "ignored", "statusDetails": {"ignoreCount": 2**31}}, ["statusDetails.ignoreCount"]),
    ({"status": "ignored", "statusDetails": {"ignoreDuration": 1.5}}, ["statusDetails.ignoreDuration"]),
    ({"status": "ignored", "statusDetails": {"ignoreUntil": "2030-01-01T00:00:00"}}, ["statusDetails.ignoreUntil"]),
    ({"status": "ignored", "statusDetails": {"ignoreUntilEscalating": False}}, ["statusDetails.ignoreUntilEscalating"]),
    ({"priority": "urgent"}, ["priority"]),
    ({"priority": None}, ["priority"]),
    ({"assignedTo": "bob"}, ["assignedTo"]),
    ({"assignedTo": "user:"}, ["assignedTo"]),
    ({"assignedTo": "user:a b"}, ["assignedTo"]),
    ({"assignedTo": 7}, ["assignedTo"]),
    ({"assignedTo": "user:a\u0000b"}, ["assignedTo"]),  # PostgreSQL refuses NUL: it would park the group
    ({"assignedTo": "team:\u0007bell"}, ["assignedTo"]),
    ({"priority": []}, ["priority"]),
    ({"priority": {}}, ["priority"]),
    ({"status": "ignored", "statusDetails": {"ignoreUntil": "9999-12-31T23:59:59.9999999Z"}},
     ["statusDetails.ignoreUntil"]),
    ({"status": "ignored", "statusDetails": {"ignoreUntil": -5}}, ["statusDetails.ignoreUntil"]),
    ({"status": "closed", "priority": "urgent", "extra": 1}, ["extra", "status", "priority"]),
])
def test_a_bad_body_is_invalid_body_naming_each_problem(request_body: Any, expected_paths: list[str]) -> None:
    assert paths(request_body) == expected_paths


def test_an_error_message_names_the_path() -> None:
    error = refused({"status": "unresolved", "substatus": "new"})
    assert "substatus" in error.message and "new" in error.message


# ------------------------------------------------------------------------------------------ targets


def test_a_bulk_update_takes_ids_or_a_query() -> None:  # spec §20.8.3
    assert parse_bulk_update_targets([("id", "3"), ("id", "4"), ("id", "3")]).ids == ("3", "4")
    assert parse_bulk_update_targets([("query", "is:unresolved")]).query == "is:unresolved"
    assert parse_bulk_update_targets([("query", "")]).query == ""  # empty: every issue (§20.5)


@pytest.mark.parametrize(("params", "parameter"), [
    ([], "id"),
    ([("wait", "1")], "id"),
    ([("id", "1"), ("query", "is:unresolved")], "query"),
    ([("id", str(n)) for n in range(MAX_BULK + 1)], "id"),
])
def test_a_bulk_update_without_one_target_selection_is_invalid_parameter(params: list[tuple[str, str]],
                                                                         parameter: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_bulk_update_targets(params)
    assert (raised.value.status, raised.value.code, raised.value.details) == (400, "invalid_parameter",
                                                                               {"parameter": parameter})


def test_a_bulk_delete_needs_between_one_and_a_thousand_ids() -> None:  # spec §20.9
    assert parse_bulk_delete_ids([("id", str(n)) for n in range(MAX_BULK)]) == tuple(str(n) for n in range(MAX_BULK))
    with pytest.raises(ApiError) as none:
        parse_bulk_delete_ids([("query", "is:unresolved")])
    assert (none.value.status, none.value.code) == (400, "ids_required")
    with pytest.raises(ApiError) as too_many:
        parse_bulk_delete_ids([("id", str(n)) for n in range(MAX_BULK + 1)])
    assert (too_many.value.status, too_many.value.code) == (400, "invalid_parameter")


def test_wait_is_a_flag() -> None:
    assert parse_wait([("wait", "1")]) and parse_wait([("wait", "true")])
    assert not parse_wait([]) and not parse_wait([("wait", "0")])
    with pytest.raises(ApiError) as raised:
        parse_wait([("wait", "soon")])
    assert raised.value.details == {"parameter": "wait"}


def test_an_idempotency_key_is_checked_and_otherwise_a_fresh_one_is_made() -> None:
    assert request_key("order-17") == "order-17"
    assert request_key(None) != request_key(None)
    with pytest.raises(ApiError) as raised:
        request_key("x" * 201)
    assert raised.value.details == {"parameter": "Idempotency-Key"}


# ------------------------------------------------------------------------------------------ messages


def test_a_request_makes_per_group_its_status_change_then_its_update() -> None:  # spec §20.8.2
    parsed = parse_update_body(body({"status": "ignored", "statusDetails": {"ignoreDuration": 10},
                                     "priority": "high"}))
    planned = plan_updates(parsed, TARGETS, t=T, key="k")
    assert [(change.kind, change.target.group_id) for change in planned] == [
        ("status_change", 11), ("update", 11), ("status_change", 12), ("update", 12)]
    status_message, update_message = planned[2].message, planned[3].message
    assert status_message == {"kind": "status_change", "t": T, "generation": 3, "status_change": {
        "id": planned[2].id, "new_status": 2, "new_substatus": 4, "snooze_until": "2023-11-14T22:23:20.000000Z"}}
    assert update_message == {"kind": "update", "t": T, "id": planned[3].id, "generation": 3, "priority": 75}
    assert accepted_body(TARGETS, planned, parsed.echo) == {
        "ids": ["11", "12"],
        "changes": [{"id": change.id, "kind": change.kind, "issue": str(change.target.group_id)}
                    for change in planned],
        "status": "ignored", "statusDetails": {"ignoreDuration": 10}, "priority": "high",
    }


def test_change_ids_are_deterministic_per_request_key_group_and_kind() -> None:  # spec §2.4
    parsed = parse_update_body(body({"priority": "high"}))
    first = plan_updates(parsed, TARGETS, t=T, key="k")
    retried = plan_updates(parsed, TARGETS, t=T + 5, key="k")
    assert [change.id for change in first] == [change.id for change in retried]
    other = plan_updates(parsed, TARGETS, t=T, key="other")
    assert not {change.id for change in first} & {change.id for change in other}
    assert change_id("k", TARGETS[0], "update") != change_id("k", Target(11, TARGETS[0].group_key, 1), "update")


def test_a_delete_makes_one_delete_message_per_group() -> None:  # spec §20.9
    planned = plan_deletes(TARGETS, t=T, key="k")
    assert [change.message for change in planned] == [
        {"kind": "delete", "t": T, "id": planned[0].id, "generation": 0},
        {"kind": "delete", "t": T, "id": planned[1].id, "generation": 3},
    ]
    assert accepted_body(TARGETS, planned)["changes"][0]["kind"] == "delete"
