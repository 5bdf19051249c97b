"""Payload validation (spec §3-§7, §14.2): every field rule at its edges, every reason code, the check order."""
from __future__ import annotations

import copy
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.fingerprint import hash_fingerprint, hash_fingerprint_part
from streams.core.payload import (
    ID_NAMESPACE,
    MAX_PAYLOAD_BYTES,
    Event,
    Evidence,
    Occurrence,
    StatusChange,
    derive_id,
    parse_payload,
    uuid5_hex,
    validate_status_change_rules,
)
from streams.core.rejection import Reason, Rejection

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SHARED_FIXTURES = Path("/work/shared/fixtures")

# spec §9.6: the built-in type ids; type 1 (error) is deliberately absent
BUILT_IN_TYPE_IDS = frozenset({
    1001, 1004, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1015, 1016, 1018, 1906,
    2001, 2002, 2003, 2007, 2009, 2011, 4001, 5001, 5002, 5003, 6001, 7001,
})

OCCURRENCE_ID = "8f6c3d2e6a1b4c7d9e0f1a2b3c4d5e6f"
EVENT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
ISO_Z_MICROS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
DROP = object()  # marks a key to remove from a document


def is_registered(type_id: int) -> bool:
    return type_id in BUILT_IN_TYPE_IDS


def occurrence_doc() -> dict[str, Any]:
    return {
        "id": OCCURRENCE_ID,
        "project_id": 1,
        "fingerprint": ["file-io-main-thread:app.io.read_config"],
        "type": 2001,
        "issue_title": "File I/O on Main Thread",
        "subtitle": "open('/etc/app.conf') blocked the UI thread",
        "detection_time": "2026-11-22T08:05:00Z",
        "evidence_display": [{"name": "Duration", "value": "95 ms", "important": True}],
        "event": {
            "event_id": EVENT_ID,
            "project_id": 1,
            "platform": "python",
            "timestamp": "2026-11-22T08:00:00Z",
        },
    }


def status_change_doc() -> dict[str, Any]:
    return {
        "payload_type": "status_change",
        "fingerprint": ["file-io-main-thread:app.io.read_config"],
        "project_id": 1,
        "new_status": 2,
        "new_substatus": 4,
    }


