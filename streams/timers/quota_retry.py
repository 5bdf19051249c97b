"""The owner's `quota_retry` tick (spec §2.4.11): a creation request unanswered for
`ISSUE_PLATFORM_QUOTA_RETRY_SECONDS` is sent again with the same id.

Every half of that period the tick reads the `groups` partitions this worker actively owns, decoding only
the values that hold a pending request (the others are told apart by their raw bytes), and sends each
request the pure rule of streams.core.quota_retry finds due. The requests seen are remembered in memory:
after a restart or a rebalance they are seen anew, so a retry comes at most one period later.
"""
from __future__ import annotations

import asyncio
import logging
import time

from streams.app import app, settings
from streams.core.group_state import Pending
from streams.core.messages import encode, quota_key, quota_request_message
from streams.core.quota_retry import RequestKey, due_retries
from streams.faust_compat.internals import active_partitions, table_values_with
from streams.tables import groups
from streams.topics import grouping_topic, quota_topic

log = logging.getLogger(__name__)

# How a stored key state without a pending request reads (the table's JSON codec writes no spaces); a value
# without these bytes is decoded and looked at, so another encoding only costs time, never a retry.
NOT_PENDING = b'"pending":null'
CHUNK = 5000  # keys looked at between two turns of the event loop

_noticed: dict[RequestKey, float] = {}


async def pending_requests() -> dict[RequestKey, Pending]:
    """Every request a key of this worker's active `groups` partitions waits on."""
    pending: dict[RequestKey, Pending] = {}
    for partition in active_partitions(app, groups, grouping_topic.get_topic_name()):
        after: bytes | None = None
        while True:
            values, after = table_values_with(groups, partition, NOT_PENDING, after=after, limit=CHUNK)
            for key, value in values:
                if value and value.get("pending"):
                    request = Pending.from_dict(value["pending"])
                    pending[(key, request.request_id)] = request
            if after is None:
                break
            await asyncio.sleep(0)
    return pending


async def retry_unanswered() -> int:
    """One tick; returns how many requests it sent again."""
    global _noticed
    pending = await pending_requests()
    retries = due_retries(pending, _noticed, now=time.monotonic(), retry_seconds=settings.quota_retry_seconds)
    _noticed = retries.noticed
    for group_key, request_id in retries.due:
        request = pending[(group_key, request_id)]
        creator = request.creator
        body = quota_request_message(request_id=request_id, group_key=group_key, project_id=creator.project_id,
                                     type_id=creator.type_id, t=request.t)
        await quota_topic.send(key=quota_key(creator.project_id, creator.type_id), value=encode(body),
                               timestamp=request.t)
    if retries.due:
        log.warning("quota_retry: sent %d creation requests again, unanswered for %.0f s or more (spec §2.4.11)",
                    len(retries.due), settings.quota_retry_seconds)
    return len(retries.due)


async def quota_retry_tick() -> None:
    try:
        await retry_unanswered()
    except Exception:  # a missed tick only delays a retry; the next one tries again
        log.exception("quota_retry: tick failed; the next one tries again")
