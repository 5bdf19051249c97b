"""Read a range of one partition straight from the broker, outside Faust's consumer and its offsets."""
from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.settings import MAX_RECORD_BYTES, get_settings


async def read_range(
    topic: str, partition: int, start: int, end: int, *, timeout: float = 30.0, servers: list[str] | None = None,
    isolation_level: str = "read_uncommitted",
) -> tuple[int, list[Any]]:
    """(first offset the broker still has, records of [start, end) it still has), in offset order.

    A consumer of its own, with no group: it commits nothing and cannot disturb the worker's assignment.
    Transaction markers are never returned; records of aborted transactions only with "read_uncommitted".
    Raises TimeoutError if the records do not all arrive in `timeout` seconds.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=servers or get_settings().bootstrap_servers, enable_auto_commit=False,
                                max_partition_fetch_bytes=MAX_RECORD_BYTES, fetch_max_bytes=4 * MAX_RECORD_BYTES,
                                isolation_level=isolation_level)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        earliest = (await consumer.beginning_offsets([tp]))[tp]
        first = max(start, earliest)
        records: list[Any] = []
        if first >= end:
            return earliest, records
        consumer.seek(tp, first)

        async def fetch() -> None:
            while not records or records[-1].offset < end - 1:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                records.extend(record for record in batch.get(tp, ()) if first <= record.offset < end)
                if await consumer.position(tp) >= end:
                    return

        await asyncio.wait_for(fetch(), timeout)
        return earliest, records
    finally:
        await consumer.stop()