def replaced(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A deep copy of `doc` with the value at `path` set (or removed when `value` is DROP)."""
    result = copy.deepcopy(doc)
    parent: Any = result
    for part in path[:-1]:
        parent = parent[part]
    if value is DROP:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return result


def parse(doc: Any) -> Occurrence | StatusChange | Rejection:
    return parse_payload(orjson.dumps(doc), is_registered_type=is_registered)


def parse_occurrence(doc: dict[str, Any]) -> Occurrence:
    result = parse(doc)
    assert isinstance(result, Occurrence), result
    return result


def parse_status_change(doc: dict[str, Any]) -> StatusChange:
    result = parse(doc)
    assert isinstance(result, StatusChange), result
    return result


def assert_rejected(result: object, reason: Reason, field: str | None) -> Rejection:
    assert isinstance(result, Rejection), f"expected {reason}, got {result!r}"
    assert result.reason == reason, result
    assert result.field == field, result
    if field is not None:
        assert field in result.message, result
    assert len(result.message) <= 1024
    return result


def cases(rows: list[tuple[Any, ...]]) -> list[Any]:
    """Parametrize rows with readable ids: `fingerprint[2]=['a', 'b', 'xxxx…']`."""
    params = []
    for row in rows:
        path = row[0] if isinstance(row[0], tuple) else (row[0],)
        value = "DROP" if row[1] is DROP else repr(row[1])
        value = value if len(value) <= 24 else value[:24] + "…"
        params.append(pytest.param(*row, id=".".join(map(str, path)) + "=" + value))
    return params


def nested(depth: int) -> Any:
    """A JSON value nesting `depth` containers deep (an object on top)."""
    value: Any = 1
    for _ in range(depth - 1):
        value = [value]
    return {"k": value}


def json_of_size(size: int) -> dict[str, str]:
    """An object that is exactly `size` bytes as compact JSON (`{"k":""}` is 8 bytes)."""
    return {"k": "x" * (size - 8)}


# ---------------------------------------------------------------------------------------------------------
# §3.2 rows 1-3: size, JSON, payload_type


def test_payload_of_exactly_one_mib_is_accepted() -> None:
    doc = occurrence_doc()
    doc["padding"] = ""
    doc["padding"] = "x" * (MAX_PAYLOAD_BYTES - len(orjson.dumps(doc)))
    raw = orjson.dumps(doc)
    assert len(raw) == MAX_PAYLOAD_BYTES
    assert isinstance(parse_payload(raw, is_registered_type=is_registered), Occurrence)


def test_payload_one_byte_over_one_mib_is_too_large() -> None:
    doc = occurrence_doc()
    doc["padding"] = ""
    doc["padding"] = "x" * (MAX_PAYLOAD_BYTES + 1 - len(orjson.dumps(doc)))
    result = parse_payload(orjson.dumps(doc), is_registered_type=is_registered)
    assert_rejected(result, Reason.PAYLOAD_TOO_LARGE, None)


def test_size_is_checked_before_parsing() -> None:
    result = parse_payload(b"\xff" * (MAX_PAYLOAD_BYTES + 1), is_registered_type=is_registered)
    assert_rejected(result, Reason.PAYLOAD_TOO_LARGE, None)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b'{"a": 1} x', id="trailing-garbage"),
        pytest.param(b'{"culprit": "caf\xe9"}', id="latin1-not-utf8"),
        pytest.param(b'\xef\xbb\xbf{"a": 1}', id="utf8-bom"),
        pytest.param(b'{"a": NaN}', id="nan"),
        pytest.param(b'{"a": 1e400}', id="infinite-number"),
        pytest.param(b'{"a": "\\ud800"}', id="lone-surrogate"),
        pytest.param(b"[" * 2000 + b"]" * 2000, id="too-deep"),
        pytest.param(b"[]", id="top-level-array"),
        pytest.param(b'"occurrence"', id="top-level-string"),
        pytest.param(b"1", id="top-level-number"),
        pytest.param(b"null", id="top-level-null"),
        pytest.param(b"true", id="top-level-bool"),
    ],
)
def test_not_a_utf8_json_object_is_invalid_json(raw: bytes) -> None:
    assert_rejected(parse_payload(raw, is_registered_type=is_registered), Reason.INVALID_JSON, None)


@pytest.mark.parametrize(
    "payload_type",
    ["Occurrence", "status-change", "", "occurrence ", 1, 0, None, True, [], {}, ["occurrence"]],
)
def test_payload_type_other_than_the_two_names_is_invalid_payload_type(payload_type: Any) -> None:
    result = parse(replaced(occurrence_doc(), ("payload_type",), payload_type))
    assert_rejected(result, Reason.INVALID_PAYLOAD_TYPE, "payload_type")


def test_payload_type_is_checked_before_fields() -> None:
    assert_rejected(parse({"payload_type": "nope"}), Reason.INVALID_PAYLOAD_TYPE, "payload_type")


def test_absent_payload_type_means_occurrence() -> None:
    assert "payload_type" not in occurrence_doc()
    parse_occurrence(occurrence_doc())


def test_explicit_occurrence_payload_type_is_accepted() -> None:
    parse_occurrence(replaced(occurrence_doc(), ("payload_type",), "occurrence"))


def test_unknown_top_level_keys_are_ignored() -> None:
    doc = occurrence_doc() | {"is_buffered_spans": {"anything": [1]}, "future_key": None, "x": [[[]]]}
    parse_occurrence(doc)


# ---------------------------------------------------------------------------------------------------------
# §4.2 occurrence fields (§3.2 row 4)

VALID_OCCURRENCE_FIELDS: list[tuple[tuple[str | int, ...], Any]] = [
    (("id",), "8F6C3D2E-6A1B-4C7D-9E0F-1A2B3C4D5E6F"),
    (("id",), "{8f6c3d2e-6a1b-4c7d-9e0f-1a2b3c4d5e6f}"),
    (("id",), "urn:uuid:8f6c3d2e-6a1b-4c7d-9e0f-1a2b3c4d5e6f"),
    (("project_id",), 1),
    (("project_id",), 2**63 - 1),
    (("fingerprint",), ["a"]),
    (("fingerprint",), ["x" * 1024]),
    (("fingerprint",), [f"part-{i}" for i in range(16)]),
    (("fingerprint",), ["same", "same"]),
    (("type",), 1008),
    (("issue_title",), "x"),
    (("issue_title",), "x" * 1024),
    (("issue_title",), "é" * 1024),
    (("subtitle",), ""),
    (("subtitle",), "x" * 1024),
    (("culprit",), DROP),
    (("culprit",), None),
    (("culprit",), ""),
    (("culprit",), "x" * 5000),
    *((("level",), level) for level in ("sample", "debug", "info", "warning", "error", "fatal", "", None, DROP)),
    (("detection_time",), 0),
    (("detection_time",), -1.5),
    (("detection_time",), 1795334700.25),
    (("detection_time",), 253402300799),
    (("detection_time",), "2026-11-22T08:05:00+05:30"),
    (("detection_time",), "2026-11-22 08:05:00.123456-01:00"),
    (("detection_time",), "2026-11-22T08:05Z"),
    (("detection_time",), "2026-11-22T08:05:00.123456789Z"),
    (("detection_time",), "2026-11-22T08:05:00+0530"),
    (("evidence_display",), []),
    (("evidence_display",), [{"name": f"n{i}", "value": "", "important": False} for i in range(100)]),
    (("evidence_display", 0, "extra"), {"dropped": True}),
    (("evidence_data",), DROP),
    (("evidence_data",), None),
    (("evidence_data",), {}),
    (("evidence_data",), json_of_size(262_144)),
    (("evidence_data",), nested(128)),
    (("priority",), "high"),
    (("initial_issue_priority",), [1]),
    (("assignee",), None),
    (("assignee",), "user:1"),
    (("assignee",), "team:" + "x" * 128),
    (("assignee",), "user:jane@example.com"),
    (("resource_id",), None),
    (("resource_id",), ""),
    (("resource_id",), "x" * 1024),
    (("event_id",), EVENT_ID),
    (("event_id",), None),
    (("is_buffered_spans",), "anything"),
]


@pytest.mark.parametrize(("path", "value"), cases(VALID_OCCURRENCE_FIELDS))
def test_occurrence_field_at_valid_edge_is_accepted(path: tuple[str | int, ...], value: Any) -> None:
    doc = replaced(occurrence_doc(), path, value)
    if path == ("project_id",):
        doc["event"]["project_id"] = value  # §5.2 step 2 wants the same integer in the event
    parse_occurrence(doc)


INVALID_OCCURRENCE_FIELDS: list[tuple[tuple[str | int, ...], Any, str]] = [
    (("id",), DROP, "id"),
    (("id",), None, "id"),
    (("id",), "", "id"),
    (("id",), "not-a-uuid", "id"),
    (("id",), OCCURRENCE_ID[:31], "id"),
    (("id",), OCCURRENCE_ID + "0", "id"),
    (("id",), 123, "id"),
    (("project_id",), DROP, "project_id"),
    (("project_id",), 0, "project_id"),
    (("project_id",), -1, "project_id"),
    (("project_id",), 2**63, "project_id"),
    (("project_id",), True, "project_id"),
    (("project_id",), 1.0, "project_id"),
    (("project_id",), "1", "project_id"),
    (("project_id",), None, "project_id"),
    (("fingerprint",), DROP, "fingerprint"),
    (("fingerprint",), None, "fingerprint"),
    (("fingerprint",), [], "fingerprint"),
    (("fingerprint",), [f"part-{i}" for i in range(17)], "fingerprint"),
    (("fingerprint",), "a", "fingerprint"),
    (("fingerprint",), [""], "fingerprint[0]"),
    (("fingerprint",), ["a", "b", "x" * 1025], "fingerprint[2]"),
    (("fingerprint",), ["a", 1], "fingerprint[1]"),
    (("fingerprint",), ["a", None], "fingerprint[1]"),
    (("type",), DROP, "type"),
    (("type",), None, "type"),
    (("type",), True, "type"),
    (("type",), 2001.0, "type"),
    (("type",), "2001", "type"),
    (("issue_title",), DROP, "issue_title"),
    (("issue_title",), None, "issue_title"),
    (("issue_title",), "", "issue_title"),
    (("issue_title",), "x" * 1025, "issue_title"),
    (("issue_title",), 5, "issue_title"),
    (("subtitle",), DROP, "subtitle"),
    (("subtitle",), None, "subtitle"),
    (("subtitle",), "x" * 1025, "subtitle"),
    (("culprit",), 5, "culprit"),
    (("culprit",), ["a"], "culprit"),
    (("level",), "WARNING", "level"),
    (("level",), "critical", "level"),
    (("level",), 20, "level"),
    (("level",), False, "level"),
    (("detection_time",), DROP, "detection_time"),
    (("detection_time",), None, "detection_time"),
    (("detection_time",), True, "detection_time"),
    (("detection_time",), "2026-11-22T08:05:00", "detection_time"),
    (("detection_time",), "2026-11-22", "detection_time"),
    (("detection_time",), "1795334700", "detection_time"),
    (("detection_time",), "2026-11-22x08:05:00Z", "detection_time"),
    (("detection_time",), "2026-13-22T08:05:00Z", "detection_time"),
    (("detection_time",), "0001-01-01T00:00:00+01:00", "detection_time"),
    (("detection_time",), 1e20, "detection_time"),
    (("detection_time",), 253402300800, "detection_time"),
    (("detection_time",), [1], "detection_time"),
    (("evidence_display",), DROP, "evidence_display"),
    (("evidence_display",), None, "evidence_display"),
    (("evidence_display",), {}, "evidence_display"),
    (("evidence_display",), [{"name": "n", "value": "", "important": False}] * 101, "evidence_display"),
    (("evidence_display",), ["x"], "evidence_display[0]"),
    (("evidence_display", 0, "name"), DROP, "evidence_display[0].name"),
    (("evidence_display", 0, "name"), 1, "evidence_display[0].name"),
    (("evidence_display", 0, "value"), None, "evidence_display[0].value"),
    (("evidence_display", 0, "important"), 1, "evidence_display[0].important"),
    (("evidence_display", 0, "important"), "true", "evidence_display[0].important"),
    (("evidence_display", 0, "important"), DROP, "evidence_display[0].important"),
    (("evidence_data",), [], "evidence_data"),
    (("evidence_data",), "x", "evidence_data"),
    (("evidence_data",), json_of_size(262_145), "evidence_data"),
    (("evidence_data",), nested(129), "evidence_data"),
    (("assignee",), "", "assignee"),
    (("assignee",), "jane", "assignee"),
    (("assignee",), "user:", "assignee"),
    (("assignee",), "user:jane doe", "assignee"),
    (("assignee",), "user:jane\n", "assignee"),
    (("assignee",), "team:" + "x" * 129, "assignee"),
    (("assignee",), "group:1", "assignee"),
    (("assignee",), "User:1", "assignee"),
    (("assignee",), 5, "assignee"),
    (("resource_id",), "x" * 1025, "resource_id"),
    (("resource_id",), 5, "resource_id"),
    (("event_id",), "not-a-uuid", "event_id"),
    (("event_id",), 5, "event_id"),
    (("event",), "event", "event"),
    (("event",), [], "event"),
]


@pytest.mark.parametrize(("path", "value", "field"), cases(INVALID_OCCURRENCE_FIELDS))
def test_occurrence_field_past_its_edge_is_invalid_field(
    path: tuple[str | int, ...], value: Any, field: str
) -> None:
    result = parse(replaced(occurrence_doc(), path, value))
    assert_rejected(result, Reason.INVALID_FIELD, field)


def test_invalid_field_lists_every_error_with_its_path_and_names_the_first() -> None:
    doc = occurrence_doc() | {
        "project_id": "1",
        "fingerprint": ["ok", "", 3],
        "detection_time": "2026-11-22T08:05:00",
        "evidence_display": [{"name": "n", "value": "v", "important": "yes"}],
    }
    del doc["issue_title"]
    result = assert_rejected(parse(doc), Reason.INVALID_FIELD, "project_id")
    for path in ("project_id", "fingerprint[1]", "fingerprint[2]", "issue_title", "detection_time",
                 "evidence_display[0].important"):
        assert f"{path}: " in result.message
    assert result.message.startswith("6 invalid fields: ")


def test_invalid_field_message_is_capped_at_1024_characters() -> None:
    doc = occurrence_doc() | {"evidence_display": [{"name": 1, "value": 2, "important": 3}] * 100}
    result = assert_rejected(parse(doc), Reason.INVALID_FIELD, "evidence_display[0].name")
    assert len(result.message) == 1024
    assert result.message.endswith("…")


def test_rejection_truncates_any_long_message() -> None:
    assert len(Rejection(Reason.GROUP_NOT_FOUND, "x" * 5000, None).message) == 1024
    assert Rejection(Reason.GROUP_NOT_FOUND, "short", None).message == "short"


# ---------------------------------------------------------------------------------------------------------
# §4 normalisation of an accepted occurrence


@pytest.mark.parametrize(
    "given",
    [
        OCCURRENCE_ID,
        OCCURRENCE_ID.upper(),
        "8f6c3d2e-6a1b-4c7d-9e0f-1a2b3c4d5e6f",
        "{8F6C3D2E-6A1B-4C7D-9E0F-1A2B3C4D5E6F}",
        "urn:uuid:8f6c3d2e-6a1b-4c7d-9e0f-1a2b3c4d5e6f",
    ],
)
def test_uuid_inputs_are_normalised_to_32_lowercase_hex(given: str) -> None:
    assert parse_occurrence(occurrence_doc() | {"id": given}).id == OCCURRENCE_ID


def test_fingerprint_is_stored_as_md5_hashes_even_when_it_looks_like_a_hash() -> None:
    parts = ["c4ca4238a0b923820dcc509a6f75849b", "second"]
    doc = occurrence_doc() | {"fingerprint": parts, "project_id": 42}
    doc["event"]["project_id"] = 42
    occurrence = parse_occurrence(doc)
    assert occurrence.fingerprint == hash_fingerprint(parts)
    assert occurrence.fingerprint[0] != parts[0]
    assert occurrence.group_key == f"42:{hash_fingerprint_part(parts[0])}"


def test_culprit_defaults_to_empty_and_is_truncated_to_200_characters() -> None:
    assert parse_occurrence(occurrence_doc()).culprit == ""
    assert parse_occurrence(occurrence_doc() | {"culprit": None}).culprit == ""
    assert parse_occurrence(occurrence_doc() | {"culprit": "é" * 200}).culprit == "é" * 200
    assert parse_occurrence(occurrence_doc() | {"culprit": "a" * 200 + "b"}).culprit == "a" * 200


@pytest.mark.parametrize(
    ("level", "name", "value"),
    [
        (DROP, "info", 20), (None, "info", 20), ("", "info", 20), ("sample", "sample", 0), ("debug", "debug", 10),
        ("info", "info", 20), ("warning", "warning", 30), ("error", "error", 40), ("fatal", "fatal", 50),
    ],
)
def test_level_names_and_values(level: Any, name: str, value: int) -> None:
    occurrence = parse_occurrence(replaced(occurrence_doc(), ("level",), level))
    assert (occurrence.level, occurrence.level_value) == (name, value)


@pytest.mark.parametrize(
    ("priority", "initial_issue_priority", "given"),
    [
        (DROP, DROP, None),
        (25, DROP, 25),
        (50, 75, 50),
        (75, 25, 75),
        (DROP, 50, 50),
        (None, 75, 75),
        ("high", 25, 25),
        (0, 50, 50),
        (100, DROP, None),
        (0, 0, None),
        (25.0, DROP, None),
        (True, DROP, None),
        ("50", "75", None),
        ([25], {"p": 25}, None),
    ],
)
def test_given_priority_is_priority_else_initial_issue_priority_when_exactly_25_50_75(
    priority: Any, initial_issue_priority: Any, given: int | None
) -> None:
    doc = replaced(occurrence_doc(), ("priority",), priority)
    doc = replaced(doc, ("initial_issue_priority",), initial_issue_priority)
    assert parse_occurrence(doc).priority == given


def test_detection_time_becomes_aware_utc() -> None:
    expected = datetime(2026, 11, 22, 2, 35, tzinfo=timezone.utc)
    offset = parse_occurrence(occurrence_doc() | {"detection_time": "2026-11-22T08:05:00+05:30"}).detection_time
    assert offset == expected
    epoch = parse_occurrence(occurrence_doc() | {"detection_time": expected.timestamp()}).detection_time
    assert epoch == expected and epoch.utcoffset() == timedelta(0)


def test_evidence_keeps_name_value_important_and_finds_the_first_important_one() -> None:
    evidence = [
        {"name": "a", "value": "1", "important": False, "extra": 1},
        {"name": "b", "value": "2", "important": True},
        {"name": "c", "value": "3", "important": True},
    ]
    occurrence = parse_occurrence(occurrence_doc() | {"evidence_display": evidence})
    assert occurrence.important_evidence == Evidence(name="b", value="2", important=True)
    assert occurrence.to_json_dict()["evidence_display"][0] == {"name": "a", "value": "1", "important": False}
    assert parse_occurrence(occurrence_doc() | {"evidence_display": evidence[:1]}).important_evidence is None


def test_evidence_data_defaults_to_empty_object() -> None:
    assert parse_occurrence(occurrence_doc()).evidence_data == {}
    assert parse_occurrence(occurrence_doc() | {"evidence_data": None}).evidence_data == {}


def test_assignee_and_resource_id_are_kept_as_given() -> None:
    occurrence = parse_occurrence(occurrence_doc() | {"assignee": "team:backend", "resource_id": "r-1"})
    assert (occurrence.assignee, occurrence.resource_id) == ("team:backend", "r-1")


def test_to_json_dict_uses_epoch_float_for_detection_time_and_iso_z_micros_elsewhere() -> None:
    doc = occurrence_doc() | {"detection_time": "2026-11-22T08:05:00Z"}
    doc["event"] |= {"received": 1795334400}
    data = parse_occurrence(doc).to_json_dict()
    assert data["detection_time"] == datetime(2026, 11, 22, 8, 5, tzinfo=timezone.utc).timestamp()
    assert isinstance(data["detection_time"], float)
    assert data["event"]["timestamp"] == "2026-11-22T08:00:00.000000Z"
    assert ISO_Z_MICROS.fullmatch(data["event"]["received"])
    assert orjson.loads(orjson.dumps(data)) == data


def test_occurrence_rebuilds_from_its_json_dict() -> None:
    raw = (FIXTURES / "occurrence-performance-file-io-1008.json").read_bytes()
    occurrence = parse_payload(raw, is_registered_type=is_registered)
    assert isinstance(occurrence, Occurrence)
    rebuilt = Occurrence.model_validate(orjson.loads(orjson.dumps(occurrence.to_json_dict())))
    assert rebuilt.to_json_dict() == occurrence.to_json_dict()
    assert abs(rebuilt.detection_time - occurrence.detection_time) <= timedelta(microseconds=1)
    assert rebuilt.model_copy(update={"detection_time": occurrence.detection_time}) == occurrence


# ---------------------------------------------------------------------------------------------------------
# §5 embedded event (§3.2 row 7)

VALID_EVENT_FIELDS: list[tuple[str, Any]] = [
    ("platform", "x"),
    ("platform", "x" * 64),
    ("timestamp", 0),
    ("timestamp", 1795334400.5),
    ("timestamp", "2026-11-22T08:00:00.5-03:00"),
    ("received", DROP),
    ("received", None),
    ("received", 1795334400),
    ("received", "2026-11-22T08:00:00Z"),
    ("tags", DROP),
    ("tags", None),
    ("tags", {}),
    ("tags", []),
    ("tags", {"k" * 200: "v" * 200, "empty": ""}),
    ("tags", [["k" * 200, "v" * 200], ["k", ""], ["k", "again"]]),
    ("environment", "x"),
    ("environment", "x" * 64),
    ("environment", None),
    ("release", "x" * 200),
    ("dist", "x" * 200),
    ("server_name", "x"),
    ("trace_id", "x"),
    ("transaction", "x"),
    ("contexts", {"os": {"name": "linux"}}),
    ("contexts", nested(128)),
    ("extra", None),
    ("user", [1, "two"]),
    ("breadcrumbs", 3),
    ("exception", "dropped, not validated"),
    ("level", "not a level, and not used"),
]


@pytest.mark.parametrize(("key", "value"), cases(VALID_EVENT_FIELDS))
def test_event_field_at_valid_edge_is_accepted(key: str, value: Any) -> None:
    parse_occurrence(replaced(occurrence_doc(), ("event", key), value))


INVALID_EVENT_FIELDS: list[tuple[str, Any, str]] = [
    ("event_id", "not-a-uuid", "event.event_id"),
    ("event_id", 5, "event.event_id"),
    ("platform", DROP, "event.platform"),
    ("platform", None, "event.platform"),
    ("platform", "", "event.platform"),
    ("platform", "x" * 65, "event.platform"),
    ("platform", 5, "event.platform"),
    ("timestamp", DROP, "event.timestamp"),
    ("timestamp", None, "event.timestamp"),
    ("timestamp", True, "event.timestamp"),
    ("timestamp", "2026-11-22T08:00:00", "event.timestamp"),
    ("received", "2026-11-22T08:00:00", "event.received"),
    ("received", False, "event.received"),
    ("tags", 5, "event.tags"),
    ("tags", "os=linux", "event.tags"),
    ("tags", {"": "v"}, 'event.tags[""]'),
    ("tags", {"k": "v" * 201}, "event.tags.k"),
    ("tags", {"k": 5}, "event.tags.k"),
    ("tags", {"k": None}, "event.tags.k"),
    ("tags", {"a key": 5}, 'event.tags["a key"]'),
    ("tags", {"k" * 201: "v"}, 'event.tags["' + "k" * 64 + '…"]'),
    ("tags", [["a"]], "event.tags[0]"),
    ("tags", [["a", "b", "c"]], "event.tags[0]"),
    ("tags", ["ab"], "event.tags[0]"),
    ("tags", [["a", "b"], [1, "b"]], "event.tags[1][0]"),
    ("tags", [["", "b"]], "event.tags[0][0]"),
    ("tags", [["k" * 201, "b"]], "event.tags[0][0]"),
    ("tags", [["a", None]], "event.tags[0][1]"),
    ("tags", [["a", "v" * 201]], "event.tags[0][1]"),
    ("environment", "", "event.environment"),
    ("environment", "x" * 65, "event.environment"),
    ("environment", 5, "event.environment"),
    ("release", "", "event.release"),
    ("release", "x" * 201, "event.release"),
    ("dist", "", "event.dist"),
    ("dist", "x" * 201, "event.dist"),
    ("server_name", "", "event.server_name"),
    ("server_name", 5, "event.server_name"),
    ("trace_id", "", "event.trace_id"),
    ("transaction", "", "event.transaction"),
    ("contexts", nested(129), "event.contexts"),
]


@pytest.mark.parametrize(("key", "value", "field"), cases(INVALID_EVENT_FIELDS))
def test_event_field_past_its_edge_is_invalid_field(key: str, value: Any, field: str) -> None:
    result = parse(replaced(occurrence_doc(), ("event", key), value))
    assert_rejected(result, Reason.INVALID_FIELD, field)


def test_event_without_its_event_id_is_invalid_when_the_occurrence_has_one() -> None:
    doc = replaced(occurrence_doc() | {"event_id": EVENT_ID}, ("event", "event_id"), DROP)
    assert_rejected(parse(doc), Reason.INVALID_FIELD, "event.event_id")


def test_invalid_event_fields_are_all_listed() -> None:
    doc = occurrence_doc()
    doc["event"] |= {"platform": "", "timestamp": "naive 2026", "tags": {"k": 1}}
    result = assert_rejected(parse(doc), Reason.INVALID_FIELD, "event.platform")
    assert all(path in result.message for path in ("event.platform", "event.timestamp", "event.tags.k"))


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(replaced(occurrence_doc(), ("event",), DROP), id="no-event"),
        pytest.param(replaced(occurrence_doc(), ("event",), None), id="null-event"),
        pytest.param(replaced(occurrence_doc(), ("event", "event_id"), DROP), id="event-without-id"),
        pytest.param(replaced(occurrence_doc(), ("event", "event_id"), None), id="event-with-null-id"),
        pytest.param(replaced(occurrence_doc(), ("event", "event_id"), DROP) | {"event_id": None}, id="both-null"),
    ],
)
def test_no_event_id_anywhere_is_missing_event_id(doc: dict[str, Any]) -> None:
    assert_rejected(parse(doc), Reason.MISSING_EVENT_ID, "event_id")


@pytest.mark.parametrize(
    "event_project_id",
    [DROP, None, "1", 1.0, True, 2, 0, [1], {"id": 1}],
)
def test_event_project_id_not_the_same_json_integer_is_event_project_mismatch(event_project_id: Any) -> None:
    result = parse(replaced(occurrence_doc(), ("event", "project_id"), event_project_id))
    assert_rejected(result, Reason.EVENT_PROJECT_MISMATCH, "event.project_id")


def test_different_event_ids_are_event_id_mismatch() -> None:
    doc = occurrence_doc() | {"event_id": "11111111111111111111111111111111"}
    assert_rejected(parse(doc), Reason.EVENT_ID_MISMATCH, "event.event_id")


def test_event_ids_equal_after_normalisation_are_not_a_mismatch() -> None:
    doc = occurrence_doc() | {"event_id": str(uuid.UUID(EVENT_ID)).upper()}
    doc["event"]["event_id"] = "{" + str(uuid.UUID(EVENT_ID)) + "}"
    occurrence = parse_occurrence(doc)
    assert occurrence.event_id == EVENT_ID
    assert occurrence.event is not None and occurrence.event.event_id == EVENT_ID


def test_occurrence_takes_the_normalised_event_event_id_when_it_has_none() -> None:
    doc = replaced(occurrence_doc(), ("event", "event_id"), str(uuid.UUID(EVENT_ID)).upper())
    assert "event_id" not in doc
    assert parse_occurrence(doc).event_id == EVENT_ID


def test_event_id_only_leaves_the_event_to_the_caller() -> None:
    doc = replaced(occurrence_doc(), ("event",), DROP) | {"event_id": str(uuid.UUID(EVENT_ID))}
    occurrence = parse_occurrence(doc)
    assert (occurrence.event_id, occurrence.event) == (EVENT_ID, None)


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        pytest.param({"event_id": DROP, "project_id": "1"}, Reason.MISSING_EVENT_ID, "event_id",
                     id="missing-id-before-project-mismatch"),
        pytest.param({"project_id": 2, "platform": ""}, Reason.EVENT_PROJECT_MISMATCH, "event.project_id",
                     id="project-mismatch-before-invalid-field"),
        pytest.param({"event_id": "22222222222222222222222222222222", "platform": ""}, Reason.INVALID_FIELD,
                     "event.platform", id="invalid-field-before-id-mismatch"),
    ],
)
def test_event_checks_run_in_spec_order(changes: dict[str, Any], reason: Reason, field: str) -> None:
    doc = occurrence_doc()
    for key, value in changes.items():
        doc = replaced(doc, ("event", key), value)
    if "event_id" in changes and changes["event_id"] is not DROP:
        doc["event_id"] = EVENT_ID
    assert_rejected(parse(doc), reason, field)


def test_stored_event_keeps_only_the_kept_keys() -> None:
    doc = occurrence_doc() | {"level": "warning", "issue_title": "Title"}
    doc["event"] |= {
        "level": "fatal",
        "metadata": {"title": "from the event"},
        "exception": {"values": []},
        "message": "dropped",
        "fingerprint": ["dropped"],
        "environment": "production",
        "release": None,
        "user": None,
        "tags": {"b": "2", "a": "1"},
    }
    event = parse_occurrence(doc).event
    assert event is not None
    assert event.to_json_dict() == {
        "event_id": EVENT_ID,
        "project_id": 1,
        "platform": "python",
        "timestamp": "2026-11-22T08:00:00.000000Z",
        "received": None,
        "tags": [["b", "2"], ["a", "1"]],
        "level": "warning",
        "metadata": {"title": "Title"},
        "environment": "production",
        "user": None,
    }


def test_event_level_comes_from_the_occurrence_default() -> None:
    event = parse_occurrence(occurrence_doc()).event
    assert event is not None and (event.level, event.tags, event.received) == ("info", [], None)


def test_with_event_received_fills_only_a_missing_received() -> None:
    t = datetime(2026, 11, 22, 9, tzinfo=timezone.utc)
    occurrence = parse_occurrence(occurrence_doc())
    filled = occurrence.with_event_received(t)
    assert filled.event is not None and filled.event.received == t
    assert filled.to_json_dict()["event"]["received"] == "2026-11-22T09:00:00.000000Z"
    assert filled.with_event_received(t + timedelta(hours=1)) == filled
    doc = replaced(occurrence_doc(), ("event",), DROP) | {"event_id": EVENT_ID}
    assert parse_occurrence(doc).with_event_received(t).event is None
    with pytest.raises(ValueError):
        occurrence.with_event_received(datetime(2026, 11, 22, 9))


# ---------------------------------------------------------------------------------------------------------
# §3.2 rows 4 → 5 → 7: order across stages


def test_field_errors_come_before_unknown_group_type() -> None:
    doc = occurrence_doc() | {"type": 1, "issue_title": ""}
    assert_rejected(parse(doc), Reason.INVALID_FIELD, "issue_title")


def test_occurrence_event_id_is_a_field_check_before_unknown_group_type() -> None:
    doc = occurrence_doc() | {"type": 1, "event_id": "bad"}
    assert_rejected(parse(doc), Reason.INVALID_FIELD, "event_id")


@pytest.mark.parametrize("type_id", [1, 0, -5, 1005, 2**64 - 1])
def test_unregistered_type_is_unknown_group_type(type_id: int) -> None:
    assert_rejected(parse(occurrence_doc() | {"type": type_id}), Reason.UNKNOWN_GROUP_TYPE, "type")


def test_unknown_group_type_comes_before_event_checks() -> None:
    doc = replaced(occurrence_doc(), ("event",), DROP) | {"type": 1}
    assert_rejected(parse(doc), Reason.UNKNOWN_GROUP_TYPE, "type")


def test_event_fields_are_checked_only_after_the_occurrence_fields() -> None:
    doc = replaced(occurrence_doc(), ("event", "platform"), "") | {"subtitle": None}
    result = assert_rejected(parse(doc), Reason.INVALID_FIELD, "subtitle")
    assert "event.platform" not in result.message


def test_is_registered_type_receives_the_type_id() -> None:
    seen: list[int] = []

    def registry(type_id: int) -> bool:
        seen.append(type_id)
        return True

    parse_payload(orjson.dumps(occurrence_doc() | {"type": 123456}), is_registered_type=registry)
    assert seen == [123456]


# ---------------------------------------------------------------------------------------------------------
# §6.2 status-change fields (§3.2 row 4)

VALID_STATUS_CHANGE_FIELDS: list[tuple[str, Any]] = [
    ("fingerprint", ["x" * 1024] * 16),
    ("project_id", 2**63 - 1),
    ("new_substatus", 5),
    ("id", "x"),
    ("id", "x" * 128),
    ("id", None),
    ("update_date", None),
    ("update_date", 1795334400),
    ("update_date", "2026-11-22T08:00:00+01:00"),
    *(("activity_type", value) for value in (None, 1, 2, 3, 6, 9, 11, 12, 13, 15, 24, 25, 26)),
    ("activity_data", None),
    ("activity_data", {}),
    ("activity_data", json_of_size(16_384)),
    ("detector_id", None),
    ("detector_id", 0),
    ("detector_id", -7),
    ("snooze_count", 1),
    ("snooze_count", None),
    ("snooze_until", 1795334400),
    ("snooze_until", "2026-11-29T00:00:00Z"),
    ("snooze_until", None),
]


@pytest.mark.parametrize(("key", "value"), cases(VALID_STATUS_CHANGE_FIELDS))
def test_status_change_field_at_valid_edge_is_accepted(key: str, value: Any) -> None:
    parse_status_change(replaced(status_change_doc(), (key,), value))


INVALID_STATUS_CHANGE_FIELDS: list[tuple[str, Any, str]] = [
    ("fingerprint", DROP, "fingerprint"),
    ("fingerprint", [], "fingerprint"),
    ("fingerprint", ["a"] * 17, "fingerprint"),
    ("fingerprint", ["a", ""], "fingerprint[1]"),
    ("fingerprint", ["x" * 1025], "fingerprint[0]"),
    ("project_id", DROP, "project_id"),
    ("project_id", 0, "project_id"),
    ("project_id", True, "project_id"),
    ("project_id", "1", "project_id"),
    ("new_status", DROP, "new_status"),
    ("new_status", None, "new_status"),
    ("new_status", -1, "new_status"),
    ("new_status", 7, "new_status"),
    ("new_status", True, "new_status"),
    ("new_status", 2.0, "new_status"),
    ("new_status", "2", "new_status"),
    ("new_substatus", 0, "new_substatus"),
    ("new_substatus", 8, "new_substatus"),
    ("new_substatus", True, "new_substatus"),
    ("new_substatus", "4", "new_substatus"),
    ("new_substatus", 4.0, "new_substatus"),
    ("id", "", "id"),
    ("id", "x" * 129, "id"),
    ("id", 5, "id"),
    ("update_date", True, "update_date"),
    ("update_date", "2026-11-22T08:00:00", "update_date"),
    ("update_date", "soon", "update_date"),
    ("activity_type", 4, "activity_type"),
    ("activity_type", 0, "activity_type"),
    ("activity_type", 27, "activity_type"),
    ("activity_type", True, "activity_type"),
    ("activity_type", "1", "activity_type"),
    ("activity_data", [], "activity_data"),
    ("activity_data", "x", "activity_data"),
    ("activity_data", json_of_size(16_385), "activity_data"),
    ("activity_data", nested(129), "activity_data"),
    ("detector_id", 1.5, "detector_id"),
    ("detector_id", "1", "detector_id"),
    ("detector_id", False, "detector_id"),
    ("snooze_count", 0, "snooze_count"),
    ("snooze_count", -1, "snooze_count"),
    ("snooze_count", True, "snooze_count"),
    ("snooze_count", 1.5, "snooze_count"),
    ("snooze_until", True, "snooze_until"),
    ("snooze_until", "2026-11-29T00:00:00", "snooze_until"),
]


@pytest.mark.parametrize(("key", "value", "field"), cases(INVALID_STATUS_CHANGE_FIELDS))
def test_status_change_field_past_its_edge_is_invalid_field(key: str, value: Any, field: str) -> None:
    result = parse(replaced(status_change_doc(), (key,), value))
    assert_rejected(result, Reason.INVALID_FIELD, field)


def test_status_change_is_normalised() -> None:
    doc = status_change_doc() | {
        "fingerprint": ["a", "b"], "project_id": 9, "id": "change-1", "update_date": "2026-11-22T09:00:00+01:00",
        "activity_type": 3, "activity_data": {"k": [1]}, "detector_id": 4, "snooze_count": 10,
    }
    change = parse_status_change(doc)
    assert change.fingerprint == hash_fingerprint(["a", "b"])
    assert change.group_key == f"9:{hash_fingerprint_part('a')}"
    assert change.update_date == datetime(2026, 11, 22, 8, tzinfo=timezone.utc)
    assert change.to_json_dict() == {
        "fingerprint": hash_fingerprint(["a", "b"]),
        "project_id": 9,
        "new_status": 2,
        "new_substatus": 4,
        "id": "change-1",
        "update_date": "2026-11-22T08:00:00.000000Z",
        "activity_type": 3,
        "activity_data": {"k": [1]},
        "detector_id": 4,
        "snooze_count": 10,
        "snooze_until": None,
    }
    assert StatusChange.model_validate(change.to_json_dict()) == change


def test_status_change_without_id_leaves_it_to_the_caller() -> None:
    change = parse_status_change(status_change_doc())
    assert change.id is None and change.new_substatus == 4


def test_status_change_field_errors_come_before_status_rules() -> None:
    doc = status_change_doc() | {"new_status": 3, "snooze_count": 0}
    assert_rejected(parse(doc), Reason.INVALID_FIELD, "snooze_count")


# ---------------------------------------------------------------------------------------------------------
# §14.2 stateless status rules (§3.2 row 6), row by row

UNSUPPORTED = Reason.UNSUPPORTED_STATUS
FORBIDDEN = Reason.INVALID_STATUS_CHANGE
SUBSTATUSES: list[int | None] = [None, 1, 2, 3, 4, 5, 6, 7]

STATUS_RULE_ROWS: list[tuple[str, int, int | None, Reason | None]] = [
    # row "3, 4, 5 or 6 / anything" → unsupported_status
    *((f"unsupported-{s}/{sub}", s, sub, UNSUPPORTED) for s in (3, 4, 5, 6) for sub in SUBSTATUSES),
    # row "0 or 2 / null" → missing substatus
    ("missing-substatus-0", 0, None, FORBIDDEN),
    ("missing-substatus-2", 2, None, FORBIDDEN),
    # row "1 / not null" → unexpected substatus
    *((f"unexpected-substatus-1/{sub}", 1, sub, FORBIDDEN) for sub in range(1, 8)),
    # row "0 / 1, 4, 5 or 7" (NEW only at creation)
    *((f"unresolved-with-{sub}", 0, sub, FORBIDDEN) for sub in (1, 4, 5, 7)),
    # row "2 / 2, 3, 6 or 7"
    *((f"ignored-with-{sub}", 2, sub, FORBIDDEN) for sub in (2, 3, 6, 7)),
    # row "otherwise" → valid (T2-T9)
    ("valid-resolved", 1, None, None),
    *((f"valid-unresolved-{sub}", 0, sub, None) for sub in (2, 3, 6)),
    *((f"valid-ignored-{sub}", 2, sub, None) for sub in (1, 4, 5)),
]


def test_status_rule_rows_cover_every_status_and_substatus() -> None:
    assert {(s, sub) for _, s, sub, _ in STATUS_RULE_ROWS} == {(s, sub) for s in range(7) for sub in SUBSTATUSES}


@pytest.mark.parametrize(
    ("new_status", "new_substatus", "reason"),
    [pytest.param(s, sub, reason, id=name) for name, s, sub, reason in STATUS_RULE_ROWS],
)
def test_status_substatus_pairs_follow_spec_14_2(
    new_status: int, new_substatus: int | None, reason: Reason | None
) -> None:
    direct = validate_status_change_rules(new_status, new_substatus, None, None)
    result = parse(status_change_doc() | {"new_status": new_status, "new_substatus": new_substatus})
    if reason is None:
        assert direct is None
        assert isinstance(result, StatusChange)
    else:
        field = "new_status" if reason is UNSUPPORTED else "new_substatus"
        assert_rejected(direct, reason, field)
        assert_rejected(result, reason, field)


VALID_PAIRS = [(1, None), (0, 2), (0, 3), (0, 6), (2, 1), (2, 5)]


@pytest.mark.parametrize(("new_status", "new_substatus"), VALID_PAIRS)
@pytest.mark.parametrize(("key", "value"), [("snooze_count", 5), ("snooze_until", "2026-11-29T00:00:00Z")])
def test_snooze_field_with_anything_but_2_4_is_invalid_status_change(
    new_status: int, new_substatus: int | None, key: str, value: Any
) -> None:
    doc = status_change_doc() | {"new_status": new_status, "new_substatus": new_substatus, key: value}
    assert_rejected(parse(doc), FORBIDDEN, key)


@pytest.mark.parametrize(("key", "value"), [("snooze_count", 5), ("snooze_until", 1795939200)])
def test_one_snooze_field_with_2_4_is_valid(key: str, value: Any) -> None:
    parse_status_change(status_change_doc() | {key: value})


def test_both_snooze_fields_together_are_invalid_status_change() -> None:
    doc = status_change_doc() | {"snooze_count": 5, "snooze_until": 1795939200}
    assert_rejected(parse(doc), FORBIDDEN, "snooze_count")
    until = datetime(2026, 11, 29, tzinfo=timezone.utc)
    assert_rejected(validate_status_change_rules(2, 4, 5, until), FORBIDDEN, "snooze_count")


def test_unsupported_status_wins_over_snooze_rules() -> None:
    doc = status_change_doc() | {"new_status": 3, "new_substatus": None, "snooze_count": 5}
    assert_rejected(parse(doc), UNSUPPORTED, "new_status")


@pytest.mark.parametrize(("new_status", "new_substatus", "field"), [(7, None, "new_status"), (-1, None, "new_status"),
                                                                      (0, 0, "new_substatus"), (2, 8, "new_substatus")])
def test_rules_reject_out_of_range_values_from_other_callers(
    new_status: int, new_substatus: int | None, field: str
) -> None:
    assert_rejected(validate_status_change_rules(new_status, new_substatus), Reason.INVALID_FIELD, field)


# ---------------------------------------------------------------------------------------------------------
# §2.4.1 derived ids


def test_derive_id_is_deterministic_32_hex_uuid5_of_the_coordinates() -> None:
    first = derive_id("ingest-occurrences", 3, 1234)
    assert first == derive_id("ingest-occurrences", 3, 1234)
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first == uuid.uuid5(ID_NAMESPACE, "ingest-occurrences:3:1234").hex
    assert len({first, derive_id("ingest-occurrences", 3, 1235), derive_id("ingest-occurrences", 4, 1234),
                derive_id("other", 3, 1234)}) == 4


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_uuid5_hex_is_exactly_the_standard_librarys_uuid5(name: str) -> None:
    # Ids made before this fast path (spec §2.4.7) must come out the same after it: a re-decided input
    # re-sends the ids its first decision sent.
    assert uuid5_hex(name) == uuid.uuid5(ID_NAMESPACE, name).hex


def test_id_namespace_is_the_product_namespace() -> None:
    assert ID_NAMESPACE == uuid.uuid5(uuid.NAMESPACE_URL, "issue-platform")


# ---------------------------------------------------------------------------------------------------------
# Fixtures

VALID_FIXTURES = sorted(FIXTURES.glob("*.json"))
INVALID_FIXTURES = sorted((FIXTURES / "invalid").glob("*.json"))
SHARED = sorted(SHARED_FIXTURES.glob("*.json")) if SHARED_FIXTURES.is_dir() else []


@pytest.mark.parametrize("path", VALID_FIXTURES, ids=lambda path: path.name)
def test_valid_fixture_parses(path: Path) -> None:
    result = parse_payload(path.read_bytes(), is_registered_type=is_registered)
    assert isinstance(result, Occurrence | StatusChange), result
    assert orjson.loads(orjson.dumps(result.to_json_dict())) == result.to_json_dict()


@pytest.mark.parametrize("path", INVALID_FIXTURES, ids=lambda path: path.name)
def test_invalid_fixture_is_rejected_with_the_reason_in_its_name(path: Path) -> None:
    result = parse_payload(path.read_bytes(), is_registered_type=is_registered)
    assert isinstance(result, Rejection), result
    assert result.reason == Reason(path.name.split("-", 1)[0])


def test_every_reason_parse_payload_can_give_has_an_invalid_fixture() -> None:
    caller_only = {Reason.EVENT_NOT_FOUND, Reason.TYPE_MISMATCH, Reason.GROUP_NOT_FOUND}
    named = {Reason(path.name.split("-", 1)[0]) for path in INVALID_FIXTURES}
    assert named == set(Reason) - caller_only


def test_every_built_in_category_has_a_valid_occurrence_fixture() -> None:
    types = {orjson.loads(path.read_bytes()).get("type") for path in VALID_FIXTURES}
    assert {1008, 2001, 4001, 5002, 6001, 7001} <= types


@pytest.mark.parametrize("path", SHARED, ids=lambda path: path.name)
def test_shared_detector_fixture_parses(path: Path) -> None:
    result = parse_payload(path.read_bytes(), is_registered_type=is_registered)
    assert isinstance(result, Occurrence | StatusChange), result


def test_occurrence_by_event_id_fixture_keeps_iso_detection_time_and_event_id() -> None:
    occurrence = parse_occurrence(orjson.loads((FIXTURES / "occurrence-by-event-id.json").read_bytes()))
    assert occurrence.detection_time == datetime(2026, 11, 22, 8, 5, tzinfo=timezone.utc)
    assert (occurrence.event_id, occurrence.event) == ("0a1b2c3d4e5f60718293a4b5c6d7e8f9", None)


def test_performance_fixture_drops_unkept_event_keys_and_uses_the_occurrence_level() -> None:
    occurrence = parse_occurrence(orjson.loads((FIXTURES / "occurrence-performance-file-io-1008.json").read_bytes()))
    assert occurrence.id == "3f1c2b4a9d8e4f7ab6c5d4e3f2a1b0c9"
    assert occurrence.priority == 25
    event = occurrence.to_json_dict()["event"]
    assert "exception" not in event and "fingerprint" not in event
    assert event["event_id"] == "7b6a5c4d3e2f1a0b9c8d7e6f5a4b3c2d"
    assert event["tags"][0] == ["os", "Android 14"]


def test_replay_fixture_event_level_is_replaced_by_the_occurrence_level() -> None:
    occurrence = parse_occurrence(orjson.loads((FIXTURES / "occurrence-replay-rage-5002.json").read_bytes()))
    assert occurrence.event is not None and occurrence.event.level == "error"


def test_event_model_has_the_kept_keys_of_spec_5_3() -> None:
    kept = {
        "event_id", "project_id", "platform", "timestamp", "received", "tags", "level", "metadata",
        "breadcrumbs", "contexts", "debug_meta", "dist", "environment", "extra", "modules", "release", "request",
        "sdk", "server_name", "stacktrace", "trace_id", "transaction", "user",
    }
    assert set(Event.model_fields) == kept


def test_reason_is_the_closed_set_of_spec_7_2() -> None:
    assert {reason.value for reason in Reason} == {
        "payload_too_large", "invalid_json", "invalid_payload_type", "invalid_field", "unknown_group_type",
        "missing_event_id", "event_project_mismatch", "event_id_mismatch", "event_not_found",
        "unsupported_status", "invalid_status_change", "type_mismatch", "group_not_found",
    }



# --- NUL characters (spec §3.2 row 4): PostgreSQL can store U+0000 in neither text nor jsonb -------------


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (lambda doc: doc.update(issue_title="bad\x00title"), "issue_title"),
        (lambda doc: doc.update(evidence_data={"k": ["ok", "a\x00b"]}), "evidence_data.k[1]"),
        (lambda doc: doc.update(evidence_data={"key\x00": 1}), "evidence_data.key\x00"),
        (lambda doc: doc["event"].update(message="x\x00"), "event.message"),
    ],
)
def test_a_nul_character_anywhere_is_an_invalid_field_with_its_path(edit: Any, path: str) -> None:
    document = orjson.loads((FIXTURES / "occurrence-file-io.json").read_bytes())
    edit(document)
    rejection = parse_payload(orjson.dumps(document), is_registered_type=lambda _: True)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.INVALID_FIELD
    assert rejection.field == path
    assert "NUL" in rejection.message


def test_an_escaped_backslash_before_u0000_is_not_a_nul() -> None:
    document = orjson.loads((FIXTURES / "occurrence-file-io.json").read_bytes())
    document["issue_title"] = "literal \\u0000 text"
    raw = orjson.dumps(document)
    assert b"\\u0000" in raw
    assert isinstance(parse_payload(raw, is_registered_type=lambda _: True), Occurrence)


def test_a_nul_in_a_fingerprint_part_is_accepted_because_only_its_hash_is_stored() -> None:
    for fixture in ("occurrence-file-io.json", "status-change-resolve.json"):
        document = orjson.loads((FIXTURES / fixture).read_bytes())
        document["fingerprint"] = ["a\x00"]
        assert not isinstance(parse_payload(orjson.dumps(document), is_registered_type=lambda _: True), Rejection)
