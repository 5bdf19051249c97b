"""Table changelog writes sent as record batches, drained before every commit (at-least-once mode).

Evidence: every table write (`table[key] = value`, a window's `apply`) sends its changelog record through
Faust's `send_soon`: a FutureMessage, the ProducerBuffer task that publishes it one by one through
`Topic.publish_message` and aiokafka's per-record `send`, and a done-callback that writes the partition's
persisted offset into RocksDB for every record. A py-spy profile of a worker under `make bench` (after
streams/outbox.py and eager_delivery.py) put 11.5 % of its CPU in that path.

Here `Collection.send_changelog` queues the record instead (serialised exactly as `publish_message` would:
the changelog topic's `prepare_key`/`prepare_value` with the table's serializers, to the partition Faust
chose), and `drain()` sends the queue with record_batches, then writes the acknowledged records and each
partition's persisted offset to RocksDB in one batch (store_after_changelog.py holds them until then).
`drain()` runs before every commit (producer_flush.py's flush calls it first, and Faust's commit flushes
the producer before committing offsets), and in the background whenever `DRAIN_AT` records wait, so a
committed input offset always has its state's changelog acknowledged, as before. One drain at a time,
records in write order: a key's changelog keeps its order. A batch the broker refuses stops the worker
before the commit (spec §2.4.8), as StopOnFailedProduce does for Faust's own sends.

Under `processing_guarantee="exactly_once"` the original path is kept: changelog records must go through
the transactional producer of their input partition, which only Faust knows.

Upstream: unchanged in faust-streaming's newest code (181b1840, 2026-08-20).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka.structs import TopicPartition
from faust.tables.base import Collection

from streams.faust_compat import store_after_changelog
from streams.faust_compat.patch import Patch
from streams.faust_compat.record_batches import BatchFailed, Record, send_record_batches

log = logging.getLogger(__name__)

_original_send_changelog = Collection.send_changelog

# Waiting records reach the broker in the background from this many on; the rest go before the commit.
DRAIN_AT = 2_000

EXIT_CODE = 70  # EX_SOFTWARE, as streams.agents.failure


@dataclass(frozen=True)
class _QueuedMessage:
    partition: int


@dataclass(frozen=True)
class _Queued:
    """What `on_key_set`/`on_key_del` read of the send's result: the partition the record goes to."""

    message: _QueuedMessage


class _Queue:
    def __init__(self) -> None:
        # (table, partition, key bytes, value bytes or None for a delete)
        self.records: list[tuple[Any, int, bytes | None, bytes | None]] = []
        self.lock = asyncio.Lock()
        self.background: asyncio.Task[None] | None = None


_queue = _Queue()


def _stop_worker(line: str) -> None:
    log.critical("%s; stopping the worker before any later offset is committed", line)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(EXIT_CODE)


# What a refused changelog batch does: stop at once (tests replace it).
on_failure: Callable[[str], None] = _stop_worker


def _send_changelog_queued(self: Any, partition: int | None, key: Any, value: Any,
                           key_serializer: Any = None, value_serializer: Any = None) -> Any:
    if partition is None or self.app.in_transaction:
        return _original_send_changelog(self, partition, key, value, key_serializer, value_serializer)
    topic = self.changelog_topic
    key_bytes, _ = topic.prepare_key(key, key_serializer if key_serializer is not None else self.key_serializer)
    value_bytes, _ = topic.prepare_value(
        value, value_serializer if value_serializer is not None else self.value_serializer)
    _queue.records.append((self, partition, key_bytes, value_bytes))
    store_after_changelog.hold(self.data, key_bytes, value_bytes)  # RocksDB gets it once acknowledged
    if len(_queue.records) >= DRAIN_AT and (_queue.background is None or _queue.background.done()):
        _queue.background = asyncio.ensure_future(drain(self.app))
    return _Queued(_QueuedMessage(partition))


async def drain(app: Any) -> None:
    """Send every queued changelog record and await its acknowledgement; then each partition's persisted offset."""
    async with _queue.lock:
        while _queue.records:
            records, _queue.records = _queue.records, []
            tables: dict[tuple[str, int], Any] = {}
            written: dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]] = {}
            batch: list[Record] = []
            for table, partition, key, value in records:
                topic = table.changelog_topic.get_topic_name()
                tables[(topic, partition)] = table
                written.setdefault((topic, partition), []).append((key, value))
                batch.append((topic, partition, key, value, None, ()))
            producer = app.producer
            await producer.maybe_start()
            try:
                last = await send_record_batches(producer._ensure_producer(), batch)  # noqa: SLF001
            except BatchFailed as failure:
                on_failure(f"table changelog write failed: {failure}")
                raise
            for (topic, partition), offset in last.items():
                # The acknowledged records reach RocksDB with the offset a restart's recovery reads on from
                # (what Faust's _on_changelog_sent persisted per record), once per partition.
                store_after_changelog.write_acknowledged(
                    tables[(topic, partition)].data, TopicPartition(topic, partition), written[(topic, partition)],
                    offset)


def pending() -> int:
    """Changelog records queued and not yet handed to the producer."""
    return len(_queue.records)


PATCHES = (Patch(Collection, "send_changelog", _send_changelog_queued, _original_send_changelog),)
