"""DLQ records read back into entries, the replay marker, and which entries one replay call selects (spec §7)."""
from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from streams.core.dlq import (
    MAX_REPLAY_PER_CALL,
    REPLAY_OF_HEADER,
    MalformedDeadLetter,
    dlq_headers,
    entry_from_record,
    project_id_of,
    replay_headers,
    replay_marker,
    replay_selection,
)
from streams.core.messages import SourceCoordinates
from streams.core.payload import derive_id
from streams.core.rejection import DLQ_MESSAGE_MAX_CHARS, Reason, Rejection

SOURCE = SourceCoordinates("ingest-occurrences", 3, 17)
DLQ_ID = derive_id("ingest-occurrences", 3, 17)
OTHER_ID = derive_id("ingest-occurrences", 4, 1)
AT = 1_780_000_000.123456


def headers(**overrides: object) -> list[tuple[str, bytes]]:
    arguments: dict = dict(dlq_id=DLQ_ID, reason="invalid_field", message="1 invalid field: type: Field required",
                           field="type", stage="ingest", source=SOURCE, at=AT)
    arguments.update(overrides)
    return dlq_headers(**arguments)


def without(name: str) -> list[tuple[str, bytes]]:
    return [(key, value) for key, value in headers() if key != name]


def test_dlq_headers_read_back_into_the_entry_they_describe() -> None:
    value = orjson.dumps({"project_id": 7, "type": "nope"})
    entry = entry_from_record(b"fp-7", value, headers())
    assert entry.id == DLQ_ID
    assert (entry.reason, entry.field, entry.stage) == ("invalid_field", "type", "ingest")
    assert entry.message == "1 invalid field: type: Field required"
    assert (entry.source_topic, entry.source_partition, entry.source_offset) == ("ingest-occurrences", 3, 17)
    assert entry.created_at == datetime.fromtimestamp(AT, UTC)
    assert (entry.key, entry.value) == (b"fp-7", value)
    assert entry.project_id == 7
    assert entry.replay_of is None


def test_the_message_header_is_capped_as_a_rejection_caps_it() -> None:
    # spec §7.1: at most 1024 characters, the same cut whether or not a Rejection built the message
    long = "x" * 5000
    written = dict(headers(message=long))["x-dlq-message"].decode()
    assert len(written) == DLQ_MESSAGE_MAX_CHARS and written.endswith("…")
    assert written == Rejection(Reason.INVALID_FIELD, long).message


def test_x_dlq_at_is_the_spec_timestamp_form() -> None:
    assert dict(headers())["x-dlq-at"] == b"2026-05-28T20:26:40.123456Z"


def test_original_key_and_bytes_are_kept_untouched_even_when_they_are_not_utf8() -> None:
    value = b"\xff\xfe not json \x00"
    entry = entry_from_record(b"\x80\x81", value, headers(reason="invalid_json", field=None))
    assert (entry.key, entry.value, entry.field) == (b"\x80\x81", value, None)


def test_missing_key_and_value_are_kept_as_absent_key_and_empty_value() -> None:
    entry = entry_from_record(None, None, headers())
    assert (entry.key, entry.value, entry.project_id) == (None, b"", None)


def test_api_originated_entry_has_no_partition_or_offset() -> None:
    entry = entry_from_record(None, b"{}", headers(source=SourceCoordinates("api", None, None), stage="grouping"))
    assert (entry.source_topic, entry.source_partition, entry.source_offset) == ("api", None, None)


def test_replay_marker_of_the_input_is_recorded_on_its_dlq_record() -> None:
    entry = entry_from_record(None, b"{}", headers(replay_of=OTHER_ID))
    assert entry.replay_of == OTHER_ID
    assert (REPLAY_OF_HEADER, OTHER_ID.encode()) in headers(replay_of=OTHER_ID)


def test_replay_headers_name_the_replayed_entry() -> None:
    assert replay_marker(replay_headers(DLQ_ID)) == DLQ_ID


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        (DLQ_ID.encode(), DLQ_ID),
        (str.upper(DLQ_ID).encode(), DLQ_ID),
        (f"{DLQ_ID[:8]}-{DLQ_ID[8:12]}-{DLQ_ID[12:16]}-{DLQ_ID[16:20]}-{DLQ_ID[20:]}".encode(), DLQ_ID),
        (b"not-an-id", None),
        (b"", None),
        (b"\xff" * 32, None),
        (None, None),
    ],
)
def test_replay_marker_is_a_dlq_id_or_nothing(marker: bytes | None, expected: str | None) -> None:
    assert replay_marker([("other", b"x"), (REPLAY_OF_HEADER, marker)]) == expected


