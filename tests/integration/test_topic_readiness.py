"""A declared topic is waited for until the broker lists every partition with a leader.

Without the wait, the group leader could compute an assignment before a just-created topic was in the
broker's metadata; that topic then had no consumer until aiokafka's next metadata refresh (minutes).
"""
from __future__ import annotations

import uuid

from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.faust_fixes import wait_until_topic_ready
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
