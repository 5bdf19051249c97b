"""Make Faust's pre-commit flush really drain the table-changelog buffer (a gap in faust-streaming 0.15.3).

Before committing offsets, Faust flushes its producer, which first flushes `ProducerBuffer`, the queue
that table writes (`table[key] = value`) go through on their way to the changelog. That flush returns
as soon as 0.1 s pass without a message being sent, even with messages still queued, and a message
taken off the queue is not yet handed to aiokafka while it is being published. Offsets could then be
committed before the table state they reflect was produced; a `kill -9` at that moment lost the state
while the input was not read again (seen as keys stuck waiting for a quota answer that had been
applied). Here flush waits until the queue is empty and no message is in flight, so a committed offset
always has its changelog writes in aiokafka, which the same flush then drains.

Also: a declared topic is waited for until the broker lists it with a leader for every partition.
Faust creates its topics just before the consumer subscribes. When the broker has not yet published a
new topic in its metadata at the moment the group leader computes the assignment, that topic gets no
partitions at all, and aiokafka notices only at its next metadata refresh (five minutes by default).
Seen in CI: the quota topic unassigned, every new group waiting for an answer that nobody computed.

Also: after a rebalance Faust seeks every partition to its committed offset, through aiokafka's
`seek_to_committed`, which skips partitions whose committed offset is None or 0. Such a partition
(nothing committed yet: every partition of a young deployment) keeps the position its fetcher reached
before the rebalance, although the records fetched then were thrown away with the old generation: they
are never processed, and Faust's gap tracking then counts them as done. Seen in CI: one grouping message
of 20,000 never applied after the start-up rebalance. Here those partitions are sought too: to 0, or by
the consumer's reset policy when nothing was committed. Only input topics: changelog partitions are
positioned by Faust's recovery, not by committed offsets.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.cluster import ClusterMetadata
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer

log = logging.getLogger(__name__)

# Set to 1 to log, per input partition, the records Faust drops, the gaps it marks done and the batch
# records it discards (streams/faust_compat/offset_trace.py): the evidence behind the fixes in this module.
OFFSET_TRACE_VARIABLE = "ISSUE_PLATFORM_OFFSET_TRACE"

# How long a freshly declared topic may take to appear in the broker's metadata before we start anyway.
TOPIC_VISIBLE_TIMEOUT_SECONDS = 60.0

_IN_FLIGHT = "_issue_platform_in_flight"


async def _send_pending(self: Any, fut: Any) -> None:
    setattr(self, _IN_FLIGHT, getattr(self, _IN_FLIGHT, 0) + 1)
    try:
        await fut.message.channel.publish_message(fut, wait=False)
    finally:
        setattr(self, _IN_FLIGHT, getattr(self, _IN_FLIGHT, 0) - 1)


async def _flush(self: Any) -> None:
    while self.size or getattr(self, _IN_FLIGHT, 0):
        if self.state != "running":
            raise RuntimeError("Cannot flush: Producer not Running")
        self.message_sent.clear()
        try:
            await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)
        except asyncio.TimeoutError:
            continue  # still waiting: never report a flush that did not happen


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
        # Only this topic's metadata: a broker can hold thousands of topics. While the topic is not yet
        # known, aiokafka logs "not found in cluster metadata"; that is expected here.
        cluster = ClusterMetadata()
        if await client._metadata_update(cluster, [topic]) and is_topic_ready(cluster, topic, partitions):
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
        client = self._ensure_producer().client
        await wait_until_topic_ready(client, topic, partitions)
        # Keep the topic in the producer's metadata even if this worker never writes to it: Faust's web
        # view routes a table key through the producer's partitioner, which needs the changelog's
        # partitions (seen: HTTP 500 "NoneType is not iterable" for a table this worker had not written).
        await client.add_topic(topic)


_original_seek_to_committed = AIOKafkaConsumer.seek_to_committed


def is_changelog(topic: str) -> bool:
    """Faust's own topics: table changelogs and the leader topic, positioned by Faust itself."""
    return topic.endswith("-changelog") or topic.endswith("__assignor-__leader")


async def _seek_to_committed_always(self: Any, *partitions: TopicPartition) -> dict[TopicPartition, int | None]:
    committed = await _original_seek_to_committed(self, *partitions)
    inputs = {tp: offset for tp, offset in committed.items() if not is_changelog(tp.topic)}
    never = [tp for tp, offset in inputs.items() if offset is None or offset < 0]
    for tp, offset in inputs.items():
        if offset == 0:
            self._fetcher.seek_to(tp, 0)
    if never:
        if self._auto_offset_reset == "latest":
            await self.seek_to_end(*never)
        else:
            await self.seek_to_beginning(*never)
    return committed


_original_on_recovery_completed = Recovery.on_recovery_completed
_original_perform_seek = Consumer.perform_seek
# On the consumer: the generation whose input partitions were sought while still paused.
_SOUGHT_IN = "_issue_platform_inputs_sought_in"


async def _seek_inputs_before_resuming(self: Any, generation_id: int = 0) -> None:
    """Seek the input partitions to their committed offsets while they are still paused.

    Faust resumes the input partitions first and seeks them afterwards, and by then it has already
    resumed the flow (the recovery resumes it for the changelogs). In the time the committed offsets take
    to arrive, the consumer fetches and delivers input from the position of the previous generation;
    the seek then moves the read offset back, Faust marks the offsets between it and the next delivered
    record as a gap (done), and drops the records fetched again below its read offset. Seen with a
    trace after kill -9: quota partition 9 sought to 1, records 30-41 delivered first, 2-29 marked as a
    gap and 1-41 dropped when fetched again: never processed, and committed past.

    Seeking here, before the original resumes them, makes every delivery start at the committed offset.
    The original's own seek is then skipped: a second seek, after records were delivered, moved the read
    offset back again and made Faust mark delivered-but-unprocessed records as a gap (seen in the trace
    too: grouping partition 3, 137-142).
    """
    consumer = self.app.consumer
    if self.app.consumer_generation_id == generation_id and consumer.assignment():
        await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
        setattr(consumer, _SOUGHT_IN, generation_id)
    try:
        await _original_on_recovery_completed(self, generation_id)
    finally:
        setattr(consumer, _SOUGHT_IN, None)


async def _perform_seek_unless_sought(self: Any) -> None:
    if getattr(self, _SOUGHT_IN, None) == self.app.consumer_generation_id:
        return  # this generation's inputs were sought moments ago, while paused
    await _original_perform_seek(self)


_applied = False


def apply() -> None:
    global _applied, _original_perform_seek
    if _applied:  # wrapping twice would make a wrapper call itself
        return
    _applied = True
    if os.environ.get(OFFSET_TRACE_VARIABLE):
        from streams.faust_compat import offset_trace

        offset_trace.apply()
    _original_perform_seek = Consumer.perform_seek  # the trace's wrapper, when it is on
    Consumer.perform_seek = _perform_seek_unless_sought  # type: ignore[method-assign]
    Recovery.on_recovery_completed = _seek_inputs_before_resuming  # type: ignore[method-assign]
    AIOKafkaConsumer.seek_to_committed = _seek_to_committed_always  # type: ignore[method-assign]
    faust_aiokafka.Producer.create_topic = _create_topic_and_wait  # type: ignore[method-assign]
    ProducerBuffer._send_pending = _send_pending  # type: ignore[method-assign]
    ProducerBuffer.flush = _flush  # type: ignore[method-assign]
