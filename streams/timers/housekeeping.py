"""Hourly housekeeping on the leader: keep `counted_drops` (spec §2.4.1), `sink_applied_changes` (§2.4.7),
`quota_waiters` (§2.4.11) and `api_changes` (§20.8.4) bounded, and delete the events group deletions left
unreferenced (§19)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from psycopg import AsyncConnection

from storage.api_requests import prune_api_requests
from storage.events import sweep_orphan_events
from storage.sink_writer import prune_answered_waiters, prune_api_changes, prune_applied_changes, prune_counted_drops
from streams.app import settings
from streams.services import postgres
from streams.topic_admin import connect
from streams.topics import group_changes_topic, grouping_topic

log = logging.getLogger(__name__)
T = TypeVar("T")

INTERVAL_SECONDS = 3600.0
# How long the pruning of change ids waits for the sink to read the changes sent before it looked, and how
# often it looks meanwhile: under load the sink trails the end of its topic by a batch or two.
SINK_WAIT_SECONDS = 120.0
SINK_POLL_SECONDS = 5.0
# Only `?wait=1` reads `api_changes`, for at most 10 s (spec §20.8.4): a day is plenty.
API_CHANGES_RETENTION = timedelta(days=1)
# How long an event a deletion left unreferenced stays marked (invisible to ingest's lookup) before it goes: longer
# than any occurrence that found it can take to reach Postgres (seconds normally; an hour-long sink backlog after
# an outage still fits). Nothing requires the events to go soon (spec §19 has no deadline), so a day, not an hour.
ORPHAN_EVENT_GRACE = timedelta(days=1)


async def forget_old_count_ids() -> None:
    """Prune count ids older than the retention, then applied change ids (one hourly timer, registered in
    streams.worker); a failure only delays the pruning to the next hour."""
    retention = timedelta(hours=settings.counted_drops_retention_hours)
    removed = await _prune("counted_drops pruning", lambda conn: prune_counted_drops(conn, retention))
    if removed is not None:
        log.info("counted_drops: forgot %d count ids older than %s", removed, retention)

    async def api_changes(conn: AsyncConnection[Any]) -> int:
        removed = await prune_api_changes(conn, API_CHANGES_RETENTION)
        # Idempotency-Keys bind their request as long as its changes' outcomes are kept (streams.web.mutate).
        await prune_api_requests(conn, API_CHANGES_RETENTION)
        return removed

    removed = await _prune("api_changes pruning", api_changes)
    if removed is not None:
        log.info("api_changes: forgot %d API change outcomes older than %s", removed, API_CHANGES_RETENTION)
    await forget_applied_change_ids()
    await forget_answered_waiters()
    await forget_orphan_events()


async def forget_orphan_events() -> None:
    """Delete the events group deletions left unreferenced, once no occurrence naming one can still be on its way
    (storage.events.sweep_orphan_events); a failure only delays the sweep to the next hour."""
    swept = await _prune("orphan events sweep", lambda conn: sweep_orphan_events(conn, ORPHAN_EVENT_GRACE))
    if swept is None:
        return
    log.info("events: deleted %d left unreferenced by deletions, marked %d, kept %d referenced again",
             swept.deleted, swept.marked, swept.kept)


async def forget_answered_waiters() -> None:
    """Prune the waiters of quota requests answered by a change the sink has committed past: it is never
    forwarded again (spec §2.4.11); if the offsets cannot be read, nothing is pruned until the next hour."""
    try:
        committed = await sink_committed(settings.bootstrap_servers, settings.deployment_id,
                                         changes=group_changes_topic.get_topic_name(), partitions=settings.partitions)
        pool = await postgres.get()
        async with pool.connection() as conn:
            removed = await prune_answered_waiters(conn, committed)
    except Exception as error:  # never let housekeeping stop the worker
        log.warning("quota_waiters pruning failed, retrying in an hour: %s", error)
        return
    log.info("quota_waiters: forgot %d waiters of answered quota requests", removed)


async def _prune(what: str, prune: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T | None:
    """`prune` on a pooled connection; None when it failed, in one warning: the pruning waits for the next hour."""
    try:
        pool = await postgres.get()
        async with pool.connection() as conn:
            return await prune(conn)
    except Exception as error:  # never let housekeeping stop the worker
        log.warning("%s failed, retrying in an hour: %s", what, error)
        return None


async def sink_committed(servers: list[str], group: str, *, changes: str, partitions: int) -> dict[int, int]:
    """The committed offset of `group` per partition of the group-changes topic (those never committed left out)."""
    admin = await connect(servers)
    try:
        read = await _committed(admin, group, [TopicPartition(changes, partition) for partition in range(partitions)])
    finally:
        await admin.close()
    return {partition: offset for partition, offset in read.items() if offset >= 0}


async def forget_applied_change_ids() -> None:
    """Prune the ids of applied changes whose cause the grouping consumer group has committed past, never by
    age (spec §2.4.7); if the offsets cannot be read, nothing is pruned until the next hour."""
    try:
        committed = await prune_limits(
            settings.bootstrap_servers, settings.deployment_id, grouping=grouping_topic.get_topic_name(),
            changes=group_changes_topic.get_topic_name(), partitions=settings.partitions)
    except Exception as error:  # never let housekeeping stop the worker
        log.warning("sink_applied_changes: pruning nothing, retrying in an hour: the consumer group's committed "
                    "offsets could not be read: %s", error)
        return
    if committed is None:
        log.info("sink_applied_changes: pruning nothing, retrying in an hour: the sink has not read every change "
                 "sent before the grouping offsets were read within %.0f s", SINK_WAIT_SECONDS)
        return
    removed = await _prune("sink_applied_changes pruning", lambda conn: prune_applied_changes(conn, committed))
    if removed is None:
        return
    log.info("sink_applied_changes: forgot %d change ids below the grouping group's committed offsets", removed)


async def prune_limits(
    servers: list[str], group: str, *, grouping: str, changes: str, partitions: int,
    wait_seconds: float = SINK_WAIT_SECONDS, poll_seconds: float = SINK_POLL_SECONDS,
) -> dict[int, int] | None:
    """The committed offset of `group` per partition of the grouping topic (partitions it never committed left
    out), once the same group has committed, on the group-changes topic, the end offsets read after them.

    Past its committed offset the owner never sends a copy of a message's changes again; every copy it sent
    was acknowledged before that commit (spec §2.4.6), so lies below the end offsets read after it. Once the
    sink has committed past those, it has applied, skipped or parked every copy, and an id below the committed
    offsets can go. None if the sink does not get there within `wait_seconds`.
    """
    grouping_partitions = [TopicPartition(grouping, partition) for partition in range(partitions)]
    changes_partitions = [TopicPartition(changes, partition) for partition in range(partitions)]
    admin = await connect(servers)
    try:
        committed = {partition: offset for partition, offset in
                     (await _committed(admin, group, grouping_partitions)).items() if offset >= 0}
        ends = await _end_offsets(servers, changes_partitions)
        deadline = time.monotonic() + wait_seconds
        while True:
            read = await _committed(admin, group, changes_partitions)
            if all(read.get(partition, -1) >= end for partition, end in ends.items() if end > 0):
                return committed
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(poll_seconds)
    finally:
        await admin.close()


async def _committed(admin: AIOKafkaAdminClient, group: str, partitions: Sequence[TopicPartition]) -> dict[int, int]:
    """partition → the group's committed offset (the next it reads), -1 where it committed none."""
    offsets = await admin.list_consumer_group_offsets(group, partitions=list(partitions))
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


async def _end_offsets(servers: list[str], partitions: Sequence[TopicPartition]) -> Mapping[int, int]:
    # A consumer without a group: it commits nothing and joins no assignment.
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(list(partitions))).items()}
    finally:
        await consumer.stop()
