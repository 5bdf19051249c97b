"""Ingest payloads: parse and validate raw occurrence/status-change bytes in spec §3.2 order (pure, no I/O)."""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from streams.core.fingerprint import group_key as _group_key
from streams.core.fingerprint import hash_fingerprint
from streams.core.payload_fields import EpochDatetime, IsoDatetime, error_lines, json_path
from streams.core.payload_wire import (
    DEFAULT_LEVEL,
    EVENT_CHECKED_KEYS,
    EVENT_FREEFORM_KEYS,
    LEVEL_VALUES,
    MAX_CULPRIT_CHARS,
    MAX_FINGERPRINT_PARTS,
    EventInput,
    LevelName,
    OccurrenceInput,
    StatusChangeInput,
)
from streams.core.rejection import Reason, Rejection
from streams.core.timestamps import format_datetime

MAX_PAYLOAD_BYTES: Final = 1_048_576  # spec §3.2 row 1

GIVEN_PRIORITIES: Final = frozenset({25, 50, 75})  # spec §4.3, §8.4
SUPPORTED_STATUSES: Final = frozenset({0, 1, 2})  # spec §8.1
UNSUPPORTED_STATUSES: Final = frozenset({3, 4, 5, 6})  # spec §6.2, §14.2
SUBSTATUS_VALUES: Final = frozenset(range(1, 8))  # spec §8.2

# spec §2.4.1: the product's one namespace, uuid5(NAMESPACE_URL, "issue-platform"), hard-coded so that a
# change of that derivation can never silently change every id.
ID_NAMESPACE: Final = uuid.UUID("16096cfa-8970-592a-afe7-fd6c2b7c4293")
_NAMESPACE_SHA1: Final = hashlib.sha1(ID_NAMESPACE.bytes)


def uuid5_hex(name: str) -> str:
    """`uuid.uuid5(ID_NAMESPACE, name).hex`, the same 32 characters in a fifth of the time: no UUID object, and
    the namespace's part of the hash done once. Output ids are made for every change (spec §2.4.7)."""
    digest = _NAMESPACE_SHA1.copy()
    digest.update(name.encode())
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5 (RFC 4122 §4.3)
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return raw.hex()

_PAYLOAD_TYPES: Final = ("occurrence", "status_change")  # spec §3.2 row 3


# ---------------------------------------------------------------------------------------------------------
# Normalised models: what the rest of the service works with. Lax, so that they can be rebuilt from
# their own `to_json_dict()` (e.g. off the grouping topic).

Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
FingerprintHashes = Annotated[list[Hex32], Field(min_length=1, max_length=MAX_FINGERPRINT_PARTS)]


class _StoredModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def _trusted(cls, **values: Any) -> Any:
        """An instance of values that are already valid and normalised (the strict wire models made them), without
        validating them again: what `model_construct` does, without its per-field loop in Python, which made
        it slower than validating (2.5 against 8.5 µs for an Occurrence). The same instance as the
        constructor's, `model_fields_set` included: tests/unit/core/test_payload_fast.py compares them."""
        instance = cls.__new__(cls)
        # Every field, in field order as validation leaves it (pydantic serialises __dict__ in its order): a merge
        # keeps the order of the first dict's keys.
        data = {**_FIELDS[cls], **values}
        _set_attribute(instance, "__dict__", data)
        _set_attribute(instance, "__pydantic_fields_set__", set(values))
        _set_attribute(instance, "__pydantic_extra__", None)
        _set_attribute(instance, "__pydantic_private__", None)
        return instance


_set_attribute = object.__setattr__


class Evidence(_StoredModel):
    name: str
    value: str
    important: bool


