"""Agent `quota`: the one writer of each (project, type) creation quota, exact across workers (§13.2.5)."""
from __future__ import annotations

import logging

from faust import StreamT

from streams.app import app, settings, table_store_options
from streams.core.messages import decode, encode, quota_answer_message
from streams.core.quota import QuotaRule, QuotaState, decide_quota
from streams.failfast import stop_worker
from streams.services import registry
from streams.topics import grouping_topic, quota_topic

log = logging.getLogger(__name__)

# "{project_id}:{type_id}" → QuotaState: grants per granule and the answers given (spec §13.2.5 step 2).
quotas = app.Table(
    "quotas", key_type=str, value_type=None, partitions=settings.partitions, options=table_store_options(),
    help="Creation quota per (project, type): grants per granule (spec §13.2.2)",
)


@app.agent(quota_topic, name="quota", concurrency=1)
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
