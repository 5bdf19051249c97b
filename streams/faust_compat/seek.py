"""Start every input partition at its committed offset after a rebalance (two gaps in Faust 0.15.3 + aiokafka 0.14).

1. `AIOKafkaConsumer.seek_to_committed` skips a partition whose committed offset is None or 0.
Evidence: after a rebalance Faust seeks every partition to its committed offset through it. Such a
partition (nothing committed yet: every partition of a young deployment) keeps the position its fetcher
reached before the rebalance, although the records fetched then were thrown away with the old generation:
they are never processed, and Faust's gap tracking then counts them as done. Seen in CI: one grouping
message of 20,000 never applied after the start-up rebalance. Here those partitions are sought too: to 0,
or by the consumer's reset policy when nothing was committed. Only input topics: changelog partitions are
positioned by Faust's recovery, not by committed offsets.
Upstream: aio-libs/aiokafka issue #1003 (open) reports the offset-0 case; aiokafka's newest code (0.14.0
final, commit 672947af, 2026-04-29) still seeks only `if offset and offset > 0`, and nothing handles None.

2. `Recovery.on_recovery_completed` resumes the input partitions before it seeks them.
Evidence: see `_seek_inputs_before_resuming` (a trace after kill -9, taken with
ISSUE_PLATFORM_OFFSET_TRACE, streams/faust_compat/offset_trace.py). Here the inputs are sought while still
paused, and `Consumer.perform_seek` skips Faust's second seek of the same generation.
Upstream: the order comes from faust-streaming PR #241 (commit 6f3c7830, "fix race conditions on
rebalance"), which moved `resume_partitions` ahead of `perform_seek`; PR #217 (issue #216) had fixed the
same race the other way round (seek first) for apps without tables. Unchanged in faust-streaming's newest
code (181b1840, 2026-08-20).

Each seek's positions (the committed offset, or where the reset policy put a partition with none) are
handed to the listeners of `add_seek_listener`: the hole guard (streams/agents/holes.py, spec §2.4.9)
checks that the first record delivered after a seek is the one at the position sought.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer

from streams.faust_compat.changelog_queue import changelog_queue_kept
from streams.faust_compat.patch import Patch

_original_seek_to_committed = AIOKafkaConsumer.seek_to_committed


def is_changelog(topic: str) -> bool:
    """Faust's own topics: table changelogs and the leader topic, positioned by Faust itself."""
    return topic.endswith("-changelog") or topic.endswith("__assignor-__leader")


# The input positions of the latest seek: written in Faust's consumer thread (where aiokafka runs), read on
# the main thread once that seek has returned. One consumer group per worker, so one value.
_last_positions: dict[TopicPartition, int] = {}
SeekListener = Callable[[Mapping[TopicPartition, int]], None]
_seek_listeners: list[SeekListener] = []


def add_seek_listener(listener: SeekListener) -> None:
    """Call `listener` on the main thread with {input partition: position} after every seek to committed."""
    _seek_listeners.append(listener)


async def _seek_to_committed_always(self: Any, *partitions: TopicPartition) -> dict[TopicPartition, int | None]:
    global _last_positions
    committed = await _original_seek_to_committed(self, *partitions)
    inputs = {tp: offset for tp, offset in committed.items() if not is_changelog(tp.topic)}
    positions = {tp: offset for tp, offset in inputs.items() if offset is not None and offset >= 0}
    never = [tp for tp, offset in inputs.items() if offset is None or offset < 0]
    for tp, offset in inputs.items():
        if offset == 0:
            self._fetcher.seek_to(tp, 0)  # noqa: SLF001
    if never:
        if self._auto_offset_reset == "latest":  # noqa: SLF001
            reset = await self.seek_to_end(*never)
        else:
            reset = await self.seek_to_beginning(*never)
        if reset:  # done: each position is known now and `position` returns at once
            for tp in never:
                try:
                    positions[tp] = await self.position(tp)
                except IllegalStateError:  # unassigned meanwhile (a new rebalance): no baseline for it
                    pass
    _last_positions = positions
    return committed


_original_on_recovery_completed = Recovery.on_recovery_completed
_faust_perform_seek = Consumer.perform_seek
# What our perform_seek calls: Faust's, or the offset trace's wrapper of it (see `wrap_current_perform_seek`).
_original_perform_seek = _faust_perform_seek
# On the consumer: the generation whose input partitions were sought while still paused.
_SOUGHT_IN = "_issue_platform_inputs_sought_in"


async def _seek_inputs_before_resuming(self: Any, generation_id: int = 0) -> None:
    """Seek the input partitions to their committed offsets while they are still paused.

    Faust resumes the input partitions first and seeks them afterwards, and by then it has already
    resumed the flow (the recovery resumes it for the changelogs). In the time the committed offsets take
    to arrive, the consumer fetches and delivers input from the position of the previous generation;
    the seek then moves the read offset back, Faust marks the offsets between it and the next delivered
    record as a gap (done), and drops the records fetched again below its read offset. Seen with a
    trace after kill -9: quota partition 9 sought to 1, records 30-41 delivered first, 2-29 marked as a
    gap and 1-41 dropped when fetched again: never processed, and committed past.

    Seeking here, before the original resumes them, makes every delivery start at the committed offset.
    The original's own seek is then skipped: a second seek, after records were delivered, moved the read
    offset back again and made Faust mark delivered-but-unprocessed records as a gap (seen in the trace
    too: grouping partition 3, 137-142).
    """
    consumer = self.app.consumer
    if self.app.consumer_generation_id == generation_id and consumer.assignment():
        await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)  # noqa: SLF001
        setattr(consumer, _SOUGHT_IN, generation_id)
    try:
        # Its late flow_control.resume() would clear standby records delivered meanwhile (changelog_queue.py).
        with changelog_queue_kept(self.tables, self.app.flow_control):
            await _original_on_recovery_completed(self, generation_id)
    finally:
        setattr(consumer, _SOUGHT_IN, None)


async def _perform_seek_unless_sought(self: Any) -> None:
    if getattr(self, _SOUGHT_IN, None) == self.app.consumer_generation_id:
        return  # this generation's inputs were sought moments ago, while paused
    global _last_positions
    _last_positions = {}  # a seek that records nothing must not hand on an older seek's positions
    await _original_perform_seek(self)
    positions = dict(_last_positions)
    for listener in _seek_listeners:
        listener(positions)


def wrap_current_perform_seek() -> None:
    """Make our perform_seek call whatever `Consumer.perform_seek` is now: the offset trace's wrapper when
    the trace is on. Called by `apply()` just before the patches are installed, never after."""
    global _original_perform_seek
    current = Consumer.perform_seek
    if current is not _perform_seek_unless_sought:  # wrapping ourselves would make us call ourselves
        _original_perform_seek = current


PATCHES = (
    Patch(AIOKafkaConsumer, "seek_to_committed", _seek_to_committed_always, _original_seek_to_committed),
    Patch(Recovery, "on_recovery_completed", _seek_inputs_before_resuming, _original_on_recovery_completed),
    Patch(Consumer, "perform_seek", _perform_seek_unless_sought, _faust_perform_seek),
)
