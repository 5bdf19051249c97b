"""Table partitions restored from their changelogs in bulk, before Faust's own record-by-record recovery.

Evidence: a worker joining a deployment after 1,000,000 occurrences needed 74 s to restore its active
partitions and 137 s before it carried a probe on every partition (bench/recovery.py, 5d4bbcb): Faust
restores through its general consumer path (every changelog record becomes a Message and an Event with
its key and value deserialised, goes through a queue, `asyncio.wait_for` and a loop that rebuilds a Counter
of the remaining offsets per record), and then restores the standby partitions the same way, competing with
the first messages the worker processes. A py-spy profile of the joining worker: Faust's fetch loop and
recovery loop ~50 % of its CPU; writing the values to RocksDB 3 %.

Here, once Faust has computed where each changelog partition's restore starts (`Recovery._build_offsets`,
from the persisted offset in RocksDB), a consumer of our own (no group) reads each partition up to its end
offset as raw record batches and writes them with their offset into RocksDB, one WriteBatch per fetched
batch: the bytes Faust's `Store.apply_changelog_batch` would write, without decoding them. Faust's start
offsets are moved along as batches are written, so its own recovery then reads only what is left (records
written meanwhile, or whatever this did not reach in its time budget). Standby partitions are restored the
same way, before the worker processes anything.

Only non-global tables on RocksDB, and only in at-least-once mode: under exactly_once the changelogs hold
transaction markers and aborted records, which Faust's path handles. Global tables (the options table,
with its per-record callback) keep Faust's path. The restore never takes longer than `budget_seconds`:
Faust gives `_build_offsets` broker_request_timeout (90 s) and treats a timeout as a stop.

Upstream: unchanged in faust-streaming's newest code (181b1840, 2026-08-20).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Set
from typing import Any

import rocksdict
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.stores.rocksdb import Store
from faust.tables.recovery import Recovery

from streams.faust_compat.patch import Patch
from streams.settings import MAX_RECORD_BYTES, get_settings

log = logging.getLogger(__name__)

_original_build_offsets = Recovery._build_offsets

FETCH_MAX_BYTES = 64 * 1024 * 1024  # per fetch, all partitions: large reads are what makes this fast
budget_seconds = 45.0  # of the 90 s Faust allows; what is left goes through Faust's own recovery


async def _build_offsets_then_restore(self: Any, consumer: Any, tps: Set[Any], destination: Any, title: str) -> None:
    await _original_build_offsets(self, consumer, tps, destination, title)
    if self.app.in_transaction:
        return
    restorable = {tp: self.tp_to_table[tp] for tp in tps
                  if tp in self.tp_to_table and not self.tp_to_table[tp].is_global
                  and isinstance(self.tp_to_table[tp].data, Store)}
    if restorable:
        # Actives stop at the highwaters Faust built just before: its consistency check refuses a start offset
        # past them. Standby highwaters are built later, from the broker, so they can only be further on.
        until = dict(self.active_highwaters) if title == "active" else {}
        await restore(restorable, destination, title=title, servers=get_settings().bootstrap_servers,
                      deadline=time.monotonic() + budget_seconds, highwaters=until)


async def restore(tables: dict[Any, Any], destination: Any, *, title: str, servers: list[str],
                  deadline: float, highwaters: dict[Any, int | None]) -> int:
    """Write each changelog partition of `tables` (Faust TP → table) after `destination[tp]` into RocksDB.

    `destination[tp]` is the last offset the store holds (-1 or None: none); it moves with every batch
    written. A partition with a highwater (its last offset) stops there, else at the end the broker gives.
    Returns the number of records written.
    """
    started = time.monotonic()
    # "earliest": a windowed changelog's retention can drop the start offset while this reads; go on from the
    # records still there (the dropped ones are expired windows), never jump to the end.
    reader = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, auto_offset_reset="earliest",
                              max_partition_fetch_bytes=MAX_RECORD_BYTES, fetch_max_bytes=FETCH_MAX_BYTES)
    await reader.start()
    written = 0
    try:
        by_kafka_tp = {TopicPartition(tp.topic, tp.partition): tp for tp in tables}
        reader.assign(list(by_kafka_tp))
        ends = await reader.end_offsets(list(by_kafka_tp))
        remaining: dict[TopicPartition, int] = {}
        for kafka_tp, tp in by_kafka_tp.items():
            start = _last(destination, tp) + 1
            highwater = highwaters.get(tp)
            end = ends[kafka_tp] if highwater is None else min(ends[kafka_tp], highwater + 1)
            if start < end:
                reader.seek(kafka_tp, start)
                remaining[kafka_tp] = end
        idle = [kafka_tp for kafka_tp in by_kafka_tp if kafka_tp not in remaining]
        if idle:
            reader.pause(*idle)
        while remaining and time.monotonic() < deadline:
            fetched = await reader.getmany(*remaining, timeout_ms=500)
            for kafka_tp, records in fetched.items():
                tp = by_kafka_tp[kafka_tp]
                end = remaining.get(kafka_tp)
                if end is not None:
                    written += _write(tables[tp].data, tp, records, end, destination)
            for kafka_tp in list(remaining):
                if await reader.position(kafka_tp) >= remaining[kafka_tp]:
                    del remaining[kafka_tp]
                    reader.pause(kafka_tp)
        if remaining:
            log.warning("recovery: %s changelog partitions not restored in bulk within %.0f s; Faust's own recovery "
                        "reads the rest", len(remaining), budget_seconds)
    finally:
        await reader.stop()
    if written:
        log.info("recovery: %s records of %s %s changelog partitions restored in bulk in %.1f s", f"{written:,}",
                 len(tables), title, time.monotonic() - started)
    return written


def _last(destination: Any, tp: Any) -> int:
    value = destination.get(tp)
    return -1 if value is None else int(value)


def _write(store: Any, tp: Any, records: list[Any], end: int, destination: Any) -> int:
    """One WriteBatch: the records before `end` as Faust's recovery writes them, and the offset they end at."""
    batch = rocksdict.WriteBatch(raw_mode=True)
    last = _last(destination, tp)
    count = 0
    for record in records:
        if record.offset >= end:
            break
        if record.offset <= last or record.key is None:
            continue
        if record.value is None:
            batch.delete(record.key)
        else:
            batch.put(record.key, record.value)
        last = record.offset
        count += 1
    if count:
        batch.put(store.offset_key, str(last).encode())
        store._db_for_partition(tp.partition).write(batch)  # noqa: SLF001
        destination[tp] = last
    return count


PATCHES = (Patch(Recovery, "_build_offsets", _build_offsets_then_restore, _original_build_offsets),)
