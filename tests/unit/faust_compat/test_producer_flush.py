"""The pre-commit flush of Faust's producer buffer waits until table writes are really handed over."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from faust.transport.producer import ProducerBuffer

from streams.faust_compat import producer_flush
from streams.faust_compat.producer_flush import _flush, _send_pending


class SlowBuffer:
    """The parts of faust's ProducerBuffer the flush reads, draining slower than Faust's 0.1 s patience."""

    state = "running"

    def __init__(self, size: int) -> None:
        self.size = size
        self.message_sent = asyncio.Event()

    async def drain(self, every: float) -> None:
        while self.size:
            await asyncio.sleep(every)
            self.size -= 1
            self.message_sent.set()


async def test_flush_returns_only_when_the_buffer_is_empty() -> None:
    buffer = SlowBuffer(size=3)
    draining = asyncio.create_task(buffer.drain(every=0.15))
    await asyncio.wait_for(_flush(buffer), timeout=5)
    assert buffer.size == 0
    await draining


async def test_flush_waits_for_a_message_that_is_being_published() -> None:
    buffer = SlowBuffer(size=0)
    published = asyncio.Event()

    class Channel:
        async def publish_message(self, fut: object, wait: bool) -> None:
            await asyncio.sleep(0.3)
            published.set()

    class Message:
        channel = Channel()

    class Future:
        message = Message()

    sending = asyncio.create_task(_send_pending(buffer, Future()))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(_flush(buffer), timeout=5)
    assert published.is_set()
    await sending


# With Faust's real ProducerBuffer: these fail without the patch (checked by disabling it).


class TableWrite:
    """A changelog message as the buffer holds it; publishing it takes `seconds`."""

    def __init__(self, seconds: float, published: list[int], number: int) -> None:
        class Channel:
            async def publish_message(self, fut: object, wait: bool) -> None:
                await asyncio.sleep(seconds)
                published.append(number)

        class Message:
            channel = Channel()

        self.message = Message()


@pytest.fixture
async def buffer(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ProducerBuffer]:
    for patch in producer_flush.PATCHES:
        monkeypatch.setattr(patch.owner, patch.name, patch.replacement)
    app = type("App", (), {"conf": type("Conf", (), {"producer_threaded": False})()})()
    buffer = ProducerBuffer()
    buffer.app = app
    await buffer.start()
    yield buffer
    await buffer.stop()


async def test_faust_flush_waits_for_a_table_write_taken_off_the_queue(buffer: ProducerBuffer) -> None:
    published: list[int] = []
    buffer.put(TableWrite(0.3, published, 1))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert buffer.size == 0  # off the queue, not yet handed to aiokafka
    await asyncio.wait_for(buffer.flush(), timeout=5)
    assert published == [1]


async def test_faust_flush_waits_out_writes_slower_than_its_patience(buffer: ProducerBuffer) -> None:
    published: list[int] = []
    for number in range(3):
        buffer.put(TableWrite(0.15, published, number))  # type: ignore[arg-type]
    await asyncio.wait_for(buffer.flush(), timeout=5)
    assert published == [0, 1, 2]
    assert buffer.size == 0
