"""Hand a batch agent its topic's records a batch at a time, straight from the consumer's fetch loop.

Evidence: a Faust agent that only takes (`Stream.noack_take`) and acks records cost 52 µs of CPU per record
on the development machine (500,000 records, faust-streaming 0.15.3 with streams/faust_compat/eager_delivery.py),
where aiokafka's own `getmany` of the same records cost 2.3 µs. Per record Faust puts an Event on the channel's
queue, its Cython stream iterator takes it off again in a background task, runs the stream sensors and a
`noack_take` processor coroutine, and wakes the agent. An occurrence is three consumed records (ingest,
grouping, sink), so that path was about a fifth of a worker's CPU (spec §2.4.6: decide a batch at a time).

Here an agent's topic is read through an `Inbox` instead: the conductor's handler of each of its partitions
decodes the record into the same Event and appends it to one list, and the agent takes the list (another
stream reading the same topic is still fed by Faust's own handler). What the stream iterator did that
matters is kept:
- flow control: a record waits while flow is suspended (a rebalance) and while the producer's buffer is full;
- back-pressure: a partition stops being fetched while the inbox holds `stream_buffer_maxsize / 1.25` records
  and resumes once it holds `0.4 ×` that many, as Faust's queue does; a full inbox blocks the delivery;
- a rebalance's `flow_control.clear()` empties the inbox: those records were neither tracked nor acked, and
  are fetched again from the committed offset;
- a record fetched in an earlier consumer generation, or taken while flow is suspended, is skipped, as the
  stream iterator skips it. The iterator also acks it; here it is dropped unacked: the rebalance sought its
  partition back to the committed offset, so it is fetched again, and an ack of the stale copy could let a
  commit pass it before the fresh copy is processed;
- a taken record is tracked (the consumer's `unacked`, which a rebalance waits to drain, and the
  `on_message_in` sensor), and `acknowledge` acks it and calls the `on_message_out` sensor;
- the monitor's `stream_inbound_time` of the record's partition is set as the stream sensor sets it: the
  consumer's liveness check (`verify_event_path`) reads it, and without it logs "Stream has not started
  processing" for every partition with unread records once the worker has run `stream_processing_timeout`.
Faust's per-stream sensors (`on_stream_event_in/out`) are not called otherwise: no stream runs.

Upstream: faust-streaming has no batch delivery; its newest code (181b1840, 2026-08-20) still hands every
record to a stream one at a time.
"""
from __future__ import annotations

import asyncio
import math
from time import monotonic
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from faust.exceptions import KeyDecodeError, ValueDecodeError
from faust.transport.conductor import Conductor
from faust.types import TP, EventT, StreamT

from streams.faust_compat.patch import Patch

# As mode's FlowControlQueue, which Faust's channel queues are.
PRESSURE_HIGH_RATIO = 1.25
PRESSURE_DROP_RATIO = 0.40

_original_build_handler = Conductor._build_handler


class Inbox:
    """The decoded records of one agent's topic, in arrival order, waiting for the agent to take them."""

    def __init__(self, app: Any, maxsize: int) -> None:
        self.app = app
        self.maxsize = max(1, maxsize)
        self._high = max(1, math.floor(self.maxsize / PRESSURE_HIGH_RATIO))
        self._drop = math.floor(self.maxsize * PRESSURE_DROP_RATIO)
        self._events: deque[EventT] = deque()
        self._wanted = 1  # the taker is woken once the inbox holds this many
        self._arrived = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._paused: set[TP] = set()

    def __len__(self) -> int:
        return len(self._events)

    def clear(self) -> None:
        """Called by Faust's `flow_control.clear()` in a rebalance (the inbox is managed as its queues are)."""
        self._events.clear()
        # The consumer forgets its paused partitions itself when it is assigned partitions again.
        self._paused.clear()
        self._space.set()

    async def put(self, event: EventT, tp: TP) -> None:
        events = self._events
        while len(events) >= self.maxsize:
            self._space.clear()
            await self._space.wait()
        if len(events) >= self._high and tp not in self._paused:
            self._paused.add(tp)
            self.app.sensors.on_topic_buffer_full(tp)
            self.app.consumer.on_buffer_full(tp)
        events.append(event)
        if len(events) >= self._wanted:
            self._arrived.set()

    async def take(self, max_: int, within: float) -> list[EventT]:
        """Up to `max_` records: as soon as that many are here, else whatever arrived within `within` seconds
        (possibly none), as `Stream.noack_take` yields. Every record returned is tracked."""
        events = self._events
        if len(events) < max_:
            self._wanted = max_
            self._arrived.clear()
            try:
                async with asyncio.timeout(within):
                    await self._arrived.wait()
            except TimeoutError:
                pass
        taken = [events.popleft() for _ in range(min(max_, len(events)))]
        self._space.set()
        if self._paused and len(events) <= self._drop:
            on_buffer_drop = self.app.consumer.on_buffer_drop
            for tp in self._paused:
                on_buffer_drop(tp)
            self._paused.clear()
        return self._tracked(taken)

    def _tracked(self, taken: list[EventT]) -> list[EventT]:
        app = self.app
        consumer = app.consumer
        generation = app.consumer_generation_id
        flowing = app.flow_control.is_active()
        acking_topics = app.topics.acking_topics
        track = consumer.unacked.add
        on_message_in = app.sensors.on_message_in
        inbound: set[TP] = set()
        kept: list[EventT] = []
        for event in taken:
            message = event.message
            if not flowing or message.generation_id != generation:
                continue  # fetched again from the committed offset (module docstring)
            if message.topic in acking_topics and not message.tracked:
                message.tracked = True
                track(message)
                on_message_in(message.tp, message.offset, message)
            inbound.add(message.tp)
            kept.append(event)
        if inbound and app.monitor is not None:
            now = monotonic()
            app.monitor.stream_inbound_time.update(dict.fromkeys(inbound, now))
        return kept


