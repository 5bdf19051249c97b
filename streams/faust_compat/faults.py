"""Fault injection for tests (issue 11 item 4): a produce that fails, or a record the consumer skips.

Installed by `streams.worker.build()` only when `ISSUE_PLATFORM_FAULT_INJECTION` is set, which the settings
refuse in production. Topics are named without the deployment prefix.
- `fail_produce:<topic>:<n>`: the n-th record this worker produces to `<topic>` is not sent, and its delivery
  future fails with aiokafka's `KafkaTimeoutError`, which is what a broker that stays away past the client's
  retries produces.
- `skip_delivery:<topic>:<offset>`: the first record at `<offset>` (of any partition of `<topic>`) that
  Faust's consumer fetches is never handed on, the records after it are: what Faust did around rebalances
  (streams/faust_compat/seek.py). Faust marks the skipped offset done; the hole guard must stop the worker.
- `drop_produce:<topic>:<n>`: the n-th record this worker produces to `<topic>` is acknowledged but never
  sent: a record the broker lost after acknowledging it (an unclean leader election). What the product must
  recover from by itself: a quota request lost that way is sent again by the owner's `quota_retry` tick.
- `kill_at:<point>:<n>`: no patch; parsed here with the others, armed by streams.worker.guard.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import RecordMetadata, TopicPartition
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.faust_compat.patch import Patch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailProduce:
    topic_suffix: str
    nth: int


@dataclass(frozen=True)
class DropProduce:
    topic_suffix: str
    nth: int


@dataclass(frozen=True)
class SkipDelivery:
    topic_suffix: str
    offset: int


@dataclass(frozen=True)
class KillAt:
    """Not a patch: the agents kill the worker at a named point of theirs (streams/agents/failure.py)."""

    point: str
    nth: int


Fault = FailProduce | DropProduce | SkipDelivery | KillAt


def parse(spec: str) -> Fault | None:
    """`fail_produce:<topic>:<n>`, `drop_produce:<topic>:<n>`, `skip_delivery:<topic>:<offset>` or
    `kill_at:<point>:<n>` (the settings validate the shape), or None for ''."""
    if not spec:
        return None
    kind, topic, number = spec.split(":")
    if kind == "skip_delivery":
        return SkipDelivery(topic, int(number))
    if kind == "kill_at":
        return KillAt(topic, int(number))
    if kind == "drop_produce":
        return DropProduce(topic, int(number))
    assert kind == "fail_produce"
    return FailProduce(topic, int(number))


_original_send = faust_aiokafka.Producer.send


class ProduceFaults:
    """Counts this worker's records to the fault's topic, whichever path sends them (Faust's `Topic.send` or
    streams.outbox), and says which record the fault takes."""

    def __init__(self, fault: FailProduce | DropProduce) -> None:
        self.fault = fault
        self.sent = 0

    def take(self, topic: str) -> FailProduce | DropProduce | None:
        if not topic.endswith(self.fault.topic_suffix):
            return None
        self.sent += 1
        return self.fault if self.sent == self.fault.nth else None


# Set by `install` for a produce fault; streams.outbox asks it about every record it sends.
produce_faults: ProduceFaults | None = None


def failing_send(fault: FailProduce | DropProduce, faults: ProduceFaults | None = None) -> Any:
    counter = faults if faults is not None else ProduceFaults(fault)

    async def send(self: Any, topic: str, key: Any, value: Any, partition: Any, timestamp: Any, headers: Any,
                   **kwargs: Any) -> Any:
        if counter.take(topic) is not None:
            outcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            if isinstance(fault, DropProduce):
                log.warning("injected: record %d to %s acknowledged, never sent", counter.sent, topic)
                outcome.set_result(RecordMetadata(topic, partition or 0, TopicPartition(topic, partition or 0),
                                                  -1, timestamp or -1, 0, -1))
            else:
                outcome.set_exception(KafkaTimeoutError(f"injected: record {counter.sent} to {topic} was not sent"))
            return outcome
        return await _original_send(self, topic, key, value, partition, timestamp, headers, **kwargs)

    return send


GetMany = Callable[..., AsyncIterator[tuple[Any, Any]]]


def skipping_getmany(fault: SkipDelivery, original: GetMany) -> GetMany:
    skipped = False

    async def getmany(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        nonlocal skipped
        async for tp, message in original(self, timeout):
            if not skipped and message.offset == fault.offset and tp.topic.endswith(fault.topic_suffix):
                skipped = True
                log.warning("injected: %s partition %d offset %d is not handed on", tp.topic, tp.partition,
                            message.offset)
                continue
            yield tp, message

    return getmany


def install(spec: str) -> Patch | None:
    fault = parse(spec)
    if fault is None or isinstance(fault, KillAt):
        return None
    if isinstance(fault, SkipDelivery):
        current = Consumer.getmany  # the offset trace's wrapper when the trace is on: keep it
        patch = Patch(Consumer, "getmany", skipping_getmany(fault, current), current)
    else:
        global produce_faults
        produce_faults = ProduceFaults(fault)
        patch = Patch(faust_aiokafka.Producer, "send", failing_send(fault, produce_faults), _original_send)
    patch.install()
    return patch
