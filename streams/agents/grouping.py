"""Agent `grouping`: the single writer of every group key it owns (design §2), a batch at a time.

Outputs before state (spec §2.4.6): a batch is decided in memory against a cache of its keys' states; every
output (group changes, quota requests, dead letters) is sent as it is decided, and only once the broker has
acknowledged all of them are the states written (each touched key once) and the inputs acked. A crash
before the state write leaves the inputs unacked: they are decided again from the same stored values, to the
same decisions, and their outputs are sent again under the same ids (§2.4.7), which every consumer applies at
most once. A crash after it finds the watermarks past them: skipped, their outputs already acknowledged.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from faust import EventT, StreamT

from storage.changes import ExternalLink
from storage.frozen import replace_fields
from streams.agents import project_limits
from streams.agents.dead_letter import dead_letter
from streams.agents.failure import kill_point, stop_worker
from streams.agents.holes import in_order
from streams.agents.project_limits import RATE_LIMITS
from streams.app import app, settings
from streams.core.decide import (
    Decision,
    IncomingOccurrence,
    decide_forget,
    decide_occurrence,
    decide_quota_answer,
    decide_status_change,
)
from streams.core.group_state import InputOffset, KeyState, SeenRecord, TypeRules, type_rules
from streams.core.grouping import Outcome
from streams.core.messages import (
    SourceCoordinates,
    decode,
    encode,
    facts_from_message,
    is_api_message,
    quota_key,
    quota_request_message,
    raw_key_bytes,
)
from streams.core.mutations import (
    UpdateRequest,
    decide_api_status_change,
    decide_delete,
    decide_external_issue,
    decide_update,
)
from streams.core.noise import NoiseCount, NoiseState, as_of, count_in_window, deciding_window_delta
from streams.core.payload import uuid5_hex
from streams.core.rejection import Reason, Rejection
from streams.core.status import StatusRequest
from streams.core.ticks import decide_tick
from streams.core.timers import TickRules, index_writes, wanted_entries
from streams.faust_compat.batch_delivery import acknowledge, batches
from streams.faust_compat.changelog_batches import drain
from streams.faust_compat.internals import make_current
from streams.faust_compat.table_reads import table_get, windowed_get
from streams.outbox import Outbox
from streams.project_ages import resolve_age_hours
from streams.services import registry
from streams.tables import DEDUPE_SECONDS, groups, idle_keep_seconds, noise_tables, seen_ids, timer_index
from streams.topics import group_changes_topic, quota_topic

log = logging.getLogger(__name__)


async def grouping(stream: StreamT[bytes]) -> None:
    # An input is acked only once all of its batch's outputs are acknowledged and its states are written
    # (spec §2.4.6). Each touched key's state is written once a batch, so a larger batch writes less; its
    # outputs go out every `grouping_batch_size` decisions, so consumers get them and the other agents run
    # meanwhile.
    send_every = settings.grouping_batch_size
    async for events in batches(stream, max(send_every, settings.grouping_state_batch_size),
                                within=settings.grouping_batch_seconds, inbox=settings.batch_delivery):
        batch = Batch()
        project_limits.refresh()  # once a batch, never per occurrence (spec §11.2)
        try:
            last = len(events)
            for decided, event in enumerate(events, 1):
                await decide(batch, event)
                if decided % send_every == 0 and decided < last:
                    await batch.outputs.send()
            await batch.complete()
        except Exception as error:
            stop_worker(f"grouping of a batch of {len(events)} messages ({_describe(events)})", error)
        kill_point("grouping.after_state")
        acknowledge(events)


def output_id(event: EventT, position: int) -> str:
    """The id of the `position`-th output of a grouping message (spec §2.4.7): the same when it is decided again."""
    message = event.message
    return uuid5_hex(f"{message.topic}:{message.partition}:{message.offset}:{position}")


@dataclass
class Batch:
    """One batch being decided: the states decided so far, outputs in flight, writes waiting for their acks."""

    states: dict[str, KeyState] = field(default_factory=dict)
    # key → its state's watermark (KeyState.offset) as the table held it when the batch first read it.
    written_offsets: dict[str, int] = field(default_factory=dict)
    # key → the event of its latest message: its partition is the key's, for the table write.
    events: dict[str, EventT] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    forgotten: set[str] = field(default_factory=set)
    # "{key}/{id}" → (event, T', record) of an id recorded by this batch (spec §12.3).
    seen: dict[str, tuple[EventT, float, dict[str, Any]]] = field(default_factory=dict)
    # key → (event, window size, contribution) counted by this batch, in order: written at the end, and read
    # back by the batch before that.
    noise: dict[str, list[tuple[EventT, int, NoiseCount]]] = field(default_factory=dict)
    outputs: Outbox = field(default_factory=Outbox)
    # key → the timer checks a tick re-evaluated in this batch: their index entries are computed afresh.
    ticked: dict[str, set[str]] = field(default_factory=dict)

    def state(self, key: str) -> KeyState:
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = KeyState.from_dict(table_get(groups, key))
            self.written_offsets[key] = state.offset
        return state

    def decided(self, key: str, event: EventT, state: KeyState) -> None:
        self.states[key] = state
        self.events[key] = event
        self.dirty.add(key)
        self.forgotten.discard(key)

    def forget(self, key: str, event: EventT) -> None:
        self.states[key] = KeyState()
        self.events[key] = event
        self.dirty.discard(key)
        self.forgotten.add(key)

    def seen_record(self, key: str, item_id: str, now: float) -> SeenRecord | None:
        recorded = self.seen.get(_seen_key(key, item_id))
        value = recorded[2] if recorded is not None else _stored_seen(key, item_id, now)
        return SeenRecord(t=value["t"], offset=value["offset"]) if value is not None else None

    def noise_window(self, key: str, seconds: int, at: float) -> NoiseState | None:
        """The key's noise window that contains `at`, as the key's written state knew it (`as_of`), with this
        batch's own counts, not written yet, in it."""
        table = noise_tables[seconds]
        value = as_of(windowed_get(table, key, at) or None, self.written_offsets[key])
        counted = self.noise.get(key)
        if counted:
            window = table.table.window
            current = window.current(at)
            for _, size, contribution in counted:
                # The windows the table write applies the contribution to (WindowSet.apply).
                if size == seconds and current in window.ranges(contribution.t):
                    value = count_in_window(value, contribution)
        return NoiseState.from_dict(value)

    def count_noise(self, event: EventT, key: str, seconds: int, contribution: NoiseCount) -> None:
        # Against the key's written watermark: the window keeps its state from before this batch (`as_of`).
        counted = replace_fields(contribution, watermark=self.written_offsets[key])
        self.noise.setdefault(key, []).append((event, seconds, counted))

    def record_seen(self, event: EventT, key: str, item_id: str, now: float, offset: int) -> None:
        self.seen[_seen_key(key, item_id)] = (event, now, {"t": now, "offset": offset})

    async def complete(self) -> None:
        """Await every output's acknowledgement, then write the states (spec §2.4.6): first the noise counts and
        seen ids, acknowledged, then the keys' states, acknowledged.

        In that order, a worker killed in between leaves windows and ids ahead of their keys' states, never
        behind: the inputs are read again, each key's state says they were not applied, and they are decided
        again to the same outputs (the seen ids carry their offsets; a window is read `as_of` the state).
        One changelog send for all of them could land in part, in any combination.
        """
        await self.outputs.send()
        kill_point("grouping.after_outputs")
        for key, counted in self.noise.items():
            for event, seconds, contribution in counted:
                make_current(event)
                noise_tables[seconds].relative_to(contribution.t)[key].apply(count_in_window, contribution)
        for seen_key, (event, now, record) in self.seen.items():
            make_current(event)
            seen_ids.relative_to(now)[seen_key] = record
        if self.noise or self.seen:
            await drain(app)
            kill_point("grouping.after_counts")
        for key in self.dirty:
            make_current(self.events[key])
            groups[key] = self._indexed(key, self.states[key]).to_dict()
        for key in self.forgotten:
            make_current(self.events[key])
            del groups[key]
        await drain(app)  # before the next batch's counts: never two batches of counts ahead of a state
        self.states.clear()
        self.written_offsets.clear()
        self.events.clear()
        self.dirty.clear()
        self.forgotten.clear()
        self.seen.clear()
        self.noise.clear()
        self.ticked.clear()

    def _indexed(self, key: str, state: KeyState) -> KeyState:
        """The key's state with its `timer-index` entries brought up to date and written (spec §15.1), under the
        current event of the key's partition. An occurrence of a group leaves them as they are (no write)."""
        group = state.group
        if group is None and not state.timers:
            return state
        wanted: dict[str, float] = {}
        if group is not None:
            auto_resolve, escalation = _timer_flags(group.type_id)
            wanted = wanted_entries(group, state.timers, t=state.last_t, auto_resolve=auto_resolve,
                                    escalation_detection=escalation, refresh=frozenset(self.ticked.get(key, ())))
        if wanted == state.timers:
            return state
        writes = index_writes(key, int(key.split(":", 1)[0]), state.timers, wanted)
        for old in writes.delete:
            del timer_index[old]
        for new, at in writes.put.items():
            timer_index[new] = at
        return replace_fields(state, timers=wanted)


