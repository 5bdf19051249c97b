"""Fault injection for tests (issue 11 item 4): make a chosen produce fail as a delivery timeout would.

Installed by `streams.worker.build()` only when `ISSUE_PLATFORM_FAULT_INJECTION` is set, which the settings
refuse in production. `fail_produce:<topic>:<n>`: the n-th record this worker produces to `<topic>` (its
name without the deployment prefix) is not sent, and its delivery future fails with aiokafka's
`KafkaTimeoutError`, which is what a broker that stays away past the client's retries produces.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaTimeoutError
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.faust_compat.patch import Patch


@dataclass(frozen=True)
class FailProduce:
    topic_suffix: str
    nth: int


def parse(spec: str) -> FailProduce | None:
    """`fail_produce:<topic>:<n>` (the settings validate the shape), or None for ''."""
    if not spec:
        return None
    kind, topic, nth = spec.split(":")
    assert kind == "fail_produce"
    return FailProduce(topic, int(nth))


_original_send = faust_aiokafka.Producer.send


def failing_send(fault: FailProduce) -> Any:
    sent = 0

    async def send(self: Any, topic: str, key: Any, value: Any, partition: Any, timestamp: Any, headers: Any,
                   **kwargs: Any) -> Any:
        nonlocal sent
        if topic.endswith(fault.topic_suffix):
            sent += 1
            if sent == fault.nth:
                failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                failed.set_exception(KafkaTimeoutError(f"injected: record {sent} to {topic} was not sent"))
                return failed
        return await _original_send(self, topic, key, value, partition, timestamp, headers, **kwargs)

    return send


def install(spec: str) -> Patch | None:
    fault = parse(spec)
    if fault is None:
        return None
    patch = Patch(faust_aiokafka.Producer, "send", failing_send(fault), _original_send)
    patch.install()
    return patch
