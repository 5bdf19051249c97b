"""A declared topic is waited for until the broker lists every partition with a leader.

Without the wait, the group leader could compute an assignment before a just-created topic was in the
broker's metadata; that topic then had no consumer until aiokafka's next metadata refresh (minutes).
"""
from __future__ import annotations

import uuid

from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.faust_compat.topic_ready import wait_until_topic_ready
from tests.integration.conftest import _require_services
from tests.integration.harness import BROKER


async def test_a_created_topic_is_reported_ready_with_a_leader_for_each_partition() -> None:
    _require_services()
    topic = f"readiness-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    client = AIOKafkaClient(bootstrap_servers=BROKER)
    await admin.start()
    await client.bootstrap()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=12, replication_factor=1)])
        assert await wait_until_topic_ready(client, topic, 12, timeout=30)
        cluster = await client.fetch_all_metadata()
        assert cluster.partitions_for_topic(topic) == set(range(12))
    finally:
        await admin.delete_topics([topic])
        await admin.close()
        await client.close()


async def test_seeking_to_committed_rewinds_a_partition_nothing_was_committed_for() -> None:
    # After a rebalance Faust seeks to the committed offsets; aiokafka alone leaves a partition without
    # a commit where its fetcher stopped, skipping what was fetched but never processed.
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from streams import faust_compat

    faust_compat.apply()
    _require_services()
    topic = f"seek-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    producer = AIOKafkaProducer(bootstrap_servers=BROKER)
    consumer = AIOKafkaConsumer(bootstrap_servers=BROKER, group_id=topic, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    fresh, zero = TopicPartition(topic, 0), TopicPartition(topic, 1)
    try:
        for partition in (0, 1):
            for index in range(5):
                await producer.send_and_wait(topic, f"m{index}".encode(), partition=partition)
        consumer.assign([fresh, zero])
        await consumer.seek_to_beginning(fresh, zero)
        await consumer.commit({zero: 0})
        for tp in (fresh, zero):
            consumer.seek(tp, 4)  # as if records 0..3 had been fetched and then dropped by a rebalance
        committed = await consumer.seek_to_committed()
        assert committed == {fresh: None, zero: 0}
        assert await consumer.position(fresh) == 0
        assert await consumer.position(zero) == 0
    finally:
        await consumer.stop()
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()
