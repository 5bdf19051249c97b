"""Batch delivery (streams/faust_compat/batch_delivery.py): what the inbox keeps of Faust's stream path.

With real Faust messages and events, a stand-in app (its consumer, sensors and flow control record calls).
The pipeline through it runs against the real broker in every integration test.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from faust.events import Event
from faust.exceptions import ValueDecodeError
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from streams.faust_compat import batch_delivery
from streams.faust_compat.batch_delivery import Inbox, acknowledge, batches

TOPIC = "in"


@dataclass
class Consumer:
    unacked: set[Any] = field(default_factory=set)
    acked: list[int] = field(default_factory=list)
    paused: list[TP] = field(default_factory=list)
    resumed: list[TP] = field(default_factory=list)

    def ack(self, message: Any) -> bool:
        if message.acked:
            return False
        message.acked = True
        self.unacked.discard(message)
        self.acked.append(message.offset)
        return True

    def on_buffer_full(self, tp: TP) -> None:
        self.paused.append(tp)

    def on_buffer_drop(self, tp: TP) -> None:
        self.resumed.append(tp)


@dataclass
class Sensors:
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def on_topic_buffer_full(self, tp: TP) -> None:
        self.calls.append(("full", tp))

    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        self.calls.append(("in", offset))

    def on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        self.calls.append(("out", offset))


class FlowControl:
    def __init__(self) -> None:
        self.active = True
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.managed: list[Any] = []

    def is_active(self) -> bool:
        return self.active

    async def acquire(self) -> None:
        await self.resumed.wait()

    def manage_queue(self, queue: Any) -> None:
        self.managed.append(queue)


class App:
    def __init__(self, maxsize: int = 4096) -> None:
        self.consumer = Consumer()
        self.sensors = Sensors()
        self.flow_control = FlowControl()
        self.consumer_generation_id = 3
        self.topics = type("Topics", (), {"acking_topics": {TOPIC}})()
        self.conf = type("Conf", (), {"stream_buffer_maxsize": maxsize})()
        self.should_stop = False
        self.monitor = type("Monitor", (), {"stream_inbound_time": {}})()


def message(offset: int, *, partition: int = 0, generation: int = 3, topic: str = TOPIC) -> ConsumerMessage:
    return ConsumerMessage(topic, partition, offset, 0.0, 0, None, b"k", b"v", None, generation_id=generation)


def event(app: App, offset: int, **kwargs: Any) -> Event:
    found = message(offset, **kwargs)
    found.incref(1)  # as the handler does on delivery
    return Event(app, b"k", b"v", None, found)


async def fill(inbox: Inbox, app: App, offsets: range, partition: int = 0) -> None:
    for offset in offsets:
        await inbox.put(event(app, offset, partition=partition), TP(TOPIC, partition))


async def test_a_full_batch_is_taken_at_once_and_the_rest_after_the_wait() -> None:
    app = App()
    inbox = Inbox(app, 100)
    await fill(inbox, app, range(7))
    first = await asyncio.wait_for(inbox.take(5, within=60), 5)
    assert [e.message.offset for e in first] == [0, 1, 2, 3, 4]
    loop = asyncio.get_running_loop()
    started = loop.time()
    rest = await inbox.take(5, within=0.05)
    assert [e.message.offset for e in rest] == [5, 6]
    assert loop.time() - started >= 0.04  # fewer than max_: it waited for more, as noack_take does
    assert await inbox.take(5, within=0.01) == []


async def test_a_waiting_take_wakes_as_soon_as_its_batch_is_full() -> None:
    app = App()
    inbox = Inbox(app, 100)
    taking = asyncio.ensure_future(inbox.take(3, within=60))
    await fill(inbox, app, range(2))
    await asyncio.sleep(0)
    assert not taking.done()
    await fill(inbox, app, range(2, 4))
    taken = await asyncio.wait_for(taking, 5)
    assert [e.message.offset for e in taken] == [0, 1, 2]
    assert len(inbox) == 1


async def test_taken_records_are_tracked_and_acknowledged_once() -> None:
    app = App()
    inbox = Inbox(app, 100)
    await fill(inbox, app, range(3))
    taken = await inbox.take(10, within=0.01)
    assert {m.offset for m in app.consumer.unacked} == {0, 1, 2}  # a rebalance waits for these
    assert all(e.message.tracked for e in taken)
    assert app.sensors.calls == [("in", 0), ("in", 1), ("in", 2)]  # the hole guard sees each, before the agent
    # What the consumer's liveness check reads: without it, "Stream has not started processing" after 300 s.
    assert set(app.monitor.stream_inbound_time) == {TP(TOPIC, 0)}
    acknowledge(taken)
    acknowledge(taken)
    assert app.consumer.acked == [0, 1, 2]
    assert not app.consumer.unacked
    assert app.sensors.calls[3:] == [("out", 0), ("out", 1), ("out", 2)]


async def test_a_record_of_a_topic_without_acks_is_not_tracked() -> None:
    app = App()
    app.topics.acking_topics = set()
    inbox = Inbox(app, 100)
    await fill(inbox, app, range(2))
    taken = await inbox.take(10, within=0.01)
    assert len(taken) == 2 and not app.consumer.unacked and not app.sensors.calls


async def test_records_of_an_earlier_generation_or_taken_while_flow_is_suspended_are_dropped_unacked() -> None:
    app = App()
    inbox = Inbox(app, 100)
    await inbox.put(event(app, 0, generation=2), TP(TOPIC, 0))
    await inbox.put(event(app, 1), TP(TOPIC, 0))
    assert [e.message.offset for e in await inbox.take(10, within=0.01)] == [1]
    await fill(inbox, app, range(2, 4))
    app.flow_control.active = False
    assert await inbox.take(10, within=0.01) == []
    # Neither acked nor tracked: the rebalance sought the partition back, the fresh copies will be processed.
    assert app.consumer.acked == [] and {m.offset for m in app.consumer.unacked} == {1}


async def test_a_partition_is_paused_under_pressure_and_resumed_once_the_inbox_drains() -> None:
    app = App()
    inbox = Inbox(app, 10)  # pressure at 8 records (10 / 1.25), relief at 4 (10 × 0.4), as Faust's queues
    await fill(inbox, app, range(8), partition=0)
    assert app.consumer.paused == []
    await fill(inbox, app, range(8, 9), partition=1)
    await fill(inbox, app, range(9, 10), partition=1)  # already paused: not again
    assert app.consumer.paused == [TP(TOPIC, 1)]
    assert app.sensors.calls == [("full", TP(TOPIC, 1))]
    await inbox.take(5, within=0.01)  # 5 left: still above the relief level
    assert app.consumer.resumed == []
    await inbox.take(1, within=0.01)  # 4 left
    assert app.consumer.resumed == [TP(TOPIC, 1)]


async def test_a_full_inbox_holds_the_delivery_until_the_agent_takes() -> None:
    app = App()
    inbox = Inbox(app, 3)
    await fill(inbox, app, range(3))
    putting = asyncio.ensure_future(fill(inbox, app, range(3, 4)))
    await asyncio.sleep(0.01)
    assert not putting.done() and len(inbox) == 3
    await inbox.take(2, within=0.01)
    await asyncio.wait_for(putting, 5)
    assert [e.message.offset for e in await inbox.take(10, within=0.01)] == [2, 3]


async def test_a_rebalance_clears_the_inbox() -> None:
    app = App()
    inbox = Inbox(app, 10)
    await fill(inbox, app, range(9))
    inbox.clear()
    assert len(inbox) == 0
    await fill(inbox, app, range(9, 10))  # the consumer forgets paused partitions itself on assignment
    assert [e.message.offset for e in await inbox.take(10, within=0.01)] == [9]
    assert app.consumer.acked == [] and app.consumer.resumed == []


class Channel:
    """A topic iterator as the conductor holds it: decode gives an event, or raises as Faust's would."""

    def __init__(self, app: App, *, fail: bool = False) -> None:
        self.app = app
        self.fail = fail
        self.value_errors: list[int] = []

    def __aiter__(self) -> Channel:
        return self

    async def decode(self, message: Any, *, propagate: bool = False) -> Event:
        if self.fail:
            raise ValueDecodeError("bad value")
        return Event(self.app, message.key, message.value, None, message)

    async def on_value_decode_error(self, error: Exception, message: Any) -> None:
        self.value_errors.append(message.offset)


