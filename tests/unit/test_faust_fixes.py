"""The pre-commit flush of Faust's producer buffer waits until table writes are really handed over."""
from __future__ import annotations

import asyncio

from streams.faust_fixes import _flush, _send_pending


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