class Event(_StoredModel):
    """The stored event (§5.3): only the kept keys; optional ones exist only when the input had them."""

    event_id: Hex32
    project_id: int
    platform: str
    timestamp: IsoDatetime
    received: IsoDatetime | None = None  # None: the caller fills in T (§5.3)
    tags: list[tuple[str, str]] = []
    level: LevelName
    metadata: dict[str, Any]
    breadcrumbs: Any = None
    contexts: Any = None
    debug_meta: Any = None
    dist: str | None = None
    environment: str | None = None
    extra: Any = None
    modules: Any = None
    release: str | None = None
    request: Any = None
    sdk: Any = None
    server_name: str | None = None
    stacktrace: Any = None
    trace_id: str | None = None
    transaction: str | None = None
    user: Any = None

    def to_json_dict(self) -> dict[str, Any]:
        """`model_dump(mode="json")` of the always-kept keys and of the optional ones the input had (spec §5.3:
        "copied only when present", so an absent key must not come back as null), written out: it runs for
        every occurrence, and pydantic's took 7 µs. The free-form values are the parsed JSON, shared."""
        received = self.received
        data: dict[str, Any] = {
            "event_id": self.event_id, "project_id": self.project_id, "platform": self.platform,
            "timestamp": format_datetime(self.timestamp),
            "received": format_datetime(received) if received is not None else None,
            "tags": [list(pair) for pair in self.tags], "level": self.level, "metadata": self.metadata,
        }
        present = self.model_fields_set
        values = self.__dict__
        for key in _EVENT_OPTIONAL_KEYS_IN_ORDER:
            if key in present:
                data[key] = values[key]
        return data


_EVENT_ALWAYS_KEYS: Final = frozenset(
    {"event_id", "project_id", "platform", "timestamp", "received", "tags", "level", "metadata"}
)
# The optional keys (§5.3 "copied only when present"), in field order as model_dump wrote them.
_EVENT_OPTIONAL_KEYS_IN_ORDER: Final = tuple(key for key in Event.model_fields if key not in _EVENT_ALWAYS_KEYS)


class Occurrence(_StoredModel):
    """A validated occurrence (§4), normalised: 32-hex ids, hashed fingerprint, UTC times, given priority."""

    id: Hex32
    project_id: int
    fingerprint: FingerprintHashes  # md5 hashes (§1.2.1), not the detector's strings
    type: int
    issue_title: str
    subtitle: str
    culprit: str = ""
    level: LevelName = DEFAULT_LEVEL
    detection_time: EpochDatetime
    evidence_display: list[Evidence] = []
    evidence_data: dict[str, Any] = {}
    priority: int | None = None  # the given priority of §4.3, None when not given
    assignee: str | None = None
    resource_id: str | None = None
    event_id: Hex32
    event: Event | None = None

    @property
    def group_key(self) -> str:
        return _group_key(self.project_id, self.fingerprint)

    @property
    def important_evidence(self) -> Evidence | None:
        return next((evidence for evidence in self.evidence_display if evidence.important), None)

    @property
    def level_value(self) -> int:
        return LEVEL_VALUES[self.level]

    def with_event_received(self, default: datetime) -> Occurrence:
        """A copy whose embedded event has `received`, taking `default` (T) when the input had none (§5.3)."""
        if default.tzinfo is None:
            raise ValueError("T must be timezone-aware (spec §0.3)")
        if self.event is None or self.event.received is not None:
            return self
        event = self.event.model_copy(update={"received": default.astimezone(timezone.utc)})
        return self.model_copy(update={"event": event})

    def to_json_dict(self) -> dict[str, Any]:
        """`model_dump(mode="json")`, written out (every occurrence is forwarded in this form; pydantic's took
        twice as long). The free-form values (evidence_data) are the parsed JSON, shared."""
        event = self.event
        return {
            "id": self.id, "project_id": self.project_id, "fingerprint": list(self.fingerprint), "type": self.type,
            "issue_title": self.issue_title, "subtitle": self.subtitle, "culprit": self.culprit, "level": self.level,
            "detection_time": self.detection_time.timestamp(),
            "evidence_display": [{"name": evidence.name, "value": evidence.value, "important": evidence.important}
                                 for evidence in self.evidence_display],
            "evidence_data": self.evidence_data, "priority": self.priority, "assignee": self.assignee,
            "resource_id": self.resource_id, "event_id": self.event_id,
            "event": event.to_json_dict() if event is not None else None,
        }


class StatusChange(_StoredModel):
    """A validated status change (§6.2) that passed the stateless rules of §14.2."""

    fingerprint: FingerprintHashes
    project_id: int
    new_status: int
    new_substatus: int | None = None
    id: str | None = None  # None: the caller derives it from the source coordinates (§2.4.1)
    update_date: IsoDatetime | None = None
    activity_type: int | None = None
    activity_data: dict[str, Any] | None = None
    detector_id: int | None = None
    snooze_count: int | None = None
    snooze_until: IsoDatetime | None = None

    @property
    def group_key(self) -> str:
        return _group_key(self.project_id, self.fingerprint)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