async def decide(batch: Batch, event: EventT) -> None:
    key: str = event.key
    offset: int = event.message.offset
    await in_order(event.message.tp)  # spec §2.4.9: a record past an unverified hole waits
    try:
        message = decode(event.value)
    except ValueError as error:
        # Only our own producers write here; an undecodable record is a bug upstream, not input.
        log.error("grouping: undecodable internal message at %s offset %s: %s", key, offset, error)
        return
    make_current(event)  # the key's partition, for every table read below
    kind = message["kind"]
    if kind == "occurrence":
        decision = await on_occurrence(batch, event, message)
    elif is_api_message(message):  # spec §20.8, §20.9: rare, never on the occurrence path
        decision = on_api_message(batch, event, message)
    elif kind == "status_change":
        change = message["status_change"]
        state = batch.state(key)
        now = _t_prime(message, state)
        decision = decide_status_change(
            state, change_id=change["id"], request=StatusRequest.from_message(change), group_key=key, offset=offset,
            t=message["t"], seen=batch.seen_record(key, change["id"], now), dedupe_seconds=DEDUPE_SECONDS,
            source=_input(message), reconcile=_reconciled(message), raw_key=raw_key_bytes(message),
            raw=message.get("raw"),
        )
        if decision.record_seen:
            batch.record_seen(event, key, change["id"], decision.t, offset)
    elif kind == "quota_answer":
        state = batch.state(key)
        type_id = state.pending.creator.type_id if state.pending else None
        rules = _rules(type_id) if type_id is not None else TypeRules(0, 50)
        decision = decide_quota_answer(
            state, request_id=message["request_id"], granted=message["granted"], group_key=key, offset=offset,
            t=message["t"], rules=rules,
        )
    elif kind == "tick":  # spec §15.1
        decision = on_tick(batch, event, message)
    elif kind == "forget":
        state = batch.state(key)
        if decide_forget(state, key_offset=message["key_offset"], t=message["t"],
                         keep_seconds=idle_keep_seconds(state)):
            batch.forget(key, event)
        return
    else:
        log.error("grouping: unknown message kind %r at %s offset %s", kind, key, offset)
        return
    await carry_out(batch, event, message, decision)


