"""Make Faust's pre-commit flush really drain the table-changelog buffer (a gap in faust-streaming 0.15.3).

Evidence: before committing offsets, Faust flushes its producer, which first flushes `ProducerBuffer`, the
queue that table writes (`table[key] = value`) go through on their way to the changelog. That flush
returns as soon as 0.1 s pass without a message being sent, even with messages still queued, and a
message taken off the queue is not yet handed to aiokafka while it is being published. Offsets could then
be committed before the table state they reflect was produced; a `kill -9` at that moment lost the state
while the input was not read again (seen as keys stuck waiting for a quota answer that had been applied).
Here flush waits until the queue is empty and no message is in flight, so a committed offset always has
its changelog writes in aiokafka, which the same flush then drains.

Upstream: not fixed. The early return is faust-streaming's `flush_atmost` as rewritten by PR #112 (commit
a841a0e0, "fix race (out of order) in flushing topics"); PR #273 (commit 28595d05, "flushing producer
before commit") made the commit path call `producer.flush()` first and relies on it. Both are unchanged in
faust-streaming's newest code (181b1840, 2026-08-20, the same source as the 0.15.3 we pin). We found no
upstream issue about the early return (the nearest, faust-streaming #173, is about buffer-full warnings).
"""
from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.producer import ProducerBuffer

from streams.faust_compat import changelog_batches
from streams.faust_compat.patch import Patch

_IN_FLIGHT = "_issue_platform_in_flight"


async def _send_pending(self: Any, fut: Any) -> None:
    setattr(self, _IN_FLIGHT, getattr(self, _IN_FLIGHT, 0) + 1)
    try:
        await fut.message.channel.publish_message(fut, wait=False)
    finally:
        setattr(self, _IN_FLIGHT, getattr(self, _IN_FLIGHT, 0) - 1)


async def _flush(self: Any) -> None:
    app = getattr(self, "app", None)  # set by Faust's Producer on its buffer
    if app is not None:
        # The table writes queued as record batches (changelog_batches.py) first: a commit follows this flush.
        await changelog_batches.drain(app)
    while self.size or getattr(self, _IN_FLIGHT, 0):
        if self.state != "running":
            raise RuntimeError("Cannot flush: Producer not Running")
        self.message_sent.clear()
        try:
            await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)
        except asyncio.TimeoutError:
            continue  # still waiting: never report a flush that did not happen


PATCHES = (
    Patch(ProducerBuffer, "_send_pending", _send_pending, ProducerBuffer._send_pending),
    Patch(ProducerBuffer, "flush", _flush, ProducerBuffer.flush),
)
