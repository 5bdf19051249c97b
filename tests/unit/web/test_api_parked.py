"""GET /api/0/parked/ (spec §2.4.12): the `status` parameter and how a parked sink change is shown."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from storage.changes import IngestDrop, encode_change
from storage.parked import StoredParkedChange
from streams.web.errors import ApiError
from streams.web.issues import parse_parked_status
from streams.web.parked_retry import parse_retry_body
from streams.web.serialize import parked_json

AT = datetime(2026, 11, 25, 12, 34, 56, tzinfo=UTC)
CHANGE = IngestDrop(outcome="ingest_disabled", t=1.0, group_key="1:" + "a" * 32, project_id=1, type_id=2001,
                    id="b" * 32)
ROW = StoredParkedChange(
    id=12, topic="issue-platform-group-changes", partition=3, offset=40, group_key=CHANGE.group_key, behind=None,
    error="UniqueViolation: duplicate key value", sqlstate="23505", first_attempt=AT, last_attempt=AT, attempts=2,
    resolved_at=None, change=encode_change(CHANGE),
)


def test_a_parked_change_shows_where_it_came_from_why_it_failed_and_the_change_as_json() -> None:
    assert parked_json(ROW) == {
        "id": "12",
        "source": {"topic": "issue-platform-group-changes", "partition": 3, "offset": 40},
        "groupKey": CHANGE.group_key,
        "status": "parked",
        "behind": None,
        "error": "UniqueViolation: duplicate key value",
        "sqlstate": "23505",
        "attempts": 2,
        "firstAttempt": "2026-11-25T12:34:56.000000Z",
        "lastAttempt": "2026-11-25T12:34:56.000000Z",
        "resolvedAt": None,
        "change": CHANGE.to_wire(),
    }


def test_a_resolved_row_and_one_waiting_behind_another_say_so() -> None:
    shown = parked_json(replace(ROW, behind=38, sqlstate=None, resolved_at=AT))
    assert (shown["status"], shown["behind"], shown["resolvedAt"]) == ("resolved", 38, "2026-11-25T12:34:56.000000Z")


def test_a_change_that_is_not_json_is_shown_as_text_or_base64() -> None:
    assert parked_json(replace(ROW, change=b"not json"))["change"] == "not json"
    shown = parked_json(replace(ROW, change=b"\xff\x00"))
    assert (shown["change"], shown["changeEncoding"]) == ("/wA=", "base64")


def test_the_list_shows_parked_changes_unless_asked_for_resolved_or_all() -> None:
    assert parse_parked_status([]) == "parked"
    assert parse_parked_status([("status", "resolved")]) == "resolved"
    assert parse_parked_status([("status", "all")]) == "all"
    with pytest.raises(ApiError) as raised:
        parse_parked_status([("status", "everything")])
    assert raised.value.status == 400


# POST /api/0/parked/retry/ (spec §2.4.12, §20.4): what a retry body may say.
def test_a_retry_names_ids_as_the_list_shows_them_or_asks_for_all() -> None:
    assert parse_retry_body(b'{"ids": ["12", 7]}') == [12, 7]
    assert parse_retry_body(b'{"all": true}') is None


@pytest.mark.parametrize(("body", "path"), [
    (b"", ""),
    (b"not json", ""),
    (b"[12]", ""),
    (b"{}", ""),
    (b'{"ids": ["1"], "all": true}', ""),
    (b'{"all": false}', "all"),
    (b'{"all": 1}', "all"),
    (b'{"ids": []}', "ids"),
    (b'{"ids": "12"}', "ids"),
    (b'{"ids": ["12", "x"]}', "ids[1]"),
    (b'{"ids": [0]}', "ids[0]"),
    (b'{"ids": [true]}', "ids[0]"),
    (b'{"ids": [1.5]}', "ids[0]"),
    (b'{"ids": ["\xd9\xa3"]}', "ids[0]"),  # an Arabic-Indic digit: isdigit() says yes, int() takes it; refused
    (b'{"ids": ["99999999999999999999"]}', "ids[0]"),
    (b'{"ids": ["1"], "reason": "x"}', "reason"),
])
def test_any_other_retry_body_is_a_400_naming_where(body: bytes, path: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_retry_body(body)
    assert raised.value.status == 400 and raised.value.code == "invalid_body"
    assert raised.value.details["errors"][0]["path"] == path
