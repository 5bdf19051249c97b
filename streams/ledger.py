"""The audit of the ledger (spec §2.4.13), for `issue-platform audit`, `GET /api/0/audit/` and the reconciler.

Every `ISSUE_PLATFORM_LEDGER_MARK_SECONDS` the leader (streams.timers.ledger) merges the writers' ranges and
takes a mark: the ingest group's committed offset per input partition, and the end offset of every partition
downstream of ingest (grouping, quota, group changes, dead letters). `audit_report` answers, per input
partition, which offsets have an outcome. An offset without one is unaccounted only below the committed
offsets of the newest settled mark at least `ISSUE_PLATFORM_LEDGER_SETTLE_SECONDS` (60) old (see
`settled_mark`: a chain of later marks through every hop an outcome can take): by then every output of those
inputs was applied, so an outcome still missing will never come. Before that it is in flight.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from psycopg import AsyncConnection

from storage.input_topics import current_incarnation
from storage.ledger import (
    Mark,
    all_marks,
    ledger_rows,
    ledger_starts,
    lost_inputs,
    parked_inputs,
)
from storage.ledger_plan import PartitionAudit, audit_partition
from streams.app import settings
from streams.core.input_topic import recorded_topic
from streams.metrics import set_unaccounted
from streams.topic_admin import connect
from streams.topics import dlq_topic, group_changes_topic, grouping_topic, ingest_topic, quota_topic

log = logging.getLogger(__name__)

MARKS_KEPT = timedelta(hours=2)


@dataclass(frozen=True)
class Offsets:
    """What the broker says now, for the audit and the marks."""

    committed: dict[TopicPartition, int | None]  # the app's consumer group, input and downstream partitions
    log_start: dict[TopicPartition, int]  # input partitions: the first offset the broker still has
    ends: dict[TopicPartition, int]  # downstream partitions: the next offset to be written


def input_partitions() -> list[TopicPartition]:
    return [TopicPartition(ingest_topic.get_topic_name(), p) for p in range(settings.partitions)]


def downstream_partitions() -> list[TopicPartition]:
    topics = (grouping_topic, quota_topic, group_changes_topic, dlq_topic)
    return [TopicPartition(topic.get_topic_name(), p) for topic in topics for p in range(settings.partitions)]


async def read_offsets() -> Offsets:
    inputs, downstream = input_partitions(), downstream_partitions()
    admin = await connect(settings.bootstrap_servers)
    try:
        listed = await admin.list_consumer_group_offsets(settings.deployment_id, partitions=[*inputs, *downstream])
    finally:
        await admin.close()
    committed = {tp: (meta.offset if meta.offset >= 0 else None) for tp, meta in listed.items()}
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        log_start = dict(await consumer.beginning_offsets(inputs))
        ends = dict(await consumer.end_offsets(downstream))
    finally:
        await consumer.stop()
    return Offsets(committed, log_start, ends)


def partition_name(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


# The hops an input's outcome can take after ingest committed past it: the owner's decision; its quota request
# in the quota agent; the answer back in the owner, which applies what waited (a held status change); the sink.
HOPS = 4


def _passed(ends: Mapping[str, int], committed: Mapping[str, int | None]) -> bool:
    return all(end <= 0 or (committed.get(name) or 0) >= end for name, end in ends.items())


def settled_mark(marks: Sequence[Mark], committed: dict[TopicPartition, int | None], *, before: datetime,
                 hops: int = HOPS) -> Mark | None:
    """The newest mark taken at or before `before` that is settled: followed by a chain of `hops` − 1 later
    marks, each taken once every downstream consumer had passed the previous one's end offsets, the last of
    them passed now (`committed`). Every output of an input below its ingest offsets, through `hops` topics,
    has then been applied. `marks`: oldest first."""
    now = {partition_name(tp): offset for tp, offset in committed.items()}
    ordered = sorted(marks, key=lambda m: m.taken_at)
    passed_at: dict[int, int | None] = {}  # mark index → the first later mark taken once its ends were passed

    def next_passing(index: int) -> int | None:
        if index not in passed_at:
            ends = ordered[index].downstream_ends
            passed_at[index] = next((later for later in range(index + 1, len(ordered))
                                     if _passed(ends, ordered[later].downstream_committed)), None)
        return passed_at[index]

    for candidate in range(len(ordered) - 1, -1, -1):
        if ordered[candidate].taken_at > before:
            continue
        current: int | None = candidate
        for _ in range(hops - 1):
            current = next_passing(current) if current is not None else None
        if current is not None and _passed(ordered[current].downstream_ends, now):
            return ordered[candidate]
    return None


@dataclass(frozen=True)
class AuditReport:
    partitions: list[PartitionAudit]
    settled_at: datetime | None  # the mark the unaccounted offsets are judged by; None: none settled yet

    @property
    def ok(self) -> bool:
        return all(partition.ok for partition in self.partitions)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "settled_at": self.settled_at.isoformat() if self.settled_at else None,
            "unaccounted": sum(p.unaccounted_count for p in self.partitions),
            "in_flight": sum(p.in_flight for p in self.partitions),
            "double_outcomes": sum(len(p.double_outcomes) for p in self.partitions),
            "parked": sum(len(p.parked) for p in self.partitions),
            "lost": sum(len(p.lost) for p in self.partitions),
            "expired": sum(p.expired_count for p in self.partitions),
            "partitions": [partition.to_json() for partition in self.partitions],
        }


async def audit_report(conn: AsyncConnection[Any]) -> AuditReport:
    """The ledger per input partition (reads only: rows the leader has not merged yet are merged in memory)."""
    offsets = await read_offsets()
    # After `migrate --accept-new-input-topic` inputs are recorded under "{topic}#{n}" (spec §2.4.10): the
    # ledger of the topic as it is now is under that name; older incarnations are not audited any more.
    incarnation = await current_incarnation(conn, settings.deployment_id, ingest_topic.get_topic_name())
    rows = await ledger_rows(conn)
    starts = await ledger_starts(conn)
    parked = await parked_inputs(conn)
    lost = await lost_inputs(conn)
    moment = datetime.now(UTC) - timedelta(seconds=settings.ledger_settle_seconds)
    mark = settled_mark(await all_marks(conn), offsets.committed, before=moment)
    partitions = []
    for tp in input_partitions():
        name = (recorded_topic(tp.topic, incarnation), tp.partition)
        start = starts.get(name, 0)
        found = rows.get(name)
        settled = mark.ingest_committed.get(partition_name(tp), start) if mark is not None else start
        partitions.append(audit_partition(
            topic=name[0], partition=tp.partition, covered=found.covered if found else [],
            doubles=found.doubles if found else [], start=start, committed=offsets.committed.get(tp),
            log_start=offsets.log_start.get(tp, 0), settled=settled,
            parked=[offset for topic, partition, offset in parked if (topic, partition) == name],
            lost=[offset for topic, partition, offset in lost if (topic, partition) == name],
        ))
    set_unaccounted({partition.partition: partition.unaccounted_count for partition in partitions})  # spec §23
    return AuditReport(partitions, mark.taken_at if mark is not None else None)