class Producer:
    class buffer:  # noqa: N801 - as faust's attribute
        @staticmethod
        async def wait_until_ebb() -> None:
            return None


async def test_the_handler_waits_for_flow_then_hands_the_decoded_record_to_the_inbox() -> None:
    app = App()
    app.producer = Producer()
    inbox = Inbox(app, 10)
    handler = batch_delivery._inbox_handler(app, TP(TOPIC, 0), Channel(app), inbox)
    app.flow_control.resumed.clear()  # a rebalance in progress
    delivering = asyncio.ensure_future(handler(message(5)))
    await asyncio.sleep(0.01)
    assert len(inbox) == 0
    app.flow_control.resumed.set()
    await asyncio.wait_for(delivering, 5)
    (taken,) = await inbox.take(10, within=0.01)
    assert taken.message.offset == 5 and taken.message.refcount == 1
    acknowledge([taken])
    assert app.consumer.acked == [5] and taken.message.refcount == 0


async def test_a_record_that_does_not_decode_is_acked_and_reported_to_its_channel() -> None:
    app = App()
    app.producer = Producer()
    inbox = Inbox(app, 10)
    channel = Channel(app, fail=True)
    await batch_delivery._inbox_handler(app, TP(TOPIC, 0), channel, inbox)(message(7))
    assert len(inbox) == 0 and app.consumer.acked == [7] and channel.value_errors == [7]


