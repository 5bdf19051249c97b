"""Hand a fetched record to its streams without four tasks per record: run the delivery eagerly.

Evidence: Faust's fetch loop (`Consumer._drain_messages`) delivers every record with
`await self.wait_first(callback(message), self.suspend_flow.wait())`, and mode's `Service.wait_first` wraps
each argument, plus the service's `stopped` and `crashed` events, in a task and runs `asyncio.wait` over
the four: per record, four tasks created, scheduled and cancelled. A py-spy profile of a worker under
`make bench` (after streams/outbox.py) put 8 % of its CPU there. The delivery (`Conductor.on_message`) almost
never waits: it blocks only while flow is suspended (a rebalance), the producer buffer is full or a
stream's queue is full.

Here the consumer's `wait_first` first runs the delivery coroutine up to its first suspension. If it
finishes there (the common case), that is its result and no task is made. If it suspends, or the consumer
is stopping, the original `wait_first` takes over with the delivery continuing where it stopped, so a
rebalance (`suspend_flow`) still interrupts a blocked delivery exactly as before. Only the consumer's own
calls go through it, and `_drain_messages` is its only caller in faust-streaming 0.15.3.

Upstream: unchanged in faust-streaming's newest code (181b1840, 2026-08-20).
"""
from __future__ import annotations

import inspect
from collections.abc import Coroutine, Generator
from typing import Any

from faust.transport.consumer import Consumer
from mode.services import Service, WaitResults

from streams.faust_compat.patch import Patch

_original_wait_first = Service.wait_first


class _Resumed:
    """A coroutine that already ran to its first suspension (it yielded `pending`), continued when awaited."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coroutine = coroutine
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        to_yield = self._pending
        while True:
            try:
                sent = yield to_yield
            except BaseException as thrown:  # noqa: BLE001 - a cancellation goes into the coroutine, as a Task would
                try:
                    to_yield = self._coroutine.throw(thrown)
                except StopIteration as finished:
                    return finished.value
            else:
                try:
                    to_yield = self._coroutine.send(sent)
                except StopIteration as finished:
                    return finished.value


async def _wait_first_eager(self: Any, *coros: Any, timeout: Any = None) -> WaitResults:
    first = coros[0] if coros else None
    if not inspect.iscoroutine(first) or self._stopped.is_set() or self._crashed.is_set():
        return await _original_wait_first(self, *coros, timeout=timeout)
    try:
        pending = first.send(None)
    except StopIteration as finished:
        _close(coros[1:])
        return WaitResults([first], [finished.value], False)
    except BaseException:
        _close(coros[1:])
        raise  # as the original's result() would raise it
    return await _original_wait_first(self, _Resumed(first, pending), *coros[1:], timeout=timeout)


def _close(coros: tuple[Any, ...]) -> None:
    for other in coros:
        if inspect.iscoroutine(other):
            other.close()  # never started: closed, so Python does not warn it was never awaited


PATCHES = (Patch(Consumer, "wait_first", _wait_first_eager, _original_wait_first),)
