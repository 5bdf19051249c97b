"""The hole guard (spec §2.4.9): the worker stops before it commits past an input record no agent was handed.

Faust's own bookkeeping counts any forward jump in a partition's offsets as done (`Consumer._add_gap`), so a
record it skipped (seen around rebalances: streams/faust_compat/seek.py) would be committed past in
silence. This sensor is handed every record of every acking topic before any agent processes it: the
inbox an agent takes its batches from (streams/faust_compat/batch_delivery.py) calls `on_message_in` once
per record as the agent takes it, as Faust's stream iterator does for a stream. streams.core.contiguity checks each
offset against the position sought after each assignment (seek.add_seek_listener) and the offset before.

On a hole:
- in a topic only we write, without transactions (GapPolicy.STRICT), past the first record after a seek:
  one line, and the worker exits at once. No record past the hole has been acked yet (this one is being
  handed over now), so no commit has passed the hole; the restart re-reads from the committed offset and
  processes the missing records then.
- otherwise (a topic a transactional producer may write, whose markers take offsets; or the first record
  after a seek, whose range retention may have deleted): the partition's records from the hole on are held
  unacked (one reference more each; Faust applies a gap only below the highest acked offset, so no commit
  can pass the hole) while the range is read straight from the broker. Records in it: one line and the
  worker exits, as above. None (markers only, or deleted by retention, which is one ERROR line since
  nothing can process them any more): the held records are released and the partition goes on.

While such a range is read, the records after the hole are already in the agents' queues. An agent must not
apply them before the range is known to hold nothing (`in_order`): a key's watermarks (its grouping offset,
its per-input offsets, spec §2.4.10) would then make the missing record, read again after the restart,
look applied already.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faust.sensors import Sensor
from faust.types import TP, AppT, Message

from streams.agents.failure import restart_worker_now
from streams.agents.kafka_read import read_range
from streams.core.contiguity import ContiguityTracker, GapPolicy, Hole, Unanchored
from streams.topics import dlq_topic, grouping_topic, ingest_topic, quota_topic

log = logging.getLogger(__name__)

RangeReader = Callable[..., Awaitable[tuple[int, list[Any]]]]


def gap_policies(processing_guarantee: str) -> dict[str, GapPolicy]:
    """Every topic an agent reads at-least-once through Faust, with what a gap in it can mean.

    Not guarded, each for its reason:
    - issue-platform-group-changes: the sink checks its offsets itself against those it stored in Postgres
      and reads a hole straight from the broker (storage/sink_plan.contiguous, agents/sink.py); stopping
      here would only undo that repair.
    - issue-platform-options: compacted (spec §2.1), so gaps are normal: compaction drops superseded values.
    - table changelogs: Faust's recovery and standbys read them, never an agent's stream.
    """
    # at_least_once: our producers are idempotent and never transactional (faust_compat/idempotence.py),
    # so every offset of an internal topic is a record. exactly_once: Faust writes them in transactions.
    internal = GapPolicy.MARKERS if processing_guarantee == "exactly_once" else GapPolicy.STRICT
    return {
        ingest_topic.get_topic_name(): GapPolicy.MARKERS,  # detectors' producers may use transactions
        grouping_topic.get_topic_name(): internal,
        quota_topic.get_topic_name(): internal,
        dlq_topic.get_topic_name(): internal,
    }


def isolation_level(processing_guarantee: str) -> str:
    """The worker's own (Faust reads read_committed in transactions): the range read must skip what it skips."""
    return "read_committed" if processing_guarantee == "exactly_once" else "read_uncommitted"


