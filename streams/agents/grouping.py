"""Agent `grouping`: the single writer of every group key it owns (design §2); applies and emits changes."""
from __future__ import annotations

import logging
from typing import Any

from faust import StreamT

from streams.agents.dead_letter import dead_letter
from streams.agents.failure import stop_worker
from streams.core.decide import (
    Decision,
    IncomingOccurrence,
    decide_forget,
    decide_occurrence,
    decide_quota_answer,
    decide_status_change,
)
from streams.core.group_state import KeyState, SeenRecord, TypeRules, type_rules
from streams.core.messages import (
    SourceCoordinates,
    decode,
    encode,
    facts_from_message,
    quota_key,
    quota_request_message,
    raw_key_bytes,
)
from streams.core.noise import NoiseState, count_in_window, deciding_window_delta
from streams.core.rejection import Reason, Rejection
from streams.services import registry
from streams.tables import DEDUPE_SECONDS, groups, idle_keep_seconds, noise_tables, seen_ids
from streams.topics import group_changes_topic, quota_topic

log = logging.getLogger(__name__)


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
            await apply(key, offset, message, event.message.timestamp)
        except Exception as error:
            stop_worker(f"grouping of {key} at offset {offset}", error)


async def apply(key: str, offset: int, message: dict[str, Any], timestamp: float) -> None:
    kind = message["kind"]
    state = KeyState.from_dict(groups.get(key))
    if kind == "occurrence":
        decision = await on_occurrence(key, offset, message, state)
    elif kind == "status_change":
        change = message["status_change"]
        decision = decide_status_change(
            state, change_id=change["id"], new_status=change["new_status"],
            new_substatus=change.get("new_substatus"), group_key=key, offset=offset, t=message["t"],
            seen=_seen(key, change["id"]), dedupe_seconds=DEDUPE_SECONDS,
        )
        if decision.record_seen:
            _record_seen(key, change["id"], message["t"], offset)
    elif kind == "quota_answer":
        type_id = state.pending.creator.type_id if state.pending else None
        rules = type_rules(registry.get_by_type_id(type_id)) if type_id is not None else TypeRules(0, 50)
        decision = decide_quota_answer(
            state, request_id=message["request_id"], granted=message["granted"], group_key=key, offset=offset,
            t=message["t"], rules=rules,
        )
    elif kind == "forget":
        forget(key, message, state)
        return
    else:
        log.error("grouping: unknown message kind %r at %s offset %s", kind, key, offset)
        return
    await carry_out(key, message, decision)


def forget(key: str, message: dict[str, Any], state: KeyState) -> None:
    """Remove an idle key the sweep selected (design §4 "Bounded state"): a changelog tombstone.

    No change for the sink and nothing to dead-letter: forgetting has no effect anyone can see.
    """
    if decide_forget(state, key_offset=message["key_offset"], t=message["t"], keep_seconds=idle_keep_seconds(state)):
        del groups[key]


async def on_occurrence(key: str, offset: int, message: dict[str, Any], state: KeyState) -> Decision | None:
    facts = facts_from_message(message)
    if not registry.is_registered(facts.type_id):
        # The registry is the same on every worker (spec §9.5.5); this only follows a plugin removal.
        await _reject(message, Rejection(Reason.UNKNOWN_GROUP_TYPE, f"type {facts.type_id} is not registered", "type"))
        return None
    rules = type_rules(registry.get_by_type_id(facts.type_id))
    noise_before = None
    if rules.has_noise_gate and state.group is None:
        assert rules.noise_seconds is not None
        windows = noise_tables[rules.noise_seconds][key]
        noise_before = NoiseState.from_dict(_window_get(lambda: windows.delta(deciding_window_delta(rules.noise_seconds))))
    occurrence = {**message["occurrence"], "level": facts.level}
    decision = decide_occurrence(
        state,
        IncomingOccurrence(facts, occurrence, message.get("event"), source=_source(message)),
        group_key=key, offset=offset, t=message["t"], rules=rules, noise_before=noise_before,
        seen=_seen(key, facts.id), dedupe_seconds=DEDUPE_SECONDS,
    )
    if decision.count_noise is not None:
        assert rules.noise_seconds is not None
        noise_tables[rules.noise_seconds][key].apply(count_in_window, decision.count_noise)
    if decision.record_seen:
        _record_seen(key, facts.id, message["t"], offset, _source(message))
    return decision


async def carry_out(key: str, message: dict[str, Any], decision: Decision | None) -> None:
    if decision is None:
        return
    if decision.rejection is not None:
        await _reject(message, decision.rejection)
        return
    if decision.state_changed:
        groups[key] = decision.state.to_dict()
    for change in decision.changes:
        await group_changes_topic.send(key=key, value=encode(change.to_wire()), timestamp=decision.t)
    request = decision.quota_request
    if request is not None:
        body = quota_request_message(request_id=request.request_id, group_key=request.group_key,
                                     project_id=request.project_id, type_id=request.type_id, t=request.t)
        await quota_topic.send(key=quota_key(request.project_id, request.type_id), value=encode(body),
                               timestamp=request.t)


def _window_get(read: Any) -> Any:
    return read() or None  # an empty dict is a window that holds nothing for the key


def _seen_key(key: str, item_id: str) -> str:
    return f"{key}/{item_id}"


def _seen(key: str, item_id: str) -> SeenRecord | None:
    windows = seen_ids[_seen_key(key, item_id)]
    for read in (windows.current, lambda: windows.delta(DEDUPE_SECONDS)):
        value = _window_get(read)
        if value is not None:
            return SeenRecord(t=value["t"], offset=value["offset"], source=value.get("source"))
    return None


def _record_seen(key: str, item_id: str, t: float, offset: int, source: str | None = None) -> None:
    seen_ids[_seen_key(key, item_id)] = {"t": t, "offset": offset, "source": source}


def _source(message: dict[str, Any]) -> str | None:
    source = message.get("source")
    return f"{source['topic']}:{source['partition']}:{source['offset']}" if source else None


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
