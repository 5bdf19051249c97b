"""Reading a range of a partition straight from the real broker (streams/agents/kafka_read.py), as the sink does
to fill a hole in the offsets Faust handed over."""
from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.agents.kafka_read import read_range
from tests.integration.harness import BROKER

pytestmark = pytest.mark.integration


async def test_a_range_of_one_partition_comes_back_whole_and_in_order() -> None:
    topic = f"kafka-read-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])  # the broker creates no topic on a first write
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=BROKER)
    await producer.start()
    try:
        for index in range(10):
            await producer.send_and_wait(topic, f"r{index}".encode(), partition=0)
    finally:
        await producer.stop()
    earliest, records = await read_range(topic, 0, 3, 7, servers=[BROKER])
    assert earliest == 0
    assert [(record.offset, record.value) for record in records] == [(i, f"r{i}".encode()) for i in range(3, 7)]
    _, none = await read_range(topic, 0, 10, 10, servers=[BROKER])
    assert none == []
