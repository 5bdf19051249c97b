"""The hourly housekeeping against the real broker: applied change ids may be pruned below the grouping consumer
group's committed offsets only once the sink has committed every change sent before them (spec §2.4.7)."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.timers.housekeeping import prune_limits
from tests.integration.harness import BROKER

pytestmark = pytest.mark.integration


async def test_ids_may_go_below_the_grouping_commits_once_the_sink_committed_what_was_sent_before() -> None:
    prefix = f"housekeeping-{uuid.uuid4().hex[:8]}-"
    grouping, changes, group = prefix + "grouping", prefix + "group-changes", prefix + "app"
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(grouping, 2, 1), NewTopic(changes, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=BROKER)
    await producer.start()
    try:
        for partition, count in ((0, 3), (1, 1)):
            for _ in range(count):
                await producer.send_and_wait(changes, b"change", partition=partition)
    finally:
        await producer.stop()

    # One consumer group for the whole app, as Faust has: the grouping agent's commits and the sink's.
    committer = AIOKafkaConsumer(bootstrap_servers=BROKER, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign([TopicPartition(grouping, 0), TopicPartition(changes, 0), TopicPartition(changes, 1)])
        # Grouping partition 1 never committed; the sink has read 2 of group-changes partition 0's 3 changes.
        await committer.commit({TopicPartition(grouping, 0): 5, TopicPartition(changes, 0): 2,
                                TopicPartition(changes, 1): 1})

        def limits(wait_seconds: float) -> asyncio.Task[dict[int, int] | None]:
            return asyncio.create_task(prune_limits([BROKER], group, grouping=grouping, changes=changes, partitions=2,
                                                    wait_seconds=wait_seconds, poll_seconds=0.2))

        assert await limits(0) is None  # a copy may still be unread: nothing may go yet
        waiting = limits(30)
        await asyncio.sleep(1.0)
        assert not waiting.done()
        await committer.commit({TopicPartition(changes, 0): 3})  # the sink catches up
        assert await asyncio.wait_for(waiting, timeout=30) == {0: 5}
    finally:
        await committer.stop()