def test_headers_given_as_a_mapping_read_the_same() -> None:
    assert entry_from_record(None, b"{}", dict(headers())) == entry_from_record(None, b"{}", headers())


def test_repeated_and_null_headers_take_the_first_value_present() -> None:
    repeated = [("x-dlq-reason", None), *headers(), ("x-dlq-reason", b"invalid_json")]
    assert entry_from_record(None, b"{}", repeated).reason == "invalid_field"


@pytest.mark.parametrize("name", ["x-dlq-id", "x-dlq-reason", "x-dlq-stage", "x-dlq-source-topic", "x-dlq-at"])
def test_record_without_a_required_header_is_not_a_dead_letter_of_ours(name: str) -> None:
    with pytest.raises(MalformedDeadLetter, match=name):
        entry_from_record(None, b"{}", without(name))


def test_record_without_any_headers_is_not_a_dead_letter_of_ours() -> None:
    with pytest.raises(MalformedDeadLetter):
        entry_from_record(None, b"{}", None)


@pytest.mark.parametrize(
    ("name", "value"),
    [("x-dlq-id", b"12345"), ("x-dlq-at", b"yesterday"), ("x-dlq-source-partition", b"three"),
     ("x-dlq-source-offset", b"1.5")],
)
def test_record_with_a_malformed_header_is_not_a_dead_letter_of_ours(name: str, value: bytes) -> None:
    with pytest.raises(MalformedDeadLetter, match=name):
        entry_from_record(None, b"{}", [*without(name), (name, value)])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'{"project_id": 1}', 1),
        (b'{"project_id": 9223372036854775807}', 2**63 - 1),
        (b'{"project_id": 9223372036854775808}', None),
        (b'{"project_id": 0}', None),
        (b'{"project_id": -4}', None),
        (b'{"project_id": "1"}', None),
        (b'{"project_id": 1.0}', None),
        (b'{"project_id": true}', None),
        (b'{"project_id": null}', None),
        (b"{}", None),
        (b"[1]", None),
        (b'{"project_id": 1', None),
        (b"\xff", None),
        (b"", None),
    ],
)
def test_project_id_is_listed_only_when_the_payload_has_a_usable_integer_one(value: bytes, expected: int | None) -> None:
    assert project_id_of(value) == expected


def test_replay_by_reason_defaults_to_the_per_call_maximum() -> None:
    selection = replay_selection(reason="event_not_found")
    assert (selection.by_ids, selection.reason, selection.project_id, selection.limit) == (
        False, "event_not_found", None, MAX_REPLAY_PER_CALL,
    )


@pytest.mark.parametrize("limit", [1, MAX_REPLAY_PER_CALL])
def test_replay_limit_at_the_edges_is_accepted(limit: int) -> None:
    assert replay_selection(reason="event_not_found", project_id=3, limit=limit).limit == limit


@pytest.mark.parametrize("limit", [0, -1, MAX_REPLAY_PER_CALL + 1])
def test_replay_limit_past_the_edges_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        replay_selection(reason="event_not_found", limit=limit)


def test_replay_by_ids_normalises_and_deduplicates_them() -> None:
    hyphenated = f"{OTHER_ID[:8]}-{OTHER_ID[8:12]}-{OTHER_ID[12:16]}-{OTHER_ID[16:20]}-{OTHER_ID[20:]}"
    selection = replay_selection(ids=[DLQ_ID, hyphenated.upper(), DLQ_ID])
    assert selection.by_ids and selection.ids == (DLQ_ID, OTHER_ID)


def test_replay_of_exactly_the_maximum_number_of_ids_is_accepted() -> None:
    ids = [derive_id("t", 0, offset) for offset in range(MAX_REPLAY_PER_CALL)]
    assert len(replay_selection(ids=ids).ids) == MAX_REPLAY_PER_CALL


def test_replay_of_more_ids_than_the_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 1000"):
        replay_selection(ids=[derive_id("t", 0, offset) for offset in range(MAX_REPLAY_PER_CALL + 1)])


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"ids": [DLQ_ID], "reason": "invalid_json"},
        {"ids": [DLQ_ID], "project_id": 1},
        {"ids": [DLQ_ID], "limit": 5},
        {"ids": ["not-an-id"]},
        {"reason": "invalid_json", "project_id": 0},
    ],
    ids=["nothing", "ids-and-reason", "ids-and-project", "ids-and-limit", "malformed-id", "project-zero"],
)
def test_replay_request_that_selects_nothing_clear_is_refused(arguments: dict) -> None:
    with pytest.raises(ValueError):
        replay_selection(**arguments)
