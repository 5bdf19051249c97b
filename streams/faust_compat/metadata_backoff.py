"""Back off, doubling up to a second, between failed metadata updates of an aiokafka client.

Evidence: in `make chaos` (bench/results/chaos-20261201-032642-77fca82.json, worker-2 of its kept
deployment) the broker's restart made one worker log 14,498 `Unable connect to node with id 1` and 14,350
`Unable to update metadata from [1]` ERROR lines in 9 s, over 3,000 a second, while the other two logged
a few hundred each. aiokafka's sender, holding batches whose partition has no known leader, calls
`force_metadata_update()` and waits on it "to wait backoff time" (its comment), but the client's metadata
task answers a failed update at once: the connection is refused in microseconds, the future resolves False,
and the sender asks again in the same loop turn. Nothing waits `retry_backoff_ms` on that path. The loop
burns the event loop's CPU beside the real work and buries the lines that matter, where an ERROR line must
mean something (issue 11, item 6).

Here a failed update (no broker answered, or none was listed) waits before it returns: `retry_backoff_ms`
(100 ms) after the first failure, doubling with each failure in a row up to `MAX_BACKOFF_SECONDS`, as the
Java client's `reconnect.backoff.max.ms` (1 s) does; the first success resets it. Every caller of the
update therefore waits, the sender's loop included, and a broker that comes back is noticed within a second.
Successful updates are not delayed.

Upstream: unchanged in aiokafka's newest code (672947af, 0.14.0 final, 2026-04-29): the sender's
`unknown_leaders_exist` branch and `_md_synchronizer` are as in 0.14.0 here.
"""
from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.client import AIOKafkaClient

from streams.faust_compat.patch import Patch

MAX_BACKOFF_SECONDS = 1.0
_FAILURES_ATTRIBUTE = "_issue_platform_metadata_failures"


def backoff_seconds(retry_backoff: float, failures_in_a_row: int) -> float:
    """How long the `failures_in_a_row`-th failure in a row (counted from 1) waits."""
    first = max(retry_backoff, 0.001)
    return min(first * 2 ** min(failures_in_a_row - 1, 32), MAX_BACKOFF_SECONDS)


_original_metadata_update = AIOKafkaClient._metadata_update


async def _metadata_update_backing_off(self: Any, cluster_metadata: Any, topics: Any) -> bool:
    updated = await _original_metadata_update(self, cluster_metadata, topics)
    if updated:
        setattr(self, _FAILURES_ATTRIBUTE, 0)
        return updated
    failures = getattr(self, _FAILURES_ATTRIBUTE, 0) + 1
    setattr(self, _FAILURES_ATTRIBUTE, failures)
    await asyncio.sleep(backoff_seconds(self._retry_backoff, failures))  # noqa: SLF001
    return updated


PATCHES = (Patch(AIOKafkaClient, "_metadata_update", _metadata_update_backing_off, _original_metadata_update),)
