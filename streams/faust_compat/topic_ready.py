"""Wait, after Faust declares a topic, until the broker lists it with a leader for every partition.

Evidence: Faust creates its topics just before the consumer subscribes. When the broker has not yet
published a new topic in its metadata at the moment the group leader computes the assignment, that topic
gets no partitions at all, and aiokafka notices only at its next metadata refresh (five minutes by
default). Seen in CI: the quota topic unassigned, every new group waiting for an answer that nobody
computed.

Upstream: addressed differently and not enough for us. robinhood/faust PR #500 (fixing robinhood/faust
#499, table routing failing on the first start) added one `client.force_metadata_update()` right after
the topic is created; that single refresh can still come back before the broker lists the new topic. It
is unchanged in faust-streaming's newest code (181b1840, 2026-08-20), where PR #279 also added the
`metadata_max_age_ms` setting that shortens the stall (streams/app.py sets it) without closing the race.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import TopicPartition
from aiokafka.cluster import ClusterMetadata
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.faust_compat.patch import Patch

log = logging.getLogger(__name__)

# How long a freshly declared topic may take to appear in the broker's metadata before we start anyway.
TOPIC_VISIBLE_TIMEOUT_SECONDS = 60.0


def is_topic_ready(cluster: Any, topic: str, partitions: int) -> bool:
    """Listed with at least `partitions` partitions, each of which has a leader."""
    listed = cluster.partitions_for_topic(topic)
    if not listed or len(listed) < partitions:
        return False
    return all(cluster.leader_for_partition(TopicPartition(topic, p)) not in (None, -1) for p in listed)


async def wait_until_topic_ready(client: Any, topic: str, partitions: int,
                                 timeout: float = TOPIC_VISIBLE_TIMEOUT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        # Only this topic's metadata: a broker can hold thousands of topics. A topic not listed yet is
        # what we wait for, not an error: flagged as a full fetch, aiokafka skips it without logging
        # "[ERROR] Topic … not found in cluster metadata" (a newcomer's first start showed one per topic).
        cluster = ClusterMetadata()
        cluster.need_all_topic_metadata = True
        listed = await client._metadata_update(cluster, [topic])  # noqa: SLF001
        if listed and is_topic_ready(cluster, topic, partitions):
            return True
        if time.monotonic() > deadline:
            log.warning("topic %s is still not in the broker's metadata after %.0f s", topic, timeout)
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


_original_create_topic = faust_aiokafka.Producer.create_topic


async def _create_topic_and_wait(self: Any, topic: str, partitions: int, replication: int, **kwargs: Any) -> None:
    await _original_create_topic(self, topic, partitions, replication, **kwargs)
    if self.app.conf.topic_allow_declare:
        client = self._ensure_producer().client  # noqa: SLF001
        await wait_until_topic_ready(client, topic, partitions)
        # Keep the topic in the producer's metadata even if this worker never writes to it: Faust's web
        # view routes a table key through the producer's partitioner, which needs the changelog's
        # partitions (seen: HTTP 500 "NoneType is not iterable" for a table this worker had not written).
        await client.add_topic(topic)


PATCHES = (Patch(faust_aiokafka.Producer, "create_topic", _create_topic_and_wait, _original_create_topic),)