async def on_occurrence(batch: Batch, event: EventT, message: dict[str, Any]) -> Decision | None:
    key: str = event.key
    offset: int = event.message.offset
    facts = facts_from_message(message)
    if not registry.is_registered(facts.type_id):
        # The registry is the same on every worker (spec §9.5.5); this only follows a plugin removal.
        _reject(batch.outputs, message,
                Rejection(Reason.UNKNOWN_GROUP_TYPE, f"type {facts.type_id} is not registered", "type"))
        return None
    rules = _rules(facts.type_id)
    state = batch.state(key)
    now = _t_prime(message, state)
    noise_before = None
    if rules.has_noise_gate and state.group is None and offset > state.offset:
        assert rules.noise_seconds is not None
        noise_before = batch.noise_window(key, rules.noise_seconds, now - deciding_window_delta(rules.noise_seconds))
    occurrence = {**message["occurrence"], "level": facts.level}
    decision = decide_occurrence(
        state,
        IncomingOccurrence(facts, occurrence, message.get("event"), source=_input(message),
                           reconcile=_reconciled(message)),
        group_key=key, offset=offset, t=message["t"], rules=rules, noise_before=noise_before,
        seen=batch.seen_record(key, facts.id, now), dedupe_seconds=DEDUPE_SECONDS,
        rate_limit=RATE_LIMITS.get(facts.project_id),
        resolve_age_hours=resolve_age_hours(facts.project_id) if _timer_flags(facts.type_id)[0] else None,
    )
    if decision.count_noise is not None:
        assert rules.noise_seconds is not None
        batch.count_noise(event, key, rules.noise_seconds, decision.count_noise)
    if decision.record_seen:
        batch.record_seen(event, key, facts.id, decision.t, offset)
    return decision


