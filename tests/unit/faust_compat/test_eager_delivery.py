"""The consumer's eager wait_first: a delivery that never waits makes no task; one that waits is continued, and
still interrupted by the suspend event, as mode's wait_first would (streams/faust_compat/eager_delivery.py)."""
from __future__ import annotations

import asyncio

import pytest
from mode import Service

from streams.faust_compat.eager_delivery import _wait_first_eager


class _Fetcher(Service):
    """Stands in for the consumer: wait_first only needs a service's stopped/crashed events and loop."""


async def test_a_delivery_that_never_waits_is_done_without_a_task(monkeypatch: pytest.MonkeyPatch) -> None:
    service = _Fetcher()
    delivered: list[int] = []

    async def deliver(n: int) -> int:
        delivered.append(n)
        return n * 2

    created: list[object] = []
    original_ensure_future = asyncio.ensure_future
    monkeypatch.setattr(asyncio, "ensure_future", lambda *a, **k: created.append(a) or original_ensure_future(*a, **k))
    suspend = asyncio.Event()
    result = await _wait_first_eager(service, deliver(7), suspend.wait())
    assert delivered == [7]
    assert result.results == [14]
    assert not result.stopped
    assert created == []


async def test_a_delivery_that_waits_is_continued_to_its_end() -> None:
    service = _Fetcher()
    gate = asyncio.Event()
    steps: list[str] = []

    async def deliver() -> str:
        steps.append("before")
        await gate.wait()
        steps.append("after")
        return "done"

    asyncio.get_running_loop().call_later(0.05, gate.set)
    result = await _wait_first_eager(service, deliver(), asyncio.Event().wait())
    assert steps == ["before", "after"]
    assert result.results == ["done"]


async def test_a_waiting_delivery_is_cancelled_when_flow_is_suspended() -> None:
    service = _Fetcher()
    suspend = asyncio.Event()
    cancelled = asyncio.Event()

    async def deliver() -> None:
        try:
            await asyncio.Event().wait()  # a full queue that never drains
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.get_running_loop().call_later(0.05, suspend.set)
    result = await _wait_first_eager(service, deliver(), suspend.wait())
    await asyncio.sleep(0)
    assert cancelled.is_set()
    assert len(result.results) == 1 and result.results[0] is True  # the suspend event won


async def test_an_error_of_the_delivery_propagates() -> None:
    service = _Fetcher()

    async def deliver() -> None:
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        await _wait_first_eager(service, deliver(), asyncio.Event().wait())


async def test_a_stopping_consumer_takes_the_original_path() -> None:
    service = _Fetcher()
    service._stopped.set()

    async def deliver() -> None:
        return None

    result = await _wait_first_eager(service, deliver(), asyncio.Event().wait())
    assert result.stopped