async def test_a_partition_read_by_inbox_channels_only_goes_through_their_inboxes_else_faust_feeds_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = App()
    app.producer = Producer()
    fed: list[tuple[frozenset[Any], int]] = []

    def faust_handler(conductor: Any, tp: TP, channels: Any) -> Any:
        async def on_message(message: Any) -> None:
            fed.append((frozenset(channels), message.offset))
        return on_message

    monkeypatch.setattr(batch_delivery, "_original_build_handler", faust_handler)
    conductor = type("Conductor", (), {"app": app})()
    first, second, plain = Channel(app), Channel(app), Channel(app)
    first.inbox, second.inbox = Inbox(app, 10), Inbox(app, 10)  # type: ignore[attr-defined]
    tp = TP(TOPIC, 0)

    await batch_delivery._build_handler(conductor, tp, {plain})(message(1))  # type: ignore[arg-type]
    assert fed == [(frozenset({plain}), 1)]

    only_inbox = message(2)
    await batch_delivery._build_handler(conductor, tp, {first})(only_inbox)  # type: ignore[arg-type]
    assert len(first.inbox) == 1 and fed == [(frozenset({plain}), 1)]  # type: ignore[attr-defined]

    shared = message(3)
    await batch_delivery._build_handler(conductor, tp, {first, second, plain})(shared)  # type: ignore[arg-type]
    assert fed[-1] == (frozenset({plain}), 3)  # Faust's handler for the plain stream only
    assert len(first.inbox) == 2 and len(second.inbox) == 1  # type: ignore[attr-defined]
    assert shared.refcount == 2  # one reference per inbox (Faust's handler adds its own)


async def test_batches_marks_the_topic_iterator_and_registers_the_inbox_for_clearing() -> None:
    app = App()
    channel = Channel(app)
    stream = type("Stream", (), {"app": app, "channel": channel})()
    app.producer = Producer()
    iterator = batches(stream, 2, within=0.01)  # type: ignore[arg-type]
    pending = asyncio.ensure_future(iterator.__anext__())
    await asyncio.sleep(0.02)
    inbox = channel.inbox  # type: ignore[attr-defined]
    assert app.flow_control.managed == [inbox]
    handler = batch_delivery._inbox_handler(app, TP(TOPIC, 0), channel, inbox)
    for offset in range(3):
        await handler(message(offset))
    assert [e.message.offset for e in await asyncio.wait_for(pending, 5)] == [0, 1]
    app.should_stop = True
    with pytest.raises(StopAsyncIteration):
        assert [e.message.offset for e in await iterator.__anext__()] == [2]
        await iterator.__anext__()


async def test_without_the_inbox_the_batches_are_the_streams_noack_take() -> None:
    app = App()
    taken: list[tuple[int, float]] = []

    class Stream:
        channel = Channel(app)

        async def noack_take(self, max_: int, *, within: float) -> Any:
            taken.append((max_, within))
            yield [event(app, 1)]
            yield [event(app, 2), event(app, 3)]

    got = [[e.message.offset for e in events] async for events in batches(Stream(), 2, within=0.3, inbox=False)]
    assert got == [[1], [2, 3]] and taken == [(2, 0.3)]
    assert not hasattr(Stream.channel, "inbox") and app.flow_control.managed == []