Payload = Occurrence | StatusChange

# Each stored model's fields and defaults, for `_trusted`: the defaults are immutable (None, "") except the
# empty list and dict ones, which `_trusted`'s callers always pass; a required field has no default (they pass it).
_FIELDS: Final[dict[type[_StoredModel], dict[str, Any]]] = {
    model: {name: None if field.is_required() else field.default for name, field in model.model_fields.items()}
    for model in (Evidence, Event, Occurrence)
}


# ---------------------------------------------------------------------------------------------------------
# Validation


def derive_id(topic: str, partition: int, offset: int) -> str:
    """The deterministic id of an ingest outcome (§2.4.1), so a re-read input gets the same id again."""
    return uuid5_hex(f"{topic}:{partition}:{offset}")


def validate_status_change_rules(
    new_status: int,
    new_substatus: int | None,
    snooze_count: int | None = None,
    snooze_until: datetime | None = None,
) -> Rejection | None:
    """The stateless rules of §14.2, checked before any group lookup; None when the change is valid."""
    if new_status in UNSUPPORTED_STATUSES:
        return Rejection(
            Reason.UNSUPPORTED_STATUS, f"new_status {new_status} is not supported (spec §14.2)", "new_status"
        )
    # callers other than parse_payload (the API) may not have range-checked yet (§6.2)
    if new_status not in SUPPORTED_STATUSES:
        return Rejection(Reason.INVALID_FIELD, "new_status: Input should be between 0 and 6 (spec §6.2)", "new_status")
    if new_substatus is not None and new_substatus not in SUBSTATUS_VALUES:
        return Rejection(
            Reason.INVALID_FIELD, "new_substatus: Input should be null or between 1 and 7 (spec §6.2)", "new_substatus"
        )
    pair = f"new_status {new_status} with new_substatus {new_substatus if new_substatus is not None else 'null'}"
    if new_status in (0, 2) and new_substatus is None:
        return Rejection(Reason.INVALID_STATUS_CHANGE, f"{pair}: missing substatus (spec §14.2)", "new_substatus")
    if new_status == 1 and new_substatus is not None:
        return Rejection(Reason.INVALID_STATUS_CHANGE, f"{pair}: unexpected substatus (spec §14.2)", "new_substatus")
    if new_status == 0 and new_substatus in (1, 4, 5, 7):
        why = "NEW is set only at creation" if new_substatus == 7 else "not an UNRESOLVED substatus"
        return Rejection(Reason.INVALID_STATUS_CHANGE, f"{pair}: {why} (spec §14.2)", "new_substatus")
    if new_status == 2 and new_substatus in (2, 3, 6, 7):
        return Rejection(
            Reason.INVALID_STATUS_CHANGE, f"{pair}: not an IGNORED substatus (spec §14.2)", "new_substatus"
        )
    if snooze_count is not None and snooze_until is not None:
        return Rejection(
            Reason.INVALID_STATUS_CHANGE,
            "snooze_count and snooze_until cannot be given together (spec §14.2)",
            "snooze_count",
        )
    snooze_field = "snooze_count" if snooze_count is not None else "snooze_until" if snooze_until is not None else None
    if snooze_field is not None and (new_status, new_substatus) != (2, 4):
        return Rejection(
            Reason.INVALID_STATUS_CHANGE,
            f"{snooze_field} is only allowed with new_status 2 and new_substatus 4, not with {pair} (spec §14.2)",
            snooze_field,
        )
    return None


def _field_rejection(exc: ValidationError, prefix: str = "") -> Rejection:
    """spec §7.1: invalid_field lists every error with its JSON path; `field` is the first one."""
    lines = error_lines(exc.errors(include_url=False, include_input=False), prefix)
    listing = "; ".join(f"{path}: {message}" for path, message in lines)
    noun = "field" if len(lines) == 1 else "fields"
    return Rejection(
        Reason.INVALID_FIELD, f"{len(lines)} invalid {noun}: {listing}", lines[0][0] if lines else None, tuple(lines)
    )