def on_tick(batch: Batch, event: EventT, message: dict[str, Any]) -> Decision:
    key: str = event.key
    check: str = message["check"]
    state = batch.state(key)
    group = state.group
    auto_resolve, escalation = _timer_flags(group.type_id) if group is not None else (False, False)
    rules = TickRules(auto_resolve=auto_resolve, escalation_detection=escalation,
                      resolve_age_hours=resolve_age_hours(group.project_id) if group is not None else None)
    batch.ticked.setdefault(key, set()).add(check)
    return decide_tick(state, check=check, tick_id=message["id"], group_key=key, offset=event.message.offset,
                       t=message["t"], rules=rules, forecast=message.get("forecast"))


def on_api_message(batch: Batch, event: EventT, message: dict[str, Any]) -> Decision | None:
    key: str = event.key
    offset: int = event.message.offset
    kind = message["kind"]
    state = batch.state(key)
    change_id = message["status_change"]["id"] if kind == "status_change" else message["id"]
    common: dict[str, Any] = {"change_id": change_id, "generation": message["generation"], "group_key": key,
                              "offset": offset, "t": message["t"], "dedupe_seconds": DEDUPE_SECONDS,
                              "seen": batch.seen_record(key, change_id, _t_prime(message, state))}
    if kind == "status_change":
        # A tracker's webhook names its activities' source and actor (spec §24.6); `source` is an input's coordinates.
        origin = {name: message[f"activity_{name}"] for name in ("source", "actor") if f"activity_{name}" in message}
        decision = decide_api_status_change(state, request=StatusRequest.from_message(message["status_change"]),
                                            **origin, **common)
    elif kind == "update":
        decision = decide_update(state, request=UpdateRequest.from_message(message), **common)
    elif kind == "delete":
        decision = decide_delete(state, **common)
    elif kind == "external_issue":  # spec §24.4
        decision = decide_external_issue(state, link=ExternalLink.from_wire(message["external_issue"]),
                                         provider=message["provider"], **common)
    else:
        log.error("grouping: unknown API message kind %r at %s offset %s", kind, key, offset)
        return None
    if decision.record_seen:  # a retried request's change id is applied at most once (spec §2.4, §12.3)
        batch.record_seen(event, key, change_id, decision.t, offset)
    return decision


