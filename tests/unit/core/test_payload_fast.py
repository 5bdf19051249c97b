"""The parse's shortcuts give what pydantic gives (spec §3.2, §5.3): `_trusted` instances equal validated ones,
and the written-out `to_json_dict` equals `model_dump(mode="json")` with §5.3's "copied only when present"."""
from __future__ import annotations

import uuid
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.payload import Event, Occurrence, parse_payload
from streams.core.payload_fields import uuid_hex
from tests.unit.core.test_payload import FIXTURES, is_registered, occurrence_doc

OPTIONAL_EVENT_KEYS = sorted(set(Event.model_fields) - {
    "event_id", "project_id", "platform", "timestamp", "received", "tags", "level", "metadata"})
NO_NUL = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))  # no U+0000 (refused), valid UTF-8


def text(**sizes: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=NO_NUL, **sizes)


FREEFORM = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text(max_size=5), children, max_size=3),
    max_leaves=8,
)
TIMES = st.sampled_from([1795334400, 1795334400.123456, "2026-11-22T08:05:00Z", "2026-11-22T10:05:00.5+02:00",
                         "2026-11-22 03:05:00-05:00", 0, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"])
TEXT = text(min_size=1, max_size=12)


def pydantic_json(occurrence: Occurrence) -> dict[str, Any]:
    """What to_json_dict returned when pydantic wrote it."""
    data = occurrence.model_dump(mode="json", exclude={"event"})
    event = occurrence.event
    if event is None:
        data["event"] = None
    else:
        keep = {"event_id", "project_id", "platform", "timestamp", "received", "tags", "level", "metadata"}
        data["event"] = event.model_dump(mode="json", include=keep | (event.model_fields_set & set(OPTIONAL_EVENT_KEYS)))
    return data


def check(document: dict[str, Any]) -> Occurrence:
    occurrence = parse_payload(orjson.dumps(document), is_registered_type=is_registered)
    assert isinstance(occurrence, Occurrence), occurrence
    for instance in (occurrence, occurrence.event, *occurrence.evidence_display):
        if instance is None:
            continue
        # The constructor, validating, given the same keys: the instance pydantic would have made.
        validated = type(instance)(**{name: getattr(instance, name) for name in instance.model_fields_set})
        assert instance == validated
        assert list(instance.__dict__.items()) == list(validated.__dict__.items())  # in the same order
        assert instance.model_fields_set == validated.model_fields_set
    written = occurrence.to_json_dict()
    assert written == pydantic_json(occurrence)
    assert orjson.dumps(written) == orjson.dumps(pydantic_json(occurrence))  # the same keys in the same order
    return occurrence


def test_the_fixtures() -> None:
    for path in sorted(FIXTURES.glob("*.json")):
        document = orjson.loads(path.read_bytes())
        if document.get("payload_type", "occurrence") == "occurrence" and "event" in document:
            check(document)


@settings(max_examples=300, deadline=None)
@given(
    optional=st.dictionaries(st.sampled_from(OPTIONAL_EVENT_KEYS), FREEFORM, max_size=6),
    received=st.none() | TIMES, timestamp=TIMES, detection_time=TIMES,
    tags=st.none() | st.dictionaries(TEXT, text(max_size=5), max_size=3)
    | st.lists(st.tuples(TEXT, text(max_size=5)).map(list), max_size=3),
    evidence=st.lists(st.fixed_dictionaries({"name": text(max_size=5), "value": text(max_size=5),
                                             "important": st.booleans()}), max_size=3),
    evidence_data=st.none() | st.dictionaries(text(max_size=5), FREEFORM, max_size=3),
    extras=st.fixed_dictionaries({}, optional={
        "culprit": st.none() | text(max_size=300), "level": st.sampled_from([None, "", "fatal", "debug"]),
        "priority": st.sampled_from([25, 50, 75, 51, "50", None]), "assignee": st.sampled_from(["user:1", "team:x"]),
        "resource_id": text(max_size=5), "event_id": st.just(occurrence_doc()["event"]["event_id"]),
        "initial_issue_priority": st.sampled_from([75, None])}),
)
def test_generated_occurrences(optional: dict[str, Any], received: Any, timestamp: Any, detection_time: Any,
                               tags: Any, evidence: list[dict[str, Any]], evidence_data: Any,
                               extras: dict[str, Any]) -> None:
    document = occurrence_doc() | extras | {"detection_time": detection_time, "evidence_display": evidence}
    if evidence_data is not None:
        document["evidence_data"] = evidence_data
    event = document["event"] | {"timestamp": timestamp}
    for key, value in optional.items():
        # The checked keys take strings; a null one counts as absent (spec §5.4).
        event[key] = value if key not in ("dist", "environment", "release", "server_name", "trace_id",
                                          "transaction") else (value if isinstance(value, str) and value else None)
    if received is not None:
        event["received"] = received
    if tags is not None:
        event["tags"] = tags
    document["event"] = event
    occurrence = check(document)
    assert occurrence.event is not None
    assert set(occurrence.to_json_dict()["event"]) >= {"event_id", "timestamp", "received", "tags", "metadata"}


def test_an_occurrence_without_an_event() -> None:
    document = occurrence_doc()
    document["event_id"] = document.pop("event")["event_id"]
    assert check(document).to_json_dict()["event"] is None


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF-{}:urnid ", min_size=30, max_size=45)
       | st.uuids().map(lambda value: value.hex) | st.uuids().map(str))
def test_uuid_hex_takes_the_normal_form_as_is_and_parses_every_other(candidate: str) -> None:
    try:
        expected: str | None = uuid.UUID(candidate).hex
    except ValueError:
        expected = None
    assert uuid_hex(candidate) == expected
