"""Wire formats of our internal topics: plain dicts encoded with orjson (group changes: storage.changes)."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from storage.changes import IngestDrop, InputCoordinates
from streams.core.enums import LEVELS
from streams.core.grouping import OccurrenceFacts
from streams.core.timestamps import format_epoch


@dataclass(frozen=True)
class SourceCoordinates:
    """Where an input message came from, so a later rejection can still name it (spec §2.2, §7.1)."""

    topic: str
    partition: int | None
    offset: int | None
    # Re-submitted by the reconciler with its original coordinates (spec §2.4.13): the ledger lacks its outcome.
    reconcile: bool = False

    def to_dict(self) -> dict[str, Any]:
        coordinates: dict[str, Any] = {"topic": self.topic, "partition": self.partition, "offset": self.offset}
        if self.reconcile:
            coordinates["reconcile"] = True
        return coordinates

    def coordinates(self) -> InputCoordinates | None:
        """(topic, partition, offset) for the ledger (spec §2.4.13); None for a record without them."""
        if self.partition is None or self.offset is None:
            return None
        return self.topic, self.partition, self.offset


def encode(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


def decode(value: bytes) -> dict[str, Any]:
    decoded = orjson.loads(value)
    if not isinstance(decoded, dict) or "kind" not in decoded:
        raise ValueError("not an internal message: expected an object with a 'kind'")
    return decoded


def occurrence_message(
    *,
    occurrence: dict[str, Any],
    event: dict[str, Any] | None,
    event_ref: dict[str, Any],
    t: float,
    source: SourceCoordinates,
    raw_key: bytes | None,
    raw_value: bytes,
) -> dict[str, Any]:
    """A validated occurrence on its way to the owner of its group key (spec §2.2 kind `occurrence`).

    `event_ref` is what grouping needs of the event, whether embedded or already stored (spec §5.6):
    `{"timestamp": epoch, "platform": str, "environment": str}`. The original bytes travel along (as text:
    they parsed as UTF-8 JSON) so a grouping-stage rejection can still be dead-lettered untouched.
    """
    return {
        "kind": "occurrence",
        "t": t,
        "occurrence": occurrence,
        "event": event,
        "event_ref": event_ref,
        "source": source.to_dict(),
        **raw_key_fields(raw_key),
        "raw": raw_value.decode("utf-8"),
    }


def facts_from_message(message: dict[str, Any]) -> OccurrenceFacts:
    occurrence = message["occurrence"]
    event_ref = message["event_ref"]
    level = occurrence.get("level", "info")
    return OccurrenceFacts(
        id=occurrence["id"],
        project_id=occurrence["project_id"],
        type_id=occurrence["type"],
        title=occurrence["issue_title"],
        subtitle=occurrence["subtitle"],
        culprit=occurrence["culprit"],
        level=LEVELS[level] if isinstance(level, str) else int(level),
        event_id=occurrence["event_id"],
        event_timestamp=float(event_ref["timestamp"]),
        platform=event_ref.get("platform"),
        environment=event_ref.get("environment") or "",
        priority=occurrence.get("priority"),
        assignee=occurrence.get("assignee"),
    )


def raw_key_fields(raw_key: bytes | None) -> dict[str, str | None]:
    """The input's Kafka key as a message carries it: text when it is UTF-8, else base64 under `raw_key_b64`.
    A key of any bytes is valid input (spec §2.1 never relies on keys); JSON cannot hold lone surrogates, and
    encoding one stopped the worker on that record, again after every restart."""
    if raw_key is None:
        return {"raw_key": None}
    try:
        return {"raw_key": raw_key.decode("utf-8")}
    except UnicodeDecodeError:
        return {"raw_key": None, "raw_key_b64": base64.b64encode(raw_key).decode("ascii")}


def raw_key_bytes(message: dict[str, Any]) -> bytes | None:
    encoded = message.get("raw_key_b64")
    if encoded is not None:
        return base64.b64decode(encoded)
    raw_key = message.get("raw_key")
    return raw_key.encode("utf-8", "surrogateescape") if raw_key is not None else None


def status_change_message(
    *,
    status_change: dict[str, Any],
    change_id: str,
    t: float,
    source: SourceCoordinates,
    raw_key: bytes | None,
    raw_value: bytes,
) -> dict[str, Any]:
    """A validated status change for the owner of its group key (spec §2.2 kind `status_change`)."""
    return {
        "kind": "status_change",
        "t": t,
        "status_change": {**status_change, "id": change_id},
        "source": source.to_dict(),
        **raw_key_fields(raw_key),
        "raw": raw_value.decode("utf-8"),
    }


def drop_message(
    *, outcome: str, t: float, group_key: str, project_id: int, type_id: int, drop_id: str,
    source: SourceCoordinates | None = None,
) -> IngestDrop:
    """A counted drop decided at ingest (spec §7.4), for the sink: `to_wire()` is its group-changes message. It is
    the input's outcome, recorded in the ledger with `source` (spec §2.4.13)."""
    return IngestDrop(outcome=outcome, t=t, group_key=group_key, project_id=project_id, type_id=type_id, id=drop_id,
                      input=source.coordinates() if source is not None else None)


