"""Changelog partitions restored in bulk into a real Faust RocksDB store from the real broker
(streams/faust_compat/bulk_restore.py): what Faust's record-by-record recovery would have written."""
from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaProducer
from faust.types import TP

from streams.faust_compat import bulk_restore
from tests.integration.harness import BROKER, temporary_topic


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    async with temporary_topic(f"bulk-restore-test-{uuid.uuid4().hex[:8]}-changelog", partitions=2) as name:
        yield name


async def produce(topic: str, records: list[tuple[int, bytes, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, linger_ms=5)
    await producer.start()
    try:
        for partition, key, value in records:
            await producer.send(topic, key=key, value=value, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


def store_of(tmp_path: Path) -> Any:
    app = faust.App("bulk-test", broker=f"kafka://{BROKER}", store="rocksdb://", tabledir=str(tmp_path))
    return app.Table("groups", partitions=2, value_type=None)


def stored(table: Any, partition: int) -> dict[bytes, bytes]:
    db = table.data._db_for_partition(partition)
    return dict(db.items())


async def test_every_partition_is_written_up_to_its_end_with_its_offset_and_deletes_apply(
        topic: str, tmp_path: Path) -> None:
    table = store_of(tmp_path)
    records = [(0, f"k{n % 500}".encode(), f"v{n}".encode()) for n in range(3_000)]
    records += [(0, b"k7", None), (1, b"only", b"one")]
    await produce(topic, records)
    tp0, tp1 = TP(topic, 0), TP(topic, 1)
    destination: dict[Any, int | None] = {tp0: -1, tp1: None}

    written = await bulk_restore.restore({tp0: table, tp1: table}, destination, title="active", servers=[BROKER],
                                         deadline=time.monotonic() + 60, highwaters={})

    assert written == 3_002
    assert destination == {tp0: 3_000, tp1: 0}
    expected = {f"k{n}".encode(): f"v{2_500 + n}".encode() for n in range(500) if n != 7}
    assert stored(table, 0) == {**expected, table.data.offset_key: b"3000"}
    assert stored(table, 1) == {b"only": b"one", table.data.offset_key: b"0"}


async def test_it_starts_after_the_stored_offset_and_stops_at_an_active_highwater(topic: str, tmp_path: Path) -> None:
    table = store_of(tmp_path)
    await produce(topic, [(0, b"a", b"1"), (0, b"b", b"1"), (0, b"a", b"2"), (0, b"c", b"1"), (0, b"a", b"3")])
    tp0 = TP(topic, 0)
    destination: dict[Any, int | None] = {tp0: 0}  # the store holds offset 0 already (a=1)
    table.data._db_for_partition(0).put(b"a", b"1")

    written = await bulk_restore.restore({tp0: table}, destination, title="active", servers=[BROKER],
                                         deadline=time.monotonic() + 60, highwaters={tp0: 3})

    # Offsets 1..3 (b=1, a=2, c=1); offset 4 (a=3) is past the highwater Faust built: its own recovery reads it.
    assert written == 3
    assert destination == {tp0: 3}
    assert stored(table, 0) == {b"a": b"2", b"b": b"1", b"c": b"1", table.data.offset_key: b"3"}


async def test_a_spent_budget_leaves_the_rest_to_faust_with_a_consistent_offset(topic: str, tmp_path: Path) -> None:
    table = store_of(tmp_path)
    await produce(topic, [(0, b"k", b"v")])
    tp0 = TP(topic, 0)
    destination: dict[Any, int | None] = {tp0: -1}
    written = await bulk_restore.restore({tp0: table}, destination, title="active", servers=[BROKER],
                                         deadline=time.monotonic() - 1, highwaters={})
    assert written == 0 and destination == {tp0: -1}
    assert stored(table, 0) == {}