def parse_payload(raw: bytes, *, is_registered_type: Callable[[int], bool]) -> Payload | Rejection:
    """Rows 1-7 of spec §3.2, in order; the first failing check decides. Never raises for any bytes.

    1. size, before any parsing          → payload_too_large
    2. UTF-8 JSON with an object on top  → invalid_json
    3. payload_type                      → invalid_payload_type
    4. the payload's own fields          → invalid_field (every error listed)
    5. occurrence type registered        → unknown_group_type
    6. status change pairing (§14.2)     → unsupported_status / invalid_status_change
    7. occurrence event checks (§5.2)    → missing_event_id / event_project_mismatch / invalid_field / event_id_mismatch
    Rows 8-10 (ingest flags, event_not_found, producing) need state and belong to the caller.
    """
    if len(raw) > MAX_PAYLOAD_BYTES:
        return Rejection(
            Reason.PAYLOAD_TOO_LARGE, f"payload is {len(raw)} bytes, over the limit of {MAX_PAYLOAD_BYTES} (spec §3.2)"
        )
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejection(Reason.INVALID_JSON, f"not UTF-8 JSON: {exc}")
    if not isinstance(document, dict):
        return Rejection(Reason.INVALID_JSON, f"top level is {_json_kind(document)}, not an object")

    payload_type = document.get("payload_type", "occurrence")  # spec §3.3: absent means occurrence
    if not (isinstance(payload_type, str) and payload_type in _PAYLOAD_TYPES):
        return Rejection(
            Reason.INVALID_PAYLOAD_TYPE,
            'payload_type: Input should be "occurrence" or "status_change" (spec §3.2)',
            "payload_type",
        )
    # JSON escapes NUL as \u0000, so a payload without that text cannot hold one: the walk is rarely run.
    if b"\\u0000" in raw and (nul_paths := _paths_with_nul(document)):
        return _nul_rejection(nul_paths)
    if payload_type == "status_change":
        return _parse_status_change(document)
    return _parse_occurrence(document, is_registered_type)


