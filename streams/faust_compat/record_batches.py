"""Records handed to aiokafka as whole record batches (`create_batch`/`send_batch`): one delivery per batch.

Faust's `Topic.send` and its tables' changelog writes pay, per record, a FutureMessage with its callbacks,
a buffer hop and a future in aiokafka's accumulator. Code that produces many records at once (an agent's
batch of outputs, streams/outbox.py; a batch of changelog writes, changelog_batches.py) appends them here
to the builder of their partition and awaits one future per builder, in order per partition.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

Headers = Sequence[tuple[str, bytes]]
# (topic, partition, key bytes, value bytes, timestamp in ms or None for now, headers)
Record = tuple[str, int, "bytes | None", "bytes | None", "int | None", Headers]


class BatchFailed(Exception):
    """A record batch the broker did not acknowledge after the client's own retries (spec §2.4.8)."""

    def __init__(self, topic: str, partition: int | None, error: BaseException) -> None:
        where = f"partition {partition}" if partition is not None else "its partition"
        super().__init__(f"produce to {topic} ({where}) failed: {type(error).__name__}: {error}")
        self.topic = topic
        self.partition = partition


async def send_record_batches(producer: Any, records: Iterable[Record]) -> dict[tuple[str, int], int]:
    """Send `records` in order per partition and await every acknowledgement; (topic, partition) → the offset
    of its last record. Raises BatchFailed for the first batch that failed."""
    builders: dict[tuple[str, int], Any] = {}
    counts: dict[tuple[str, int], int] = {}
    deliveries: list[tuple[str, int, int, asyncio.Future[Any]]] = []
    for topic, partition, key, value, timestamp_ms, headers in records:
        target = (topic, partition)
        builder = builders.get(target)
        if builder is None:
            builder = builders[target] = producer.create_batch()
            counts[target] = 0
        if builder.append(key=key, value=value, timestamp=timestamp_ms, headers=list(headers)) is None:
            # The builder is full: it goes now, and a new one takes the record (the first record of a
            # builder always fits, whatever its size, up to the producer's max request size).
            deliveries.append((topic, partition, counts[target],
                               await producer.send_batch(builder, topic, partition=partition)))
            builder = builders[target] = producer.create_batch()
            counts[target] = 0
            if builder.append(key=key, value=value, timestamp=timestamp_ms, headers=list(headers)) is None:
                raise ValueError(f"a record of {len(value or b'')} bytes does not fit a batch of {topic}")
        counts[target] += 1
    for (topic, partition), builder in builders.items():
        deliveries.append((topic, partition, counts[(topic, partition)],
                           await producer.send_batch(builder, topic, partition=partition)))
    outcomes = await asyncio.gather(*(delivery for *_, delivery in deliveries), return_exceptions=True)
    last: dict[tuple[str, int], int] = {}
    for (topic, partition, count, _), outcome in zip(deliveries, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            raise BatchFailed(topic, partition, outcome) from outcome
        # A batch's metadata names its first record's offset.
        last[(topic, partition)] = max(last.get((topic, partition), -1), outcome.offset + count - 1)
    return last
