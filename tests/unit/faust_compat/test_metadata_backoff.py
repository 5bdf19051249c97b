"""A failed metadata update waits before it returns, doubling up to a second (metadata_backoff.py).

Against a real aiokafka client that reaches no broker: unpatched, a loop that asks for metadata again as soon
as an update fails (aiokafka's sender with a partition whose leader is unknown) spun thousands of times a second.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from aiokafka.client import AIOKafkaClient

from streams.faust_compat import metadata_backoff
from streams.faust_compat.metadata_backoff import MAX_BACKOFF_SECONDS, backoff_seconds


def test_the_backoff_doubles_from_retry_backoff_up_to_a_second() -> None:
    assert [backoff_seconds(0.1, n) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert backoff_seconds(0.1, 10_000) == MAX_BACKOFF_SECONDS
    assert backoff_seconds(0.0, 1) > 0  # retry_backoff_ms=0 still never spins


async def _ask_until(client: AIOKafkaClient, seconds: float) -> int:
    """What aiokafka's sender does while a leader is unknown: ask again as soon as the update returns."""
    asked = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await client.force_metadata_update()
        asked += 1
    return asked


@pytest.mark.parametrize("patched", [False, True])
def test_a_client_without_a_broker_asks_for_metadata_a_few_times_a_second(
        patched: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    if patched:
        for patch in metadata_backoff.PATCHES:
            monkeypatch.setattr(patch.owner, patch.name, patch.replacement)

    async def run() -> int:
        client = AIOKafkaClient(bootstrap_servers="127.0.0.1:1", retry_backoff_ms=100)
        synchronizer = asyncio.ensure_future(client._md_synchronizer())  # noqa: SLF001
        try:
            return await _ask_until(client, 1.6)
        finally:
            synchronizer.cancel()
            await asyncio.gather(synchronizer, return_exceptions=True)
            await client.close()

    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        asked = asyncio.run(run())
    errors = sum("Unable to update metadata" in record.getMessage() for record in caplog.records)
    if patched:
        # 0.1 + 0.2 + 0.4 + 0.8 s: the fifth failure's wait ends after the 1.6 s.
        assert 3 <= asked <= 5 and errors == asked
    else:
        assert asked > 100 and errors >= asked  # the storm this guards against, measured here


def test_a_success_resets_the_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = iter([False, False, True, False])

    async def original(self: Any, cluster_metadata: Any, topics: Any) -> bool:
        return next(outcomes)

    monkeypatch.setattr(metadata_backoff, "_original_metadata_update", original)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(metadata_backoff.asyncio, "sleep", sleep)

    class Client:
        _retry_backoff = 0.1

    async def run() -> list[bool]:
        client = Client()
        return [await metadata_backoff._metadata_update_backing_off(client, None, []) for _ in range(4)]  # noqa: SLF001

    assert asyncio.run(run()) == [False, False, True, False]
    assert waits == pytest.approx([0.1, 0.2, 0.1])
