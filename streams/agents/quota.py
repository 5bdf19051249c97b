"""Agent `quota`: the one writer of each (project, type) creation quota, exact across workers (§13.2.5)."""
from __future__ import annotations

import logging

from faust import StreamT

from streams.agents.failure import stop_worker
from streams.core.messages import decode, encode, quota_answer_message
from streams.core.quota import QuotaRule, QuotaState, decide_quota
from streams.services import registry
from streams.tables import quotas
from streams.topics import grouping_topic

log = logging.getLogger(__name__)

async def quota(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        key: str = event.key
        try:
            request = decode(event.value)
            group_type = registry.get_by_type_id(request["type_id"])
            limit = group_type.creation_quota
            rule = QuotaRule(limit.window_seconds, limit.granularity_seconds, limit.limit)
            decision = decide_quota(QuotaState.from_dict(quotas.get(key)), request_id=request["request_id"],
                                    t=request["t"], offset=event.message.offset, rule=rule)
            if not decision.redelivered:
                quotas[key] = decision.state.to_dict()
            answer = quota_answer_message(request_id=request["request_id"], granted=decision.granted, t=request["t"])
            await grouping_topic.send(key=request["group_key"], value=encode(answer), timestamp=request["t"])
        except Exception as error:
            stop_worker(f"quota decision for {key} at offset {event.message.offset}", error)
