"""Forget idle keys of the `groups` table, so it stays bounded (design §4 "Bounded state").

A fingerprint whose occurrences are only ever held back by the noise gate (spec §13.1.4), or refused by
the quota, never gets a group, yet its key state (watermark, last T) would stay in `groups` for good.
Faust lets a table be written only while an event of the table's partition is processed, so the sweep
does not delete anything itself: every `ISSUE_PLATFORM_IDLE_KEY_SWEEP_SECONDS` it scans the partitions
this worker actively owns and sends a `forget` message for each idle key to that key's own partition of
the grouping topic. The owner deletes the key only if it is still idle at the offset the sweep saw
(`decide_forget`), so an occurrence that arrives meanwhile always wins.

A key is selected only when the grouping offset it last applied is below the partition's committed
offset: that message can never be read again, so nothing can be applied twice to a forgotten key
(spec §2.3.2, §2.4.2).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka.structs import TopicPartition
from faust.types import TP

from streams.agents.grouping import groups, idle_keep_seconds
from streams.app import app, settings
from streams.core.engine import KeyState, is_idle
from streams.core.messages import encode, forget_message
from streams.topics import grouping_topic

log = logging.getLogger(__name__)

# Keys read per look at a partition: between chunks the loop serves the agents.
CHUNK = 1000


def active_partitions() -> list[int]:
    """Partitions of `groups` this worker owns as active (standbys only follow the changelog)."""
    actives = app.assignor.assigned_actives()
    topic = grouping_topic.get_topic_name()
    dbs = getattr(groups.data, "_dbs", None)
    if dbs is None:  # the memory store: nothing on disk to bound
        return []
    return sorted(partition for partition in list(dbs) if TP(topic, partition) in actives)


async def committed_offsets(partitions: list[int]) -> dict[int, int | None]:
    """The grouping topic's committed offsets, asked of the broker (the group coordinator).

    Faust's in-memory `_committed_offset` is updated even when a commit failed, so it could claim more
    than Kafka would hand a successor after a crash; the broker's answer is the one a re-read starts at.
    """
    topic = grouping_topic.get_topic_name()
    thread: Any = app.consumer._thread  # noqa: SLF001  # aiokafka runs in Faust's consumer thread

    async def fetch() -> dict[int, int | None]:
        consumer = thread._ensure_consumer()  # noqa: SLF001
        return {partition: await consumer.committed(TopicPartition(topic, partition)) for partition in partitions}

    result: dict[int, int | None] = await thread.call_thread(fetch)
    return result


async def idle_keys_of(partition: int, *, committed: int, now: float) -> list[tuple[str, int]]:
    """(key, watermark) of every idle key of one partition whose last applied message is committed."""
    store: Any = groups.data
    selected: list[tuple[str, int]] = []
    after: bytes | None = None
    while True:
        db = store._dbs.get(partition)  # noqa: SLF001
        if db is None:  # revoked meanwhile: its new owner sweeps it
            return selected
        chunk: list[tuple[bytes, bytes]] = []
        for raw_key, raw_value in db.items(from_key=after):
            if raw_key == after or raw_key == store.offset_key:
                continue
            chunk.append((raw_key, raw_value))
            if len(chunk) >= CHUNK:
                break
        for raw_key, raw_value in chunk:
            state = KeyState.from_dict(store._decode_value(raw_value))  # noqa: SLF001
            if state.offset < committed and is_idle(state, now=now, keep=idle_keep_seconds(state)):
                selected.append((store._decode_key(raw_key), state.offset))  # noqa: SLF001
        if len(chunk) < CHUNK:
            return selected
        after = chunk[-1][0]
        await asyncio.sleep(0)


async def sweep() -> int:
    """One sweep over this worker's active partitions; returns how many keys it asked to forget."""
    partitions = active_partitions()
    if not partitions:
        return 0
    committed = await committed_offsets(partitions)
    now = time.time()
    selected = 0
    for partition in partitions:
        limit = committed.get(partition)
        if limit is None:  # nothing committed yet: every applied message could still be re-read
            continue
        for key, offset in await idle_keys_of(partition, committed=limit, now=now):
            # Explicitly to the key's partition: the one whose table holds it, whatever the partitioner.
            await grouping_topic.send(key=key, value=encode(forget_message(t=now, key_offset=offset)),
                                      partition=partition, timestamp=now)
            selected += 1
    log.info("idle keys: %d selected to forget in %d active groups partitions", selected, len(partitions))
    return selected


@app.timer(settings.idle_key_sweep_seconds, name="idle_key_sweep")
async def sweep_idle_keys() -> None:
    try:
        await sweep()
    except Exception:  # noqa: BLE001  # a missed sweep only delays forgetting; the next one tries again
        log.exception("idle keys: sweep failed; the next sweep tries again")
