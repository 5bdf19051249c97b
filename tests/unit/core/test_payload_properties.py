"""Property tests: parse_payload never raises, whatever the bytes, and what it accepts re-serialises (spec §3.2)."""
from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.payload import Occurrence, StatusChange, parse_payload
from streams.core.rejection import Reason, Rejection
from tests.unit.core.test_payload import is_registered, occurrence_doc, status_change_doc

MODEST = settings(max_examples=250, deadline=None)

# Values near the rules' edges, so that random documents often get past the early checks.
INTERESTING = st.sampled_from([
    "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "{0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9}", "2026-11-22T08:05:00Z",
    "2026-11-22T08:05:00", "occurrence", "status_change", "user:1", "team:x y", "info", "WARNING", "",
    0, 1, 2, 3, 4, 7, 25, 50, 75, 2001, 2**63 - 1, 2**63, -1, 1.0, 1e300, -0.0, True, False, None,
])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson can read back as an int
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | INTERESTING
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)

OCCURRENCE_KEYS = sorted(set(occurrence_doc()) | {
    "payload_type", "culprit", "level", "evidence_data", "priority", "initial_issue_priority", "assignee",
    "resource_id", "event_id",
})
EVENT_KEYS = sorted(set(occurrence_doc()["event"]) | {
    "received", "tags", "environment", "release", "dist", "server_name", "trace_id", "transaction", "contexts",
})
STATUS_CHANGE_KEYS = sorted(set(status_change_doc()) | {
    "id", "update_date", "activity_type", "activity_data", "detector_id", "snooze_count", "snooze_until",
})


def check(raw: bytes) -> None:
    result = parse_payload(raw, is_registered_type=is_registered)
    if isinstance(result, Rejection):
        assert isinstance(result.reason, Reason)
        assert isinstance(result.message, str) and len(result.message) <= 1024
        assert result.field is None or isinstance(result.field, str)
    else:
        assert isinstance(result, Occurrence | StatusChange)
        # what is accepted must travel on: the grouping message is orjson of this dict
        orjson.dumps({"envelope": [result.to_json_dict()]})


@MODEST
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    check(raw)


@MODEST
@given(JSON)
def test_arbitrary_json_values_never_raise(value: Any) -> None:
    check(orjson.dumps(value))


@MODEST
@given(st.dictionaries(st.sampled_from(OCCURRENCE_KEYS + STATUS_CHANGE_KEYS), JSON, max_size=12))
def test_arbitrary_objects_with_payload_keys_never_raise(document: dict[str, Any]) -> None:
    check(orjson.dumps(document))


@MODEST
@given(st.sampled_from(OCCURRENCE_KEYS), JSON)
def test_occurrence_with_one_field_replaced_never_raises(key: str, value: Any) -> None:
    check(orjson.dumps(occurrence_doc() | {key: value}))


@MODEST
@given(st.sampled_from(EVENT_KEYS), JSON)
def test_occurrence_with_one_event_field_replaced_never_raises(key: str, value: Any) -> None:
    document = occurrence_doc()
    document["event"][key] = value
    check(orjson.dumps(document))


@MODEST
@given(st.sampled_from(STATUS_CHANGE_KEYS), JSON)
def test_status_change_with_one_field_replaced_never_raises(key: str, value: Any) -> None:
    check(orjson.dumps(status_change_doc() | {key: value}))


@MODEST
@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0, max_value=200))
def test_valid_payload_with_bytes_spliced_in_never_raises(junk: bytes, at: int) -> None:
    raw = orjson.dumps(occurrence_doc())
    at = min(at, len(raw))
    check(raw[:at] + junk + raw[at:])


@MODEST
@given(st.lists(st.text(max_size=40), min_size=1, max_size=16), st.sampled_from([None, "", "info", "fatal"]))
def test_any_non_empty_fingerprint_strings_are_accepted_and_hashed(parts: list[str], level: str | None) -> None:
    parts = [part or "x" for part in parts]
    result = parse_payload(
        orjson.dumps(occurrence_doc() | {"fingerprint": parts, "level": level}), is_registered_type=is_registered
    )
    assert isinstance(result, Occurrence)
    assert len(result.fingerprint) == len(parts)
    assert all(len(h) == 32 for h in result.fingerprint)
