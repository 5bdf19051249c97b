"""Dead-letter records (spec §7): the headers that travel with the original bytes, read back into entries."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import orjson

from streams.core.messages import SourceCoordinates
from streams.core.payload_fields import uuid_hex
from streams.core.payload_wire import is_project_id
from streams.core.rejection import cap_dlq_message
from streams.core.timestamps import format_epoch, parse_timestamp

REPLAY_OF_HEADER: Final = "x-replay-of"  # spec §7.3.1
MAX_REPLAY_PER_CALL: Final = 1000  # spec §7.3.2

Headers = Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | None]


def dlq_headers(
    *,
    dlq_id: str,
    reason: str,
    message: str,
    field: str | None,
    stage: str,
    source: SourceCoordinates,
    at: float,
    replay_of: str | None = None,
) -> list[tuple[str, bytes]]:
    headers = [
        ("x-dlq-id", dlq_id),
        ("x-dlq-reason", reason),
        ("x-dlq-message", cap_dlq_message(message)),
        ("x-dlq-stage", stage),
        ("x-dlq-source-topic", source.topic),
        ("x-dlq-at", format_epoch(at)),
    ]
    if field:
        headers.append(("x-dlq-field", field))
    # API-originated changes have no partition or offset (spec §7.1).
    if source.partition is not None:
        headers.append(("x-dlq-source-partition", str(source.partition)))
    if source.offset is not None:
        headers.append(("x-dlq-source-offset", str(source.offset)))
    if replay_of is not None:
        headers.append((REPLAY_OF_HEADER, replay_of))
    return [(name, value.encode("utf-8")) for name, value in headers]


class MalformedDeadLetter(ValueError):
    """A record on the DLQ topic that lacks the headers our producers always write (spec §7.1)."""


@dataclass(frozen=True)
class DeadLetterEntry:
    """One DLQ record as `dlq_entries` lists it (spec §7.1.2, §20.11.5)."""

    id: str
    reason: str
    message: str
    field: str | None
    stage: str
    source_topic: str
    source_partition: int | None
    source_offset: int | None
    project_id: int | None
    key: bytes | None
    value: bytes
    created_at: datetime
    replay_of: str | None


def _first_values(headers: Headers | None) -> dict[str, bytes]:
    """Header name → first value; Kafka allows repeated and null headers, and we read the first non-null."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    values: dict[str, bytes] = {}
    for name, value in pairs:
        if value is not None and name not in values:
            values[name] = value
    return values


def _text(values: dict[str, bytes], name: str) -> str | None:
    raw = values.get(name)
    return None if raw is None else raw.decode("utf-8", "replace")


def _required(values: dict[str, bytes], name: str) -> str:
    text = _text(values, name)
    if not text:
        raise MalformedDeadLetter(f"header {name} is missing")
    return text


def _optional_int(values: dict[str, bytes], name: str) -> int | None:
    text = _text(values, name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise MalformedDeadLetter(f"header {name} is not an integer: {text[:40]!r}") from None


def as_dlq_id(text: str) -> str | None:
    """A DLQ id (spec §2.4.1) in its 32-hex form, from any UUID spelling (§0.6); None when it is not one."""
    return uuid_hex(text)


def replay_marker(headers: Headers | None) -> str | None:
    """The DLQ id an input claims to replay (spec §7.3.1); a malformed marker is not a marker."""
    text = _text(_first_values(headers), REPLAY_OF_HEADER)
    return None if text is None else as_dlq_id(text)


def project_id_of(value: bytes) -> int | None:
    """The payload's project_id when it is a usable JSON integer (spec §4.2), for listing; None otherwise."""
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    project_id = document.get("project_id")
    return project_id if is_project_id(project_id) else None


def entry_from_record(key: bytes | None, value: bytes | None, headers: Headers | None) -> DeadLetterEntry:
    """Read one DLQ record back into its entry; raises MalformedDeadLetter for a record we did not write."""
    values = _first_values(headers)
    dlq_id = as_dlq_id(_required(values, "x-dlq-id"))
    if dlq_id is None:
        raise MalformedDeadLetter(f"header x-dlq-id is not a 32-hex id: {_text(values, 'x-dlq-id')!r:.60}")
    at = _required(values, "x-dlq-at")
    try:
        created_at = parse_timestamp(at)
    except ValueError:
        raise MalformedDeadLetter(f"header x-dlq-at is not a spec §0.4 timestamp: {at[:40]!r}") from None
    raw_value = value or b""
    return DeadLetterEntry(
        id=dlq_id,
        reason=_required(values, "x-dlq-reason"),
        message=_text(values, "x-dlq-message") or "",
        field=_text(values, "x-dlq-field") or None,
        stage=_required(values, "x-dlq-stage"),
        source_topic=_required(values, "x-dlq-source-topic"),
        source_partition=_optional_int(values, "x-dlq-source-partition"),
        source_offset=_optional_int(values, "x-dlq-source-offset"),
        project_id=project_id_of(raw_value),
        key=key,
        value=raw_value,
        created_at=created_at,
        replay_of=replay_marker(headers),
    )


def replay_headers(dlq_id: str) -> list[tuple[str, bytes]]:
    """The marker a replayed input carries, so its own DLQ entry can name the one it replays (spec §7.3.1)."""
    return [(REPLAY_OF_HEADER, dlq_id.encode("ascii"))]


@dataclass(frozen=True)
class ReplaySelection:
    """Which entries one `dlq replay` call re-submits (spec §7.3.2): explicit ids, or a filter with a limit."""

    ids: tuple[str, ...] = ()
    reason: str | None = None
    project_id: int | None = None
    limit: int = MAX_REPLAY_PER_CALL

    @property
    def by_ids(self) -> bool:
        return bool(self.ids)


def replay_selection(
    *, ids: Iterable[str] = (), reason: str | None = None, project_id: int | None = None, limit: int | None = None
) -> ReplaySelection:
    """Check a replay request as a person typed it; raises ValueError with a one-line explanation."""
    given_ids = list(ids)
    if given_ids and reason is not None:
        raise ValueError("give either ids or a reason, not both")
    if not given_ids and reason is None:
        raise ValueError("give the ids to replay, or a reason to select them by")
    if given_ids:
        if project_id is not None or limit is not None:
            raise ValueError("a project or a limit only narrows a selection by reason")
        if len(given_ids) > MAX_REPLAY_PER_CALL:
            raise ValueError(f"at most {MAX_REPLAY_PER_CALL} ids per call, got {len(given_ids)} (spec §7.3.2)")
        normalised = []
        for given in given_ids:
            dlq_id = as_dlq_id(given)
            if dlq_id is None:
                raise ValueError(f"{given!r} is not a DLQ id (32 hex characters)")
            if dlq_id not in normalised:
                normalised.append(dlq_id)
        return ReplaySelection(ids=tuple(normalised))
    if limit is None:
        limit = MAX_REPLAY_PER_CALL
    if not 1 <= limit <= MAX_REPLAY_PER_CALL:
        raise ValueError(f"the limit must be between 1 and {MAX_REPLAY_PER_CALL}, got {limit} (spec §7.3.2)")
    if project_id is not None and not is_project_id(project_id):
        raise ValueError(f"the project must be a positive integer, got {project_id}")
    return ReplaySelection(reason=reason, project_id=project_id, limit=limit)
