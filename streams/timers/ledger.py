"""The leader's ledger timer (spec §2.4.13): merge the writers' ranges, begin new partitions' ledgers, take a mark."""
from __future__ import annotations

import logging
from datetime import UTC, datetime

from storage.input_topics import current_incarnation
from storage.ledger import Mark, add_mark, begin_ledger, merge_ledger
from streams.app import settings
from streams.core.input_topic import recorded_topic
from streams.ledger import MARKS_KEPT, input_partitions, partition_name, read_offsets
from streams.services import postgres
from streams.topics import ingest_topic

log = logging.getLogger(__name__)


async def ledger_tick() -> None:
    """The leader's timer: merge the ranges, begin the ledger of new input partitions, take a mark."""
    try:
        offsets = await read_offsets()
        pool = await postgres.get()
        async with pool.connection() as conn:
            merged = await merge_ledger(conn)
            incarnation = await current_incarnation(conn, settings.deployment_id, ingest_topic.get_topic_name())
            await begin_ledger(conn, {(recorded_topic(tp.topic, incarnation), tp.partition): offsets.committed.get(tp)
                                      for tp in input_partitions()})
            mark = Mark(
                taken_at=datetime.now(UTC),
                ingest_committed={partition_name(tp): offsets.committed.get(tp) or 0 for tp in input_partitions()},
                downstream_ends={partition_name(tp): end for tp, end in offsets.ends.items()},
                downstream_committed={partition_name(tp): offsets.committed.get(tp) or 0 for tp in offsets.ends},
            )
            await add_mark(conn, mark, keep=MARKS_KEPT)
        log.debug("ledger: merged %d ranges, mark taken", merged)
    except Exception as error:  # a missed mark only delays what the audit can settle
        log.warning("ledger: merge or mark failed, the next tick tries again: %s", error)


