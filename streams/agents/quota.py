"""Agent `quota`: the one writer of each (project, type) creation quota, exact across workers (§13.2.5).

A batch at a time, outputs before state (spec §2.4.6): every answer of a batch is sent, all are
acknowledged by the broker, and only then are the quota states and the recorded answers written and the
requests acked. A request read again at or below its key's watermark was answered before its state was
written: nothing is sent. The same request id at a new offset (its owner decided it again after a crash)
gets the answer recorded for it, and consumes nothing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from faust import EventT, StreamT

from streams.agents.failure import kill_point, stop_worker
from streams.agents.holes import in_order
from streams.app import app, settings
from streams.core.messages import decode, encode, quota_answer_message
from streams.core.quota import QuotaRule, QuotaState, decide_quota
from streams.faust_compat.batch_delivery import acknowledge, batches
from streams.faust_compat.changelog_batches import drain
from streams.faust_compat.internals import make_current
from streams.outbox import Outbox
from streams.services import registry
from streams.tables import DEDUPE_SECONDS, quota_answers, quotas
from streams.topics import grouping_topic

log = logging.getLogger(__name__)


async def quota(stream: StreamT[bytes]) -> None:
    async for events in batches(stream, settings.grouping_batch_size, within=settings.grouping_batch_seconds,
                                inbox=settings.batch_delivery):
        batch = QuotaBatch()
        try:
            for event in events:
                await decide(batch, event)
            await batch.complete()
        except Exception as error:
            first = events[0].message
            stop_worker(f"quota decisions of a batch of {len(events)} requests from partition {first.partition} "
                        f"offset {first.offset}", error)
        acknowledge(events)


@dataclass
class QuotaBatch:
    states: dict[str, QuotaState] = field(default_factory=dict)
    events: dict[str, EventT] = field(default_factory=dict)  # quota key → an event of its partition
    # "{quota key}/{request id}" → (event, T of the request, recorded answer)
    answers: dict[str, tuple[EventT, float, dict[str, Any]]] = field(default_factory=dict)
    outputs: Outbox = field(default_factory=Outbox)

    def state(self, key: str) -> QuotaState:
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = QuotaState.from_dict(quotas.get(key))
        return state

    def answer_given(self, answer_key: str, t: float) -> dict[str, Any] | None:
        """The answer recorded for the request: {"granted", "offset"} (the request offset it was given at)."""
        recorded = self.answers.get(answer_key)
        return recorded[2] if recorded is not None else _stored_answer(answer_key, t)

    async def complete(self) -> None:
        """Outputs acknowledged, then the answers, acknowledged, then the states (spec §2.4.6): a crash between
        the two leaves answers ahead of their states, which `decide_quota` counts when they are read again."""
        await self.outputs.send()
        for answer_key, (event, t, value) in self.answers.items():
            make_current(event)
            quota_answers.relative_to(t)[answer_key] = value
        if self.answers:
            await drain(app)
            kill_point("quota.after_answers")
        for key, state in self.states.items():
            if key in self.events:
                make_current(self.events[key])
                quotas[key] = state.to_dict()
        await drain(app)


async def decide(batch: QuotaBatch, event: EventT) -> None:
    key: str = event.key
    offset: int = event.message.offset
    await in_order(event.message.tp)  # spec §2.4.9: a record past an unverified hole waits
    request = decode(event.value)
    make_current(event)  # the quota key's partition, for the table reads
    request_id: str = request["request_id"]
    t = float(request["t"])
    answer_key = f"{key}/{request_id}"
    limit = registry.get_by_type_id(request["type_id"]).creation_quota
    rule = QuotaRule(limit.window_seconds, limit.granularity_seconds, limit.limit)
    recorded = batch.answer_given(answer_key, t)
    decision = decide_quota(batch.state(key), request_id=request_id, t=t, offset=offset, rule=rule,
                            decided=recorded["granted"] if recorded else None,
                            decided_at=recorded.get("offset") if recorded else None)
    if decision.granted is None:
        return
    if decision.is_new or decision.recounted:
        batch.states[key] = decision.state
        batch.events[key] = event
    if decision.is_new:
        batch.answers[answer_key] = (event, t, {"granted": decision.granted, "offset": offset})
    answer = quota_answer_message(request_id=request_id, granted=decision.granted, t=request["t"])
    batch.outputs.add(grouping_topic, request["group_key"], encode(answer), timestamp=request["t"])


def _stored_answer(answer_key: str, t: float) -> dict[str, Any] | None:
    """The answer recorded in the window of the request's T or the one before."""
    for at in (t, t - DEDUPE_SECONDS):
        value = quota_answers.relative_to(at)[answer_key].value()
        if value:
            return value  # type: ignore[no-any-return]
    return None
