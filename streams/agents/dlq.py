"""Agent `dlq`: lists every dead-letter record in Postgres by its x-dlq-id, within seconds (spec §7.1.2, §2.4.4)."""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from faust import EventT, StreamT

from storage.dlq import insert_entries
from streams.agents.failure import retry_transient, stop_worker
from streams.app import settings
from streams.core.dlq import DeadLetterEntry, MalformedDeadLetter, entry_from_record
from streams.faust_compat.batch_delivery import acknowledge, batches
from streams.metrics import count_dead_letters
from streams.services import postgres

log = logging.getLogger(__name__)

# Dead letters are rare next to occurrences; a small fixed batch keeps them listed within a second.
BATCH_SIZE = 500
BATCH_SECONDS = 0.5


async def dlq(stream: StreamT[bytes]) -> None:
    # Acked only after the commit (design §4): batches() leaves every ack to the agent.
    async for events in batches(stream, BATCH_SIZE, within=BATCH_SECONDS, inbox=settings.batch_delivery):
        try:
            entries = entries_of(events)
            if entries:
                await retry_transient(lambda: _commit(entries), what="dlq batch", log=log)
        except Exception as error:
            stop_worker(f"dlq batch of {len(events)} records", error)
        acknowledge(events)


def entries_of(events: Sequence[EventT]) -> list[DeadLetterEntry]:
    entries = []
    for event in events:
        message = event.message
        try:
            entries.append(entry_from_record(message.key, message.value, message.headers))
        except MalformedDeadLetter as error:
            # Only ingest and grouping write here; a record without our headers is someone else's, and
            # stopping for it would stop every worker on it forever. Logged, not listed.
            log.error("dlq: record at %s:%s:%s is not a dead letter of ours: %s",
                      message.topic, message.partition, message.offset, error)
    return entries


async def _commit(entries: list[DeadLetterEntry]) -> None:
    pool = await postgres.get()
    reasons: Counter[str] = Counter()
    async with pool.connection() as conn:
        async with conn.transaction():
            inserted = await insert_entries(conn, entries, reasons)
    log.info("dlq: listed %d new of %d dead letters", inserted, len(entries))
    count_dead_letters(reasons)  # new ones only: a record read again is listed, and counted, once
