"""A benchmark's own topics on the shared broker: created with the partitions it needs, deleted by it afterwards."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.harness import BROKER


async def create_topics(names: list[str], partitions: int, *, timeout: float = 30) -> None:
    """Creates the topics and returns once every partition has a leader (a first produce would retry otherwise)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
        deadline = time.monotonic() + timeout
        while not _all_led(await admin.describe_topics(names), partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {names} have no leader for every partition after {timeout} s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def _all_led(descriptions: list[dict[str, Any]], partitions: int) -> bool:
    return all(
        topic["error_code"] == 0 and len(topic["partitions"]) == partitions
        and all(part["leader"] >= 0 for part in topic["partitions"])
        for topic in descriptions
    )


async def topic_names() -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


async def delete_topics_containing(fragment: str) -> list[str]:
    """Deletes every topic whose name contains `fragment` (a run's unique name); returns their names."""
    if len(fragment) < 8:
        raise ValueError(f"{fragment!r} is too short to name only one run's topics")
    doomed = [name for name in await topic_names() if fragment in name]
    if doomed:
        admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
        await admin.start()
        try:
            await admin.delete_topics(doomed)
        finally:
            await admin.close()
    return doomed
