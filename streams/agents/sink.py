"""Agent `sink`: persists batches of group changes to Postgres, then forwards post-process events (§2.4.3).

A change Postgres refuses for good is parked, not retried for ever (spec §2.4.12): storage.sink_writer's
`write_or_park` applies the rest of the batch and moves it, with the later changes of its key, to `sink_parked`.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faust import StreamT
from faust.types import TP

from grouptypes import gate_passes
from storage.changes import ExternalIssueChange, GroupChange, OccurrenceChange, decode_change
from storage.sink_plan import BatchResult, ChangeFailure, ChangeRecord, Coordinates
from storage.sink_writer import advance_sink_offset, write_batch, write_or_park
from streams.agents.failure import kill_point, retry_transient, stop_worker
from streams.agents.kafka_read import read_range
from streams.app import app, settings
from streams.core.messages import encode
from streams.core.postprocess import (
    activity_message,
    post_process_entries,
    post_process_message,
    waiter_entries,
)
from streams.core.short_id import display_short_id
from streams.core.tracker_records import tracker_used_record
from streams.faust_compat.batch_delivery import acknowledge, batches
from streams.metrics import count_post_process, count_sink_batch
from streams.outbox import Outbox
from streams.services import postgres, registry
from streams.tables import current_options
from streams.topics import activity_topic, analytics_topic, group_changes_topic, post_process_topic

log = logging.getLogger(__name__)


async def sink(stream: StreamT[bytes]) -> None:
    # Acked only after the commit (design §4): batches() leaves every ack to the agent.
    async for events in batches(stream, settings.sink_batch_size, within=settings.sink_batch_seconds,
                                inbox=settings.batch_delivery):
        try:
            changes = [ChangeRecord(e.message.partition, e.message.offset, decode_change(e.value)) for e in events]
            result = await _write(changes)
            if result.skipped:
                log.info("sink: %d of %d changes applied before or repeated, skipped: %s", len(result.skipped),
                         len(changes), _offset_ranges(result.skipped))
            if result.repeated:
                log.info("sink: %d of them copies under a change id applied before (spec §2.4.7), not forwarded: %s",
                         len(result.repeated), _offset_ranges(result.repeated))
            kill_point("sink.after_commit")
            await _forward(result)
            for _ in range(MAX_FILLS):
                if not result.holes:
                    break
                refill = await _fill_holes(result)
                if not refill:
                    break
                result = await _write(refill)
                await _forward(result)
            if result.holes and _owned(result.holes):
                raise RuntimeError(f"sink: offsets still missing after {MAX_FILLS} direct reads: {result.holes}")
        except Exception as error:
            stop_worker(f"sink batch of {len(events)} changes", error)
        acknowledge(events)


# A direct read that still leaves a hole (a timeout, a record appended meanwhile) is tried again this often.
MAX_FILLS = 3


async def _fill_holes(
    result: BatchResult, consumer: Any = None, read: Callable[..., Awaitable[tuple[int, list[Any]]]] = read_range
) -> list[ChangeRecord]:
    """The missing changes of each owned partition with a hole, read straight from the broker, followed by
    the partition's deferred ones: a batch the sink can now apply without a gap (storage.sink_plan.contiguous).

    Read directly rather than by seeking Faust's consumer back: records it had already fetched past the
    hole would raise its read offset again and make it drop the refetched ones. A partition that is no
    longer ours is left to its new owner, who meets the same hole and fills it the same way. If retention
    deleted the missing offsets, an error line says so and the sink continues at the oldest one left.
    """
    consumer = consumer if consumer is not None else app.consumer
    topic = group_changes_topic.get_topic_name()
    assigned = consumer.assignment()
    refill: list[ChangeRecord] = []
    for partition, start in sorted(result.holes.items()):
        deferred = sorted((c for c in result.deferred if c.partition == partition), key=lambda c: c.offset)
        if TP(topic, partition) not in assigned:
            log.warning("sink: partition %d skips from offset %d to %d, and it is no longer ours: its new "
                        "owner fills it", partition, start, deferred[0].offset)
            continue
        earliest, records = await read(topic, partition, start, deferred[0].offset)
        if start < earliest:
            log.error("sink: group-changes partition %d offsets %d-%d were deleted before the sink applied them; "
                      "continuing at %d", partition, start, earliest - 1, earliest)
            await _advance(partition, earliest - 1)
        log.warning("sink: partition %d skips from offset %d to %d (the consumer did not hand over the records "
                    "between); read %d of them straight from the broker", partition, start, deferred[0].offset,
                    len(records))
        refill.extend(ChangeRecord(partition, record.offset, decode_change(record.value)) for record in records)
        refill.extend(deferred)
    return refill


def _owned(holes: dict[int, int]) -> bool:
    assigned = app.consumer.assignment()
    return any(TP(group_changes_topic.get_topic_name(), partition) in assigned for partition in holes)


async def _advance(partition: int, offset: int) -> None:
    pool = await postgres.get()
    async with pool.connection() as conn:
        await advance_sink_offset(conn, group_changes_topic.get_topic_name(), partition, offset)


def _offset_ranges(changes: list[ChangeRecord]) -> str:
    """`p3@10-12,15 p7@4`: where the skipped changes were, to follow a redelivery through the logs."""
    by_partition: dict[int, list[int]] = {}
    for change in changes:
        by_partition.setdefault(change.partition, []).append(change.offset)
    parts = []
    for partition, offsets in sorted(by_partition.items()):
        offsets.sort()
        runs: list[str] = []
        start = previous = offsets[0]
        for offset in offsets[1:] + [None]:  # type: ignore[list-item]
            if offset is not None and offset == previous + 1:
                previous = offset
                continue
            runs.append(f"{start}" if start == previous else f"{start}-{previous}")
            if offset is not None:
                start = previous = offset
        parts.append(f"p{partition}@{','.join(runs)}")
    return " ".join(parts)


async def _write(changes: list[ChangeRecord]) -> BatchResult:
    """Commit the batch, transient errors retried with backoff; a change refused for good is parked."""
    started = time.monotonic()
    result = await write_or_park(_commit_retrying, changes)
    count_sink_batch(result, size=len(changes), seconds=time.monotonic() - started, committed_at=time.time())
    _log_parked(result)
    return result


async def _commit_retrying(changes: list[ChangeRecord], failed: Mapping[Coordinates, ChangeFailure]) -> BatchResult:
    return await retry_transient(lambda: _commit(changes, failed), what="sink batch", log=log)


async def _commit(changes: list[ChangeRecord], failed: Mapping[Coordinates, ChangeFailure]) -> BatchResult:
    pool = await postgres.get()
    async with pool.connection() as conn:
        async with conn.transaction():
            return await write_batch(conn, group_changes_topic.get_topic_name(), changes,
                                     gapless=settings.processing_guarantee == "at_least_once", failed=failed)


def _log_parked(result: BatchResult) -> None:
    """An ERROR line per change parked for its own failure; one WARNING for those parked behind a key."""
    behind = [parked for parked in result.parked if parked.failure is None]
    for parked in result.parked:
        if parked.failure is not None:
            log.error("sink: parked the change at partition %d offset %d (group key %s) after %d failed attempts "
                      "alone: %s; the partition moves on, later changes of the key wait behind it; see "
                      "`issue-platform parked list`", parked.record.partition, parked.record.offset,
                      parked.record.change.group_key, parked.failure.attempts, parked.failure.error)
    if behind:
        log.warning("sink: %d changes parked behind a parked change of their key: %s", len(behind),
                    _offset_ranges([parked.record for parked in behind]))


async def _forward(result: BatchResult) -> None:
    _log_created_issues(result)
    await forward(result, current_options())


async def forward(result: BatchResult, options: Mapping[str, object]) -> None:
    """Post-process and activity messages for the whole batch, re-sent ones included (same ids, §2.3.4); also
    for parked changes that `parked retry` applied later. Parked changes themselves were not applied: nothing;
    nor copies of a change applied before under the same id (spec §2.4.7), whose original was forwarded.
    Returns once the broker acknowledged all of them."""
    outbox = Outbox()
    resent = {id(record) for record in result.skipped}  # forwarded again, counted when first applied
    posted: Counter[str] = Counter()
    for record in result.forwarded():
        change = record.change
        if not isinstance(change, GroupChange):
            continue
        group = change.group
        persisted = result.groups.get(change.identity)
        if persisted is None:  # a change read again after an API delete removed its group (spec §20.9): moot
            continue
        key = group.group_key.encode("utf-8")
        wire = change.to_wire()  # streams.core.postprocess builds its messages from the wire form
        for activity in change.activities:
            message = activity_message(change=wire, activity=activity.to_wire(), group_id=persisted.id,
                                       short_id=persisted.short_id, project_slug=persisted.project_slug)
            outbox.add(activity_topic, key, encode(message), timestamp=change.t)
        if isinstance(change, ExternalIssueChange):  # spec §24.4: after commit, like its activity
            used = tracker_used_record(change, persisted.id)
            outbox.add(analytics_topic, key, encode(used), timestamp=change.t)
        # Status changes never produce post-process messages (spec §14.3.2).
        waiters = result.waiters.get((record.partition, record.offset))
        entries = post_process_entries(wire) if waiters is None else waiter_entries(group.times_seen, waiters)
        if not entries:
            continue
        group_type = registry.get_by_type_id(group.type_id)
        if not gate_passes(group_type, "post_process", group.project_id, options):  # spec §10.3.2
            continue
        for entry in entries:
            message = post_process_message(
                change=wire,
                entry=entry,
                group_id=persisted.id,
                short_id=persisted.short_id,
                project_slug=persisted.project_slug,
                type_slug=group_type.slug,
                category=int(group_type.category),
            )
            outbox.add(post_process_topic, key, encode(message), timestamp=change.t)
        if id(record) not in resent:
            posted[group_type.slug] += len(entries)
    await outbox.send()
    count_post_process(posted)


def _log_created_issues(result: BatchResult) -> None:
    """One line per issue this batch created: where a newcomer finds the group key and short id."""
    for record in result.applied:
        change = record.change
        if isinstance(change, OccurrenceChange) and change.is_new:
            persisted = result.groups[change.identity]
            log.info("sink: created issue %s (id %d), group key %s",
                     display_short_id(persisted.project_slug, persisted.short_id), persisted.id,
                     change.group.group_key)
