"""Reads of Faust and aiokafka private state that our timers, diagnostics and health check need.

Every private attribute the project reads outside the patches is read here, so an upgrade has one place
to check (tests/unit/faust_compat pins the sources these reads depend on).
"""
from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from aiokafka.structs import TopicPartition
from faust.streams import _current_event
from faust.types import TP

from streams.faust_compat.store_after_changelog import held_writes


def table_partition_dbs(table: Any) -> dict[int, Any] | None:
    """partition → RocksDB of a table's store on this worker; None for the memory store."""
    return getattr(table.data, "_dbs", None)


def active_partitions(app: Any, table: Any, topic: str) -> list[int]:
    """Partitions of `table` this worker owns as active (standbys only follow the changelog)."""
    dbs = table_partition_dbs(table)
    if dbs is None:  # the memory store: nothing on disk
        return []
    actives = app.assignor.assigned_actives()
    return sorted(partition for partition in list(dbs) if TP(topic, partition) in actives)


def table_items_after(table: Any, partition: int, after: bytes | None, limit: int) -> list[tuple[bytes, Any, Any]]:
    """Up to `limit` (raw key, decoded key, decoded value) of one table partition, after raw key `after`.

    Empty when the partition is no longer on this worker (revoked meanwhile). A key's write still waiting
    for its changelog acknowledgement (store_after_changelog.py) is read as written; a key written for the
    first time since the last drain appears in a later scan.
    """
    store = table.data
    db = (table_partition_dbs(table) or {}).get(partition)
    if db is None:
        return []
    held = held_writes(store)
    chunk: list[tuple[bytes, Any, Any]] = []
    for raw_key, raw_value in db.items(from_key=after):
        if raw_key == after or raw_key == store.offset_key:
            continue
        if raw_key in held:
            raw_value = held[raw_key]
            if raw_value is None:  # deleted, the delete not yet acknowledged
                continue
        chunk.append((raw_key, store._decode_key(raw_key), store._decode_value(raw_value)))  # noqa: SLF001
        if len(chunk) >= limit:
            break
    return chunk


def table_values_with(table: Any, partition: int, marker: bytes, *, after: bytes | None,
                      limit: int) -> tuple[list[tuple[Any, Any]], bytes | None]:
    """(decoded key, decoded value) of one table partition's values that do not contain the bytes `marker`,
    looking at up to `limit` keys after raw key `after`; and the raw key to go on after (None: the end).

    Only the values selected are decoded: a scan for the few values of a kind skips the others unread.
    Held writes are read as table_items_after reads them.
    """
    store = table.data
    db = (table_partition_dbs(table) or {}).get(partition)
    if db is None:
        return [], None
    held = held_writes(store)
    selected: list[tuple[Any, Any]] = []
    looked = 0
    last: bytes | None = None
    for raw_key, raw_value in db.items(from_key=after):
        if raw_key == after or raw_key == store.offset_key:
            continue
        if raw_key in held:
            raw_value = held[raw_key]
            if raw_value is None:
                continue
        last = raw_key
        looked += 1
        if marker not in raw_value:
            selected.append((store._decode_key(raw_key), store._decode_value(raw_value)))  # noqa: SLF001
        if looked >= limit:
            return selected, last
    return selected, None


def raw_table_keys(table: Any) -> Iterator[tuple[int, Any]]:
    """(partition, decoded key) of every key a table holds on this worker, restored ones included."""
    store = table.data
    for partition, db in list((table_partition_dbs(table) or {}).items()):
        for raw_key in store._visible_keys(db):  # noqa: SLF001
            yield partition, store._decode_key(raw_key)  # noqa: SLF001


async def committed_offsets(app: Any, topic: str, partitions: list[int]) -> dict[int, int | None]:
    """A topic's committed offsets, asked of the broker (the group coordinator).

    Faust's in-memory `_committed_offset` is updated even when a commit failed, so it could claim more
    than Kafka would hand a successor after a crash; the broker's answer is the one a re-read starts at.
    """
    thread: Any = app.consumer._thread  # noqa: SLF001  # aiokafka runs in Faust's consumer thread

    async def fetch() -> dict[int, int | None]:
        consumer = thread._ensure_consumer()  # noqa: SLF001
        return {partition: await consumer.committed(TopicPartition(topic, partition)) for partition in partitions}

    result: dict[int, int | None] = await thread.call_thread(fetch)
    return result


async def broker_metadata_round_trip(app: Any) -> None:
    """A metadata request on the worker's own producer connection: the broker answers, not just a socket."""
    producer = app.producer._ensure_producer()  # noqa: SLF001
    await producer.client.fetch_all_metadata()


def consumer_state(app: Any) -> str:
    """Flow, recovery and partition sets of Faust's consumer, for a stalled worker's diagnosis."""
    consumer = app.consumer
    assigned = consumer.assignment()
    return (
        f"flow_active={consumer.flow_active} in_recovery={app.in_recovery} assigned={len(assigned)} "
        f"active={sorted(map(str, consumer._active_partitions or ()))} "  # noqa: SLF001
        f"paused={sorted(map(str, consumer._paused_partitions))} "  # noqa: SLF001
        f"buffered={sorted(map(str, consumer._buffered_partitions))}"  # noqa: SLF001
    )


def read_positions(consumer: Any) -> tuple[Any, Any]:
    """(offset last read, offset last committed) per partition, Faust's own bookkeeping: the consumer lag gauge."""
    return consumer._read_offset, consumer._committed_offset  # noqa: SLF001


def make_current(event: Any) -> None:
    """Make `event` Faust's current event in this task, as its stream iterator does for each event it yields.

    A table read or write finds its partition's RocksDB (and a write its changelog partition) through the
    current event. An agent that takes a batch (faust_compat/batch_delivery.py) runs no stream, so its own
    task has no current event; the grouping and quota agents set, before they touch a key, an event of that
    key's partition.
    """
    _current_event.set(weakref.ref(event))


async def kafka_producer(app: Any) -> Any:
    """The aiokafka producer under Faust's (started if a CLI command has not yet): the one its `Topic.send`
    and the tables' changelogs use, so a record sent here is covered by the flush before every commit
    (streams/faust_compat/producer_flush.py)."""
    producer = app.producer
    await producer.maybe_start()
    return producer._ensure_producer()  # noqa: SLF001


def producer_partitioner(producer: Any) -> Any:
    """The partitioner aiokafka applies to a record sent without a partition: `(key bytes, all, available)`."""
    return producer._partitioner  # noqa: SLF001
