"""A topic Faust declares is waited for until the broker lists it with a leader for every partition."""
from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.cluster import ClusterMetadata
from aiokafka.structs import PartitionMetadata
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.faust_compat import topic_ready
from streams.faust_compat.topic_ready import is_topic_ready, wait_until_topic_ready


class EmptyMetadataClient:
    """An aiokafka client whose metadata answers never list the topic."""

    def __init__(self) -> None:
        self.requests = 0

    async def _metadata_update(self, cluster: object, topics: list[str]) -> bool:
        self.requests += 1
        return True


async def test_waiting_for_a_topic_gives_up_after_the_timeout_and_says_so() -> None:
    client = EmptyMetadataClient()
    started = asyncio.get_running_loop().time()
    assert not await wait_until_topic_ready(client, "never-there", 12, timeout=0.5)
    assert 0.5 <= asyncio.get_running_loop().time() - started < 3
    assert client.requests >= 3  # it kept asking, backing off


def test_a_topic_is_ready_only_with_every_partition_led() -> None:
    cluster = ClusterMetadata()
    assert not is_topic_ready(cluster, "t", 2)
    cluster._partitions["t"] = {0: object(), 1: object()}
    cluster.leader_for_partition = lambda tp: {0: 1, 1: -1}[tp.partition]  # type: ignore[method-assign]
    assert not is_topic_ready(cluster, "t", 2)
    cluster.leader_for_partition = lambda tp: 1  # type: ignore[method-assign]
    assert is_topic_ready(cluster, "t", 2)
    assert not is_topic_ready(cluster, "t", 3)


# Faust's real Producer.create_topic, on a stand-in for the broker: fails without the patch (checked).


class LateBrokerClient:
    """An aiokafka client whose broker lists a new topic, with leaders, only from the third metadata request on."""

    def __init__(self) -> None:
        self.requests = 0
        self.tracked: list[str] = []

    async def _metadata_update(self, cluster: ClusterMetadata, topics: list[str]) -> bool:
        self.requests += 1
        if self.requests >= 3:
            for topic in topics:
                cluster._partitions[topic] = {
                    partition: PartitionMetadata(topic, partition, 1, [1], [1], None) for partition in range(2)
                }
        return True

    async def force_metadata_update(self) -> bool:
        return True  # Faust's own refresh right after creating: the broker does not list the topic yet

    async def add_topic(self, topic: str) -> bool:
        self.tracked.append(topic)
        return True


class DeclaringProducer:
    """The parts of Faust's aiokafka Producer that create_topic uses."""

    def __init__(self, client: LateBrokerClient) -> None:
        self.client = client
        self.created: list[str] = []
        self.app = type("App", (), {"conf": type("Conf", (), {"topic_allow_declare": True})()})()
        producer = self

        class Transport:
            async def _create_topic(self, owner: Any, client: Any, topic: str, *args: Any, **kwargs: Any) -> None:
                producer.created.append(topic)

        self.transport = Transport()

    def _ensure_producer(self) -> Any:
        return type("AIOKafkaProducer", (), {"client": self.client})()


async def test_faust_create_topic_returns_only_once_the_broker_lists_the_topic_with_leaders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for patch in topic_ready.PATCHES:
        monkeypatch.setattr(patch.owner, patch.name, patch.replacement)
    client = LateBrokerClient()
    producer = DeclaringProducer(client)
    creating = faust_aiokafka.Producer.create_topic(producer, "t", 2, 1)  # type: ignore[arg-type]
    await asyncio.wait_for(creating, timeout=5)
    assert producer.created == ["t"]
    assert client.requests == 3
    assert client.tracked == ["t"]  # kept in the producer's metadata for the web view's partitioner


class NotYetListedClient:
    """An aiokafka client whose broker answers "unknown topic" for the new topic twice, then lists it."""

    def __init__(self) -> None:
        self.requests = 0

    async def _metadata_update(self, cluster: ClusterMetadata, topics: list[str]) -> bool:
        self.requests += 1
        listed = [(0, partition, 1, [1], [1]) for partition in range(2)]
        answer = [(0, topic, False, listed) if self.requests >= 3 else (UNKNOWN_TOPIC_OR_PARTITION, topic, False, [])
                  for topic in topics]
        cluster.update_metadata(SimpleNamespace(API_VERSION=1, brokers=[(1, "127.0.0.1", 9092, None)],
                                                controller_id=1, topics=answer))
        return True


UNKNOWN_TOPIC_OR_PARTITION = 3


async def test_waiting_for_a_new_topic_logs_no_error_while_the_broker_does_not_list_it_yet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = NotYetListedClient()
    with caplog.at_level(logging.WARNING):
        assert await wait_until_topic_ready(client, "t", 2, timeout=5)
    assert client.requests == 3
    assert [record.getMessage() for record in caplog.records] == []