def _ack(app: Any, event: EventT) -> None:
    message = event.message
    if message.ack(app.consumer):
        app.sensors.on_message_out(message.tp, message.offset, message)


def acknowledge(events: Iterable[EventT]) -> None:
    """Ack records taken from an inbox: their offsets may be committed (and the sensors see them done)."""
    for event in events:
        _ack(event.app, event)


async def batches(stream: StreamT[Any], max_: int, *, within: float, inbox: bool = True,
                  ) -> AsyncIterator[list[EventT]]:
    """The agent's records, `max_` at most at a time, as `stream.noack_take(max_, within=within)` gives them;
    through an inbox, without the stream, when `inbox` (ISSUE_PLATFORM_BATCH_DELIVERY). Either way nothing is
    acked for the agent (`acknowledge` them)."""
    if not inbox:
        async for events in stream.noack_take(max_, within=within):
            yield events
        return
    app = stream.app
    records = Inbox(app, app.conf.stream_buffer_maxsize)
    # Iterating a topic registers the iterator with the conductor, which then subscribes to the topic;
    # the mark makes the conductor hand that iterator's records to the inbox (`_build_handler` below).
    channel = stream.channel.__aiter__()
    channel.inbox = records
    app.flow_control.manage_queue(records)  # cleared with the queues in a rebalance
    while not app.should_stop:
        taken = await records.take(max_, within)
        if taken:
            yield taken


def _build_handler(self: Conductor, tp: TP, channels: Any) -> Callable[[Any], Any]:
    inboxed = [channel for channel in channels if getattr(channel, "inbox", None) is not None]
    if not inboxed:
        return _original_build_handler(self, tp, channels)
    handlers = [_inbox_handler(self.app, tp, channel, channel.inbox) for channel in inboxed]
    others = {channel for channel in channels if getattr(channel, "inbox", None) is None}
    if others:
        # Another stream reads the same topic: Faust's own handler feeds it (a queue nobody reads would fill
        # and stop the partition), and each inbox gets the record too, as every channel does in Faust.
        handlers.insert(0, _original_build_handler(self, tp, others))
    if len(handlers) == 1:
        return handlers[0]

    async def on_message(message: Any) -> None:
        for handler in handlers:
            await handler(message)

    return on_message


def _inbox_handler(app: Any, tp: TP, channel: Any, inbox: Inbox) -> Callable[[Any], Any]:
    acquire_flow_control = app.flow_control.acquire
    wait_until_producer_ebb = app.producer.buffer.wait_until_ebb
    decode = channel.decode
    put = inbox.put

    async def on_message(message: Any) -> None:
        await acquire_flow_control()
        await wait_until_producer_ebb()
        message.incref(1)
        try:
            event = await decode(message, propagate=True)
        except KeyDecodeError as error:
            message.ack(app.consumer)
            await channel.on_key_decode_error(error, message)
            return
        except ValueDecodeError as error:
            message.ack(app.consumer)
            await channel.on_value_decode_error(error, message)
            return
        await put(event, tp)

    return on_message


PATCHES = (Patch(Conductor, "_build_handler", _build_handler, _original_build_handler),)
