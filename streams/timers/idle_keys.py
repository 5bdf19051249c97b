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
(spec §2.3.2, §2.4.2). Nor can an input: the key's per-input watermarks (spec §2.4.10) must all be below
the committed offset of their input partition, or a re-read of that input would find no watermark and be
applied a second time.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Mapping

from streams.app import app
from streams.core.decide import is_idle
from streams.core.group_state import KeyState
from streams.core.input_topic import parse_recorded_topic
from streams.core.messages import encode, forget_message
from streams.faust_compat.internals import active_partitions, committed_offsets, table_items_after
from streams.input_topic import is_retired
from streams.tables import groups, idle_keep_seconds
from streams.topics import grouping_topic

log = logging.getLogger(__name__)

# Keys read per look at a partition: between chunks the loop serves the agents.
CHUNK = 1000
# The "committed offset" of an input that can never be read again: every watermark is below it.
NEVER_READ_AGAIN = sys.maxsize


async def idle_keys_of(partition: int, *, committed: int, now: float) -> list[tuple[str, KeyState]]:
    """(key, state) of every idle key of one partition whose last applied message is committed."""
    selected: list[tuple[str, KeyState]] = []
    after: bytes | None = None
    while True:
        chunk = table_items_after(groups, partition, after, CHUNK)
        for _, key, value in chunk:
            state = KeyState.from_dict(value)
            if state.offset < committed and is_idle(state, now=now, keep=idle_keep_seconds(state)):
                selected.append((key, state))
        if len(chunk) < CHUNK:
            return selected
        after = chunk[-1][0]
        await asyncio.sleep(0)


async def sweep() -> int:
    """One sweep over this worker's active partitions; returns how many keys it asked to forget."""
    topic = grouping_topic.get_topic_name()
    partitions = active_partitions(app, groups, topic)
    if not partitions:
        return 0
    committed = await committed_offsets(app, topic, partitions)
    now = time.time()
    candidates: list[tuple[int, str, KeyState]] = []
    for partition in partitions:
        limit = committed.get(partition)
        if limit is None:  # nothing committed yet: every applied message could still be re-read
            continue
        candidates.extend((partition, key, state) for key, state in await idle_keys_of(partition, committed=limit,
                                                                                       now=now))
    inputs_committed = await _inputs_committed({name for _, _, state in candidates for name in state.inputs})
    selected = 0
    for partition, key, state in candidates:
        if not inputs_past(state, inputs_committed):
            continue
        # Explicitly to the key's partition: the one whose table holds it, whatever the partitioner.
        await grouping_topic.send(key=key, value=encode(forget_message(t=now, key_offset=state.offset)),
                                  partition=partition, timestamp=now)
        selected += 1
    log.info("idle keys: %d selected to forget in %d active groups partitions", selected, len(partitions))
    return selected


def inputs_past(state: KeyState, committed: Mapping[str, int | None]) -> bool:
    """Every input that fed the key is committed past (spec §2.4.10): none can be read again."""
    for name, offset in state.inputs.items():
        limit = committed.get(name)
        if limit is None or offset >= limit:
            return False
    return True


async def _inputs_committed(names: set[str]) -> dict[str, int | None]:
    """"topic:partition" → the committed offset of this app's consumer group there (the ingest agent's).

    A name may carry an incarnation of its topic ("topic#2:partition", streams.core.input_topic); the
    offsets committed on the topic belong to the incarnation this worker runs, and an older incarnation's
    inputs can never be read again (the topic was deleted), so they count as committed past."""
    by_topic: dict[str, list[int]] = {}
    result: dict[str, int | None] = {}
    for name in names:
        recorded, _, partition = name.rpartition(":")
        if is_retired(recorded):
            result[name] = NEVER_READ_AGAIN
        else:
            by_topic.setdefault(recorded, []).append(int(partition))
    for recorded, partitions in by_topic.items():
        topic, _ = parse_recorded_topic(recorded)
        for partition, offset in (await committed_offsets(app, topic, sorted(partitions))).items():
            result[f"{recorded}:{partition}"] = offset
    return result


async def sweep_idle_keys() -> None:
    try:
        await sweep()
    except Exception:  # noqa: BLE001  # a missed sweep only delays forgetting; the next one tries again
        log.exception("idle keys: sweep failed; the next sweep tries again")
