"""Agent `ingest`: validates raw input, dead-letters rejections, re-keys the rest by group key (spec §3.2).

A batch at a time: every input's output (its grouping message, dead letter or drop record) goes into one
outbox, and the inputs are acked only once the broker acknowledged all of them (spec §2.4.6).
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from faust import StreamT

from grouptypes import gate_passes
from storage.events import find_event
from streams.agents.dead_letter import dead_letter
from streams.agents.failure import retry_transient, stop_worker
from streams.agents.holes import in_order
from streams.app import settings
from streams.core.dlq import replay_marker
from streams.core.messages import (
    SourceCoordinates,
    drop_message,
    encode,
    occurrence_message,
    status_change_message,
)
from streams.core.payload import Occurrence, StatusChange, derive_id, parse_payload
from streams.core.rejection import Reason, Rejection
from streams.faust_compat.batch_delivery import acknowledge, batches
from streams.input_topic import recorded_name
from streams.metrics import count_inputs
from streams.outbox import Outbox
from streams.services import postgres, registry
from streams.tables import current_options
from streams.topics import group_changes_topic, grouping_topic

log = logging.getLogger(__name__)


async def ingest(stream: StreamT[bytes]) -> None:
    async for events in batches(stream, settings.grouping_batch_size, within=settings.grouping_batch_seconds,
                                inbox=settings.batch_delivery):
        outbox = Outbox()
        source = SourceCoordinates("", None, None)
        kinds: Counter[tuple[str, str]] = Counter()  # (topic, payload_type) → inputs, for spec §23
        try:
            for event in events:
                message = event.message
                # Under the topic's accepted incarnation: a recreated topic's offsets are not the old one's (§2.4.10).
                source = SourceCoordinates(recorded_name(message.topic), message.partition, message.offset)
                await in_order(message.tp)  # never forward a record past an unverified hole (spec §2.4.9, §2.4.10)
                kinds[(message.topic, await handle_input(outbox, message.key, message.value, source,
                                                         replay_of=replay_marker(message.headers)))] += 1
            await outbox.send()
            count_inputs(kinds)
        except Exception as error:
            stop_worker(f"ingest of a batch of {len(events)} inputs, up to {source.topic}:{source.partition}:"
                        f"{source.offset}", error)
        acknowledge(events)


async def handle_input(outbox: Outbox, key: bytes | None, value: bytes, source: SourceCoordinates, *,
                       replay_of: str | None) -> str:
    """Exactly one outcome per input: forwarded to grouping, or a DLQ record (spec §2.3.1). Returns its
    payload_type (spec §23), `rejected` when it was refused before its type was known."""
    t = time.time()  # decision time T (spec §0.2)
    payload = parse_payload(value or b"", is_registered_type=registry.is_registered)
    if isinstance(payload, Rejection):
        dead_letter(outbox, key, value, payload, source=source, t=t, replay_of=replay_of)
        return "rejected"
    if isinstance(payload, StatusChange):
        change_id = payload.id or derive_id(source.topic, source.partition or 0, source.offset or 0)
        body = status_change_message(
            status_change=payload.to_json_dict(), change_id=change_id, t=t, source=source,
            raw_key=key, raw_value=value,
        )
        outbox.add(grouping_topic, payload.group_key, encode(body), timestamp=t)
        return "status_change"
    await forward_occurrence(outbox, payload, key=key, value=value, source=source, t=t, replay_of=replay_of)
    return "occurrence"


async def forward_occurrence(
    outbox: Outbox, occurrence: Occurrence, *, key: bytes | None, value: bytes, source: SourceCoordinates, t: float,
    replay_of: str | None,
) -> None:
    # spec §3.2 row 8, §10.3.1: after the event checks of rows 1-7, before the stored-event lookup of row 9.
    # A counted drop, not a DLQ entry; the sink adds it to drop_counters and creates the project (§11.1).
    group_type = registry.get_by_type_id(occurrence.type)
    if not gate_passes(group_type, "ingest", occurrence.project_id, current_options()):
        drop = drop_message(
            outcome="ingest_disabled", t=t, group_key=occurrence.group_key, project_id=occurrence.project_id,
            type_id=occurrence.type, drop_id=derive_id(source.topic, source.partition or 0, source.offset or 0),
            source=source,
        )
        outbox.add(group_changes_topic, occurrence.group_key, encode(drop.to_wire()), timestamp=t)
        return
    event_ref = await resolve_event(occurrence, t=t)
    if event_ref is None:
        rejection = Rejection(
            Reason.EVENT_NOT_FOUND,
            f"event_id {occurrence.event_id} names no stored event of project {occurrence.project_id}; "
            "embed the event, or replay this entry once the event is stored",
            "event_id",
        )
        dead_letter(outbox, key, value, rejection, source=source, t=t, replay_of=replay_of)
        return
    occurrence_json = occurrence.to_json_dict()
    event_json = occurrence_json.pop("event", None)
    body = occurrence_message(
        occurrence=occurrence_json, event=event_json, event_ref=event_ref, t=t, source=source,
        raw_key=key, raw_value=value,
    )
    outbox.add(grouping_topic, occurrence.group_key, encode(body), timestamp=t)


async def resolve_event(occurrence: Occurrence, *, t: float) -> dict[str, Any] | None:
    """What grouping needs of the event: embedded, or already stored by an earlier occurrence (spec §5.5)."""
    if occurrence.event is not None:
        event = occurrence.event
        return {
            "timestamp": event.timestamp.timestamp(),
            "platform": event.platform,
            "environment": event.environment or "",
        }

    async def lookup() -> Any:
        pool = await postgres.get()
        async with pool.connection() as conn:
            return await find_event(conn, occurrence.project_id, occurrence.event_id)

    stored = await retry_transient(lookup, what="event lookup", log=log)
    if stored is None:
        return None
    return {"timestamp": stored.timestamp, "platform": stored.platform, "environment": stored.environment}

