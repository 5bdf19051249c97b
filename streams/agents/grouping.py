"""Agent `grouping`: the single writer of every group key it owns (design §2); applies and emits changes."""
from __future__ import annotations

import logging
from typing import Any

from faust import StreamT

from streams.agents.ingest import dead_letter
from streams.app import app, settings
from streams.core.grouping import GroupState, Outcome, apply_occurrence, apply_status_change
from streams.core.messages import (
    SourceCoordinates,
    decode,
    encode,
    facts_from_message,
    group_change_message,
    raw_key_bytes,
)
from streams.core.payload import Reason, Rejection
from streams.failfast import stop_worker
from streams.services import registry
from streams.topics import group_changes_topic, grouping_topic

log = logging.getLogger(__name__)

# group key → GroupState as a dict; changelogged, on RocksDB, co-partitioned with the grouping topic.
groups = app.Table(
    "groups",
    key_type=str,
    value_type=None,  # plain dicts, JSON in the changelog (Faust picks json for non-Record types)
    partitions=settings.partitions,
    help="Live group state per group key (spec §1.1)",
)


@app.agent(grouping_topic, name="grouping", concurrency=1)
async def grouping(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        key: str = event.key
        offset: int = event.message.offset
        try:
            message = decode(event.value)
        except ValueError as error:
            # Only our own producers write here; an undecodable record is a bug upstream, not input.
            log.error("grouping: undecodable internal message at %s offset %s: %s", key, offset, error)
            continue
        try:
            await apply(key, offset, message)
        except Exception as error:
            stop_worker(f"grouping of {key} at offset {offset}", error)


async def apply(key: str, offset: int, message: dict[str, Any]) -> None:
    kind = message["kind"]
    if kind == "occurrence":
        await on_occurrence(key, offset, message)
    elif kind == "status_change":
        await on_status_change(key, offset, message)
    else:
        log.error("grouping: unknown message kind %r at %s offset %s", kind, key, offset)


def _state(key: str) -> GroupState | None:
    stored = groups.get(key)
    return GroupState.from_dict(stored) if stored else None


async def on_occurrence(key: str, offset: int, message: dict[str, Any]) -> None:
    facts = facts_from_message(message)
    group_type = registry.get_by_type_id(facts.type_id) if registry.is_registered(facts.type_id) else None
    if group_type is None:
        # The registry is the same on every worker (spec §9.5.5), so this only follows a plugin removal.
        await _reject(message, Rejection(Reason.UNKNOWN_GROUP_TYPE, f"type {facts.type_id} is not registered", "type"))
        return
    state = _state(key)
    decision = apply_occurrence(
        state, facts, group_key=key, t=message["t"], offset=offset, default_priority=int(group_type.default_priority)
    )
    if decision.outcome is Outcome.REDELIVERED:
        return
    if decision.outcome is Outcome.TYPE_MISMATCH:
        assert state is not None
        await _reject(
            message,
            Rejection(Reason.TYPE_MISMATCH, f"occurrence type {facts.type_id} differs from the group's type {state.type_id}", "type"),
        )
        return
    assert decision.state is not None
    groups[key] = decision.state.to_dict()
    occurrence = {**message["occurrence"], "level": facts.level}
    change = group_change_message(
        kind="occurrence",
        outcome=decision.outcome.value,
        t=decision.t,
        group=decision.state.to_dict(),
        occurrence=occurrence,
        event=message.get("event"),
        environment=facts.environment,
        is_new=decision.is_new,
        is_new_group_environment=decision.is_new_group_environment,
    )
    change["event_timestamp"] = facts.event_timestamp
    await group_changes_topic.send(key=key, value=encode(change), timestamp=decision.t)


async def on_status_change(key: str, offset: int, message: dict[str, Any]) -> None:
    change = message["status_change"]
    state = _state(key)
    decision = apply_status_change(
        state,
        new_status=change["new_status"],
        new_substatus=change.get("new_substatus"),
        t=message["t"],
        offset=offset,
    )
    if decision.outcome is Outcome.GROUP_NOT_FOUND:
        await _reject(message, Rejection(Reason.GROUP_NOT_FOUND, f"no live group for key {key}", "fingerprint"))
        return
    if decision.outcome in (Outcome.REDELIVERED, Outcome.NOOP):
        return
    assert decision.state is not None
    groups[key] = decision.state.to_dict()
    body = group_change_message(kind="status_change", outcome=decision.outcome.value, t=decision.t,
                                group=decision.state.to_dict())
    await group_changes_topic.send(key=key, value=encode(body), timestamp=decision.t)


async def _reject(message: dict[str, Any], rejection: Rejection) -> None:
    source = message["source"]
    await dead_letter(
        raw_key_bytes(message),
        message["raw"].encode("utf-8"),
        rejection,
        source=SourceCoordinates(source["topic"], source["partition"], source["offset"]),
        t=message["t"],
        stage="grouping",
    )