async def carry_out(batch: Batch, event: EventT, message: dict[str, Any], decision: Decision | None) -> None:
    if decision is None:
        return
    key: str = event.key
    if decision.state_changed:
        batch.decided(key, event, decision.state)
    if decision.rejection is not None:  # its dead letter is its outcome; the watermarks moved past it (§2.4.10)
        _reject(batch.outputs, message, decision.rejection)
        return
    if decision.outcome is Outcome.LOST:
        source = message["source"]
        log.error("grouping: input %s:%s:%s was applied to key %s, yet no outcome of it reached PostgreSQL: "
                  "recorded as lost (spec §2.4.13)", source["topic"], source["partition"], source["offset"], event.key)
    cause = (event.message.partition, event.message.offset)
    source = message.get("source")  # an input's decision: its first change records the outcome (§2.4.13)
    for position, change in enumerate(decision.changes):
        input_record = (source["topic"], source["partition"], source["offset"]) if source and position == 0 \
            else change.input  # a held status change applied after its creation names its own input
        identified = replace_fields(change, change_id=output_id(event, position), cause=cause, input=input_record)
        batch.outputs.add(group_changes_topic, key, encode(identified.to_wire()), timestamp=decision.t)
    for held, rejection in decision.dead_letters:  # spec §13.2.5 step 5: held status changes of a refusal
        held_source = held.source
        dead_letter(
            batch.outputs, held.raw_key, held.raw.encode("utf-8"), rejection,
            source=SourceCoordinates(held_source.topic, held_source.partition, held_source.offset)
            if held_source else SourceCoordinates("", None, None),
            t=held.t, stage="grouping")
    request = decision.quota_request
    if request is not None:
        body = quota_request_message(request_id=request.request_id, group_key=request.group_key,
                                     project_id=request.project_id, type_id=request.type_id, t=request.t)
        batch.outputs.add(quota_topic, quota_key(request.project_id, request.type_id), encode(body),
                          timestamp=request.t)


_RULES: dict[int, TypeRules] = {}


def _rules(type_id: int) -> TypeRules:
    rules = _RULES.get(type_id)
    if rules is None:
        rules = _RULES[type_id] = type_rules(registry.get_by_type_id(type_id))
    return rules


_TIMER_FLAGS: dict[int, tuple[bool, bool]] = {}


def _timer_flags(type_id: int) -> tuple[bool, bool]:
    """(enable_auto_resolve, enable_escalation_detection) of a type (spec §9.2, §15); neither for a type no longer
    registered (a removed plugin's groups still take status changes, spec §9.5.5)."""
    flags = _TIMER_FLAGS.get(type_id)
    if flags is None:
        if not registry.is_registered(type_id):
            return False, False
        group_type = registry.get_by_type_id(type_id)
        flags = _TIMER_FLAGS[type_id] = (group_type.enable_auto_resolve, group_type.enable_escalation_detection)
    return flags


def _t_prime(message: dict[str, Any], state: KeyState) -> float:
    """T' (spec §0.2): the windowed tables are read and written relative to it, never to the record's time."""
    return float(max(message["t"], state.last_t))


def _seen_key(key: str, item_id: str) -> str:
    return f"{key}/{item_id}"


def _stored_seen(key: str, item_id: str, now: float) -> dict[str, Any] | None:
    """The id's record in the window of T' or the one before (tumbling windows of the dedupe size, §12.3)."""
    seen_key = _seen_key(key, item_id)
    for t in (now, now - DEDUPE_SECONDS):
        value = windowed_get(seen_ids, seen_key, t)
        if value:
            return value  # type: ignore[no-any-return]
    return None


def _reconciled(message: dict[str, Any]) -> bool:
    source = message.get("source")
    return bool(source and source.get("reconcile"))


def _input(message: dict[str, Any]) -> InputOffset | None:
    source = message.get("source")
    return InputOffset(source["topic"], source["partition"], source["offset"]) if source else None


def _describe(events: Sequence[EventT]) -> str:
    first, last = events[0].message, events[-1].message
    return f"{first.topic} partition {first.partition} offset {first.offset} to partition {last.partition} " \
           f"offset {last.offset}"


def _reject(outbox: Outbox, message: dict[str, Any], rejection: Rejection) -> None:
    source = message["source"]
    dead_letter(
        outbox,
        raw_key_bytes(message),
        message["raw"].encode("utf-8"),
        rejection,
        source=SourceCoordinates(source["topic"], source["partition"], source["offset"]),
        t=message["t"],
        stage="grouping",
    )