def _paths_with_nul(value: object, loc: tuple[str | int, ...] = ()) -> list[str]:
    """JSON paths of every key or string holding U+0000, which PostgreSQL stores in neither text nor jsonb."""
    found: list[str] = []
    if isinstance(value, str):
        if "\x00" in value:
            found.append(json_path(loc))
    elif isinstance(value, dict):
        for key, item in value.items():
            if not loc and key == "fingerprint":
                continue  # only the fingerprint's hashes are stored (spec §1.2)
            if "\x00" in key:
                found.append(json_path((*loc, key)))
            found.extend(_paths_with_nul(item, (*loc, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths_with_nul(item, (*loc, index)))
    return found


def _nul_rejection(paths: list[str]) -> Rejection:
    """Row 4 of spec §3.2: accepted, such a payload would stop the sink at every retry of its batch."""
    problem = "contains the NUL character (U+0000), which cannot be stored"
    noun = "field" if len(paths) == 1 else "fields"
    listing = "; ".join(f"{path}: {problem}" for path in paths)
    return Rejection(
        Reason.INVALID_FIELD, f"{len(paths)} invalid {noun}: {listing}", paths[0], tuple((p, problem) for p in paths)
    )


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


def _parse_status_change(document: dict[str, Any]) -> StatusChange | Rejection:
    try:
        wire = StatusChangeInput.model_validate(document)  # row 4
    except ValidationError as exc:
        return _field_rejection(exc)
    rejection = validate_status_change_rules(  # row 6
        wire.new_status, wire.new_substatus, wire.snooze_count, wire.snooze_until
    )
    if rejection is not None:
        return rejection
    return StatusChange(
        fingerprint=hash_fingerprint(wire.fingerprint),
        project_id=wire.project_id,
        new_status=wire.new_status,
        new_substatus=wire.new_substatus,
        id=wire.id,
        update_date=wire.update_date,
        activity_type=wire.activity_type,
        activity_data=wire.activity_data,
        detector_id=wire.detector_id,
        snooze_count=wire.snooze_count,
        snooze_until=wire.snooze_until,
    )


def _given_priority(wire: OccurrenceInput) -> int | None:
    """spec §4.3: exactly 25, 50 or 75 as a JSON integer; anything else is "not given", never an error."""
    for candidate in (wire.priority, wire.initial_issue_priority):
        if type(candidate) is int and candidate in GIVEN_PRIORITIES:
            return candidate
    return None


def _parse_occurrence(document: dict[str, Any], is_registered_type: Callable[[int], bool]) -> Occurrence | Rejection:
    try:
        wire = OccurrenceInput.model_validate(document)  # row 4
    except ValidationError as exc:
        return _field_rejection(exc)
    if not is_registered_type(wire.type):  # row 5
        return Rejection(
            Reason.UNKNOWN_GROUP_TYPE, f"type: {wire.type} is not a registered group type (spec §9.5)", "type"
        )
    checked = _check_event(wire)  # row 7
    if isinstance(checked, Rejection):
        return checked
    event_id, event = checked
    return Occurrence._trusted(  # every value below is valid and normalised already
        id=wire.id,
        project_id=wire.project_id,
        fingerprint=hash_fingerprint(wire.fingerprint),
        type=wire.type,
        issue_title=wire.issue_title,
        subtitle=wire.subtitle,
        culprit=(wire.culprit or "")[:MAX_CULPRIT_CHARS],  # spec §4.2: null → "", truncated silently
        level=wire.level,
        detection_time=wire.detection_time,
        evidence_display=[Evidence._trusted(name=e.name, value=e.value, important=e.important)
                          for e in wire.evidence_display],
        evidence_data=wire.evidence_data or {},
        priority=_given_priority(wire),
        assignee=wire.assignee,
        resource_id=wire.resource_id,
        event_id=event_id,
        event=event,
    )


def _check_event(wire: OccurrenceInput) -> tuple[str, Event | None] | Rejection:
    """spec §5.2 steps 1-4 in order; returns the occurrence's normalised event_id and the stored event."""
    raw_event = wire.event
    if raw_event is None:
        if wire.event_id is None:
            return _missing_event_id()
        return wire.event_id, None  # event_id only: the caller looks the event up (§3.2 row 9)
    if wire.event_id is None and raw_event.get("event_id") is None:
        return _missing_event_id()

    event_project_id = raw_event.get("project_id")
    # spec §5.2 step 2: type-sensitive, so "1", 1.0 and true never equal 1 (bool is an int subclass)
    if type(event_project_id) is not int or event_project_id != wire.project_id:
        return Rejection(
            Reason.EVENT_PROJECT_MISMATCH,
            f"event.project_id is not the JSON integer {wire.project_id} of project_id (spec §5.2)",
            "event.project_id",
        )
    try:
        event_wire = EventInput.model_validate(raw_event)
    except ValidationError as exc:
        return _field_rejection(exc, prefix="event")
    if wire.event_id is not None and wire.event_id != event_wire.event_id:
        return Rejection(
            Reason.EVENT_ID_MISMATCH,
            "event_id and event.event_id differ after normalisation (spec §5.2)",
            "event.event_id",
        )
    return event_wire.event_id, _stored_event(wire, event_wire, event_project_id)


def _missing_event_id() -> Rejection:
    return Rejection(Reason.MISSING_EVENT_ID, "neither event_id nor event.event_id is present (spec §5.2)", "event_id")


def _stored_event(wire: OccurrenceInput, event_wire: EventInput, project_id: int) -> Event:
    """spec §5.3: kept keys only; level and metadata come from the occurrence, not from the event."""
    present = event_wire.model_fields_set
    optional: dict[str, Any] = {key: getattr(event_wire, key) for key in EVENT_FREEFORM_KEYS if key in present}
    # a checked key given as null counts as absent: there is nothing to keep
    optional |= {key: value for key in EVENT_CHECKED_KEYS if (value := getattr(event_wire, key)) is not None}
    return Event._trusted(  # the wire model's values, valid and normalised already
        event_id=event_wire.event_id,
        project_id=project_id,
        platform=event_wire.platform,
        timestamp=event_wire.timestamp,
        received=event_wire.received,
        tags=event_wire.tags or [],
        level=wire.level,
        metadata={"title": wire.issue_title},
        **optional,
    )


__all__ = [
    "MAX_PAYLOAD_BYTES",
    "ID_NAMESPACE",
    "Event",
    "Evidence",
    "Occurrence",
    "Payload",
    "StatusChange",
    "derive_id",
    "parse_payload",
    "validate_status_change_rules",
]
