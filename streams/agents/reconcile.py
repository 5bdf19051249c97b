"""The reconciler (spec §2.4.13): on the leader, at most every `ISSUE_PLATFORM_LEDGER_RECONCILE_SECONDS` (an
hour), every unaccounted input offset is read again from the input topic and submitted through ingest with its
original coordinates and the `reconcile` flag, never back to the input topic (that would be a second input).

Ingest decides it as it did the first time: a dead letter or a counted drop under the same ids (so a second
copy of either is impossible), or a message to its key's owner. An owner that never saw it applies it now; an
owner whose watermark is past it records the outcome `lost` (the decision's outputs were lost after they were
acknowledged), which `audit` reports until someone looks. Either way the offset is accounted afterwards.
"""
from __future__ import annotations

import logging

from storage.ledger_plan import merge
from streams.agents.ingest import handle_input
from streams.agents.kafka_read import read_range
from streams.core.dlq import replay_marker
from streams.core.messages import SourceCoordinates
from streams.ledger import audit_report
from streams.outbox import Outbox
from streams.services import postgres
from streams.topics import ingest_topic

log = logging.getLogger(__name__)


async def reconcile_unaccounted() -> int:
    """One pass; returns how many offsets it submitted again (at most storage.ledger_plan.LISTED_OFFSETS per
    partition: the next pass takes the rest)."""
    pool = await postgres.get()
    async with pool.connection() as conn:
        report = await audit_report(conn)
    submitted = 0
    topic = ingest_topic.get_topic_name()
    for partition in report.partitions:
        if not partition.unaccounted:
            continue
        found = 0
        # Each run of consecutive offsets read on its own: two far apart never pull everything in between.
        for first, last in runs(partition.unaccounted):
            _, records = await read_range(topic, partition.partition, first, last + 1, timeout=60.0)
            outbox = Outbox()
            for record in records:
                # Under the name the ledger audits (the topic's accepted incarnation, spec §2.4.10).
                source = SourceCoordinates(partition.topic, partition.partition, record.offset, reconcile=True)
                await handle_input(outbox, record.key, record.value, source,
                                   replay_of=replay_marker(record.headers))
                found += 1
            await outbox.send()
        submitted += found
        log.warning("reconcile: %s:%d: %d unaccounted offsets submitted again (%d no longer on the broker)",
                    partition.topic, partition.partition, found, len(partition.unaccounted) - found)
    return submitted


def runs(offsets: list[int]) -> list[tuple[int, int]]:
    """Sorted offsets as (first, last) runs of consecutive ones (the ledger's own merge of one-offset spans)."""
    covered, _ = merge((offset, offset) for offset in offsets)
    return covered


async def reconcile_tick() -> None:
    try:
        await reconcile_unaccounted()
    except Exception as error:  # the next pass tries again; the audit shows what is still unaccounted
        log.warning("reconcile: pass failed, the next one tries again: %s", error)
