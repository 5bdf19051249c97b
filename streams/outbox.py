"""The outputs of one batch of an agent, sent as the producer's own record batches with one delivery each.

An agent decides a batch of inputs and needs a single fact about its outputs: all of them are acknowledged
by the broker (spec §2.4.6). Faust's `Topic.send` pays per record for what only a whole batch needs: a
FutureMessage and its callbacks, a buffer hop, a partitioner call and a future in aiokafka's accumulator.
Here the records are keyed and partitioned, and `send()` hands them to
streams.faust_compat.record_batches: one aiokafka batch per partition, one delivery future each.

The partition is the one `Topic.send` would pick (the producer's partitioner over the same key bytes), so
a group key's records land where its owner reads them. The records go through the same aiokafka producer
as Faust's own sends: its flush before every commit covers them too.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.errors import KafkaTimeoutError
from faust import TopicT

from streams.app import app
from streams.faust_compat import faults
from streams.faust_compat.internals import kafka_producer, producer_partitioner
from streams.faust_compat.record_batches import BatchFailed, Headers, Record, send_record_batches

log = logging.getLogger(__name__)

# topic name → its sorted partitions; a topic's partition count never changes under a running worker
# (a worker refuses to start on a co-partitioned topic with another count).
_partitions: dict[str, list[int]] = {}
# (topic name, key) → (key bytes, partition). aiokafka's murmur2 is pure Python (1 % of the worker's CPU in
# a profile of make bench); the keys are Zipf-distributed, so most records find theirs here. Bounded: cleared
# whole when full. An entry holds about five small objects (~350 bytes): at 100,000 entries this cache was the
# only Python-level growth in a soak (200 new keys/s filled it in eight minutes, +35 MB of RSS); 20,000 keep
# the hot keys (make bench has 1,440) in about 7 MB.
_placed: dict[tuple[str, Any], tuple[bytes | None, int]] = {}
PLACED_MAX = 20_000


class Outbox:
    """Records waiting to be sent: `add` as they are decided, then `await send()` for every acknowledgement."""

    def __init__(self) -> None:
        self._records: list[tuple[TopicT, Any, bytes, float | None, Headers]] = []

    def add(self, topic: TopicT, key: Any, value: bytes, *, timestamp: float | None = None,
            headers: Headers = ()) -> None:
        self._records.append((topic, key, value, timestamp, headers))

    async def send(self) -> None:
        """Send every record added so far and await every acknowledgement; raises the first failure
        (after aiokafka's own retries), which the agent turns into a stop before its commit (spec §2.4.8)."""
        if not self._records:
            return
        records, self._records = self._records, []
        if app.in_transaction:
            # processing_guarantee="exactly_once": each record must go through the transactional producer of
            # its input partition, which only Faust's own send path knows.
            await asyncio.gather(*[await topic.send(key=key, value=value, timestamp=timestamp, headers=list(headers))
                                   for topic, key, value, timestamp, headers in records])
            return
        producer = await kafka_producer(app)
        partitioner = producer_partitioner(producer)
        injected = faults.produce_faults
        batch: list[Record] = []
        failure: ProduceFailed | None = None
        for channel, key, value, timestamp, headers in records:
            topic = channel.get_topic_name()
            if injected is not None:
                taken = injected.take(topic)
                if isinstance(taken, faults.DropProduce):
                    log.warning("injected: record %d to %s acknowledged, never sent", injected.sent, topic)
                    continue  # acknowledged, never sent: what a broker that lost the record looks like
                if isinstance(taken, faults.FailProduce):
                    failure = ProduceFailed(topic, None, KafkaTimeoutError(f"injected: record {injected.sent} to "
                                                                           f"{topic} was not sent"))
                    continue
            placed = _placed.get((topic, key)) if key is not None else None
            if placed is None:
                partitions = _partitions.get(topic)
                if partitions is None:
                    partitions = _partitions[topic] = sorted(await producer.partitions_for(topic))
                key_bytes = _key_bytes(channel, key)
                placed = (key_bytes, partitioner(key_bytes, partitions, partitions))
                if key is not None:
                    if len(_placed) >= PLACED_MAX:
                        _placed.clear()
                    _placed[(topic, key)] = placed
            key_bytes, partition = placed
            batch.append((topic, partition, key_bytes, value, int(timestamp * 1000) if timestamp else None, headers))
        await send_record_batches(producer, batch)
        if failure is not None:
            raise failure


# A failed batch: agents stop the worker before their commit with its one line (streams.agents.failure).
ProduceFailed = BatchFailed


def _key_bytes(topic: TopicT, key: Any) -> bytes | None:
    """The key as Faust would serialise it for this topic (raw bytes, or JSON for a string key)."""
    if key is None or isinstance(key, bytes):
        return key
    serialized, _ = topic.prepare_key(key, topic.key_serializer)
    return serialized  # type: ignore[no-any-return]