def quota_request_message(*, request_id: str, group_key: str, project_id: int, type_id: int, t: float) -> dict[str, Any]:
    """To the quota agent, keyed by `"{project_id}:{type_id}"` (spec §13.2.5 step 1)."""
    return {
        "kind": "quota_request",
        "request_id": request_id,
        "group_key": group_key,
        "project_id": project_id,
        "type_id": type_id,
        "t": t,
    }


def quota_answer_message(*, request_id: str, granted: bool, t: float) -> dict[str, Any]:
    """Back to the owner of the group key (spec §13.2.5 step 2)."""
    return {"kind": "quota_answer", "request_id": request_id, "granted": granted, "t": t}


def forget_message(*, t: float, key_offset: int) -> dict[str, Any]:
    """From the idle-key sweep to the owner: remove the key's state if it is still at `key_offset`."""
    return {"kind": "forget", "t": t, "key_offset": key_offset}


def quota_key(project_id: int, type_id: int) -> str:
    return f"{project_id}:{type_id}"


# ------------------------------------------------------------------------------------------- API mutations
# An API message (spec §2.2 kinds `status_change`, `update`, `delete`, produced by the API, §20.8, §20.9) has no
# input coordinates and no original bytes: it names the group it is meant for by its `generation` (a group
# deleted and created again since is another one, spec §2.4.5) and carries its change id, deterministic for a
# request (streams.web.mutations.change_id), so a retried request is applied at most once.


def api_status_change_message(
    *, change_id: str, generation: int, t: float, new_status: int, new_substatus: int | None,
    snooze_count: int | None = None, snooze_until: float | None = None,
) -> dict[str, Any]:
    """A status change from the API (spec §20.8.2), in the form a Kafka status change has on the grouping topic."""
    change: dict[str, Any] = {"id": change_id, "new_status": int(new_status),
                              "new_substatus": None if new_substatus is None else int(new_substatus)}
    if snooze_count is not None:
        change["snooze_count"] = snooze_count
    if snooze_until is not None:
        change["snooze_until"] = format_epoch(snooze_until)
    return {"kind": "status_change", "t": t, "status_change": change, "generation": generation}


def update_message(*, change_id: str, generation: int, t: float, fields: dict[str, Any]) -> dict[str, Any]:
    """An API `update` (spec §20.8.1); `fields` as streams.core.mutations.UpdateRequest.to_message gives them."""
    return {"kind": "update", "t": t, "id": change_id, "generation": generation, **fields}


def delete_message(*, change_id: str, generation: int, t: float) -> dict[str, Any]:
    """An API `delete` (spec §20.9)."""
    return {"kind": "delete", "t": t, "id": change_id, "generation": generation}


def is_api_message(message: dict[str, Any]) -> bool:
    return "generation" in message