class StopOnHole(Sensor):
    """Checks every delivered offset; on a hole, stops the worker before anything past it is committed."""

    def __init__(self, app: AppT, policies: Mapping[str, GapPolicy], *, isolation_level: str,
                 read: RangeReader = read_range) -> None:
        super().__init__()
        self.tracker = ContiguityTracker(policies)
        self._app = app
        self._isolation_level = isolation_level
        self._read = read
        self._held: dict[TP, list[Message]] = {}  # partitions whose acks wait for a range to be read
        self._unverified: dict[TP, list[Hole]] = {}
        self._verifiers: dict[TP, asyncio.Task[None]] = {}

    # The hot path: every record of every acking topic.
    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        finding = self.tracker.delivered(tp, offset)
        if finding is not None or self._held:
            self._look_closer(tp, message, finding)

    def sought(self, positions: Mapping[Any, int]) -> None:
        """seek.add_seek_listener: the consumer was sought to these positions (after every assignment)."""
        self.tracker.sought(positions)

    def on_partitions_revoked(self, sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        """app.on_partitions_revoked: a partition that comes back starts from its new seek."""
        self.tracker.revoke(revoked)

    def _look_closer(self, tp: TP, message: Message, finding: Hole | Unanchored | None) -> None:
        if isinstance(finding, Unanchored):
            log.warning("%s partition %d: no seek was recorded before offset %d; checking from there on",
                        finding.topic, finding.partition, finding.offset)
        elif isinstance(finding, Hole):
            if finding.policy is GapPolicy.STRICT and not finding.after_seek:
                restart_worker_now(f"{finding.describe()} (the records in between were never handed to an agent)")
                return
            log.debug("%s: reading the offsets in between before anything past them is committed",
                      finding.describe())
            self._unverified.setdefault(tp, []).append(finding)
            self._held.setdefault(tp, [])
            if tp not in self._verifiers:
                verifier = asyncio.ensure_future(self._verify(tp))
                verifier.add_done_callback(_stop_if_failed)
                self._verifiers[tp] = verifier
        held = self._held.get(tp)
        if held is not None:
            message.incref()  # acked by its agent, it still is not committable until released
            held.append(message)

    async def _verify(self, tp: TP) -> None:
        pending = self._unverified[tp]
        while pending:
            holes = list(pending)
            problem = await self._check(holes)
            if problem is not None:
                restart_worker_now(problem)
                return
            del pending[:len(holes)]
        # No await since `pending` was found empty: no hole of this partition can be added unread.
        del self._unverified[tp], self._verifiers[tp]
        consumer = self._app.consumer
        for message in self._held.pop(tp):
            message.ack(consumer)

    async def _check(self, holes: list[Hole]) -> str | None:
        """Why the worker must stop (records in a hole, or the range could not be read), else None."""
        first = holes[0]
        start, end = min(h.expected for h in holes), max(h.got for h in holes)
        try:
            earliest, records = await self._read(first.topic, first.partition, start, end,
                                                 isolation_level=self._isolation_level)
        except Exception as error:  # unverifiable: stopping is the safe outcome
            return f"{first.describe()} (reading the offsets in between failed: {type(error).__name__}: {error})"
        for hole in holes:
            missed = [record.offset for record in records if hole.expected <= record.offset < hole.got]
            if len(missed) == 1:
                return f"{hole.describe()} (offset {missed[0]} holds a record never handed to an agent)"
            if missed:
                return (f"{hole.describe()} (offsets {missed[0]}-{missed[-1]} hold {len(missed)} records never "
                        "handed to an agent)")
            if hole.expected < earliest:
                log.error("%s: offsets %d-%d were deleted by retention before any agent processed them; "
                          "going on without them", hole.describe(), hole.expected, min(earliest, hole.got) - 1)
        return None


_installed: StopOnHole | None = None


def install(guard: StopOnHole) -> None:
    """The worker's guard, for `in_order` (streams.worker.guard)."""
    global _installed
    _installed = guard


async def in_order(tp: TP) -> None:
    """Wait until no hole of `tp` before the record about to be applied is unverified (spec §2.4.9).

    Returns at once on the hot path (no hole anywhere). If the range holds records the worker stops while
    this waits, so the record after the hole is never applied.
    """
    guard = _installed
    if guard is None or not guard._verifiers:  # noqa: SLF001  # our own class
        return
    verifier = guard._verifiers.get(tp)  # noqa: SLF001
    if verifier is not None:
        await asyncio.shield(verifier)


def _stop_if_failed(verifier: asyncio.Future[None]) -> None:
    """A verifier that crashed would leave its partition's records held for good, never committable."""
    if not verifier.cancelled() and verifier.exception() is not None:
        error = verifier.exception()
        restart_worker_now(f"the hole guard's check failed: {type(error).__name__}: {error}")
