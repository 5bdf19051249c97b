"""The hole guard (spec §2.4.9): one line and a stop on a hole; a gap that may be markers is read first."""
from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from streams.agents import failure, holes
from streams.agents.holes import StopOnHole, gap_policies
from streams.core.contiguity import GapPolicy
from streams.settings import get_settings

GROUPING = "p.issue-platform-grouping"
INGEST = "p.ingest-occurrences"


class AckRecorder:
    """Faust's consumer as a final ack reaches it: the offsets that became committable, in order."""

    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, message: ConsumerMessage) -> bool:
        self.acked.append(message.offset)
        return True


class Broker:
    """A range read: answers (earliest, records) when `answer` is set; records every request."""

    def __init__(self, earliest: int = 0, offsets: tuple[int, ...] = ()) -> None:
        self.earliest = earliest
        self.offsets = offsets
        self.answer = asyncio.Event()
        self.answer.set()
        self.requests: list[tuple[str, int, int, int, str]] = []

    async def read(self, topic: str, partition: int, start: int, end: int, *, isolation_level: str,
                   ) -> tuple[int, list[Any]]:
        self.requests.append((topic, partition, start, end, isolation_level))
        await self.answer.wait()
        return self.earliest, [SimpleNamespace(offset=o) for o in self.offsets if start <= o < end]


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The worker's exits (os._exit, recorded), with its restarts in place off (ISSUE_PLATFORM_SELF_RESTARTS_MAX=0):
    what the guard decides, apart from how the worker starts over (tests/unit/agents/test_self_restart.py)."""
    codes: list[int] = []
    monkeypatch.setattr(failure.os, "_exit", codes.append)
    monkeypatch.setattr(failure, "get_settings", lambda: SimpleNamespace(self_restarts_max=0))
    return codes


def guard(broker: Broker, consumer: AckRecorder) -> StopOnHole:
    return StopOnHole(SimpleNamespace(consumer=consumer), {GROUPING: GapPolicy.STRICT, INGEST: GapPolicy.MARKERS},
                      isolation_level="read_uncommitted", read=broker.read)


def hand_over(sensor: StopOnHole, consumer: AckRecorder, topic: str, offsets: list[int], partition: int = 0,
              ) -> None:
    """What Faust does per record: one reference for the stream, the sensor, the agent's ack after its work."""
    for offset in offsets:
        message = ConsumerMessage(topic, partition, offset, 0.0, 0, None, None, b"", None)
        message.incref()
        sensor.on_message_in(TP(topic, partition), offset, message)
        message.ack(consumer)


def stop_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == failure.log.name]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_skipped_offset_of_an_internal_topic_stops_the_worker_at_once_with_one_line(
    exits: list[int], caplog: pytest.LogCaptureFixture,
) -> None:
    consumer, broker = AckRecorder(), Broker()
    sensor = guard(broker, consumer)
    sensor.sought({TP(GROUPING, 0): 0})
    hand_over(sensor, consumer, GROUPING, [0, 1, 3])
    assert exits == [failure.EXIT_CODE]
    assert stop_lines(caplog) == [
        (f"hole in {GROUPING} partition 0: expected offset 2, got offset 3 (the records in between were never "
        "handed to an agent); stopping the worker before any later offset is committed")]
    assert broker.requests == []  # nothing to verify: we write this topic, without transactions


async def test_a_gap_of_markers_only_holds_the_partitions_acks_until_the_range_is_read(exits: list[int]) -> None:
    consumer, broker = AckRecorder(), Broker(offsets=(0, 2, 3, 4))  # offset 1 holds a transaction marker
    broker.answer.clear()
    sensor = guard(broker, consumer)
    sensor.sought({TP(INGEST, 0): 0})
    hand_over(sensor, consumer, INGEST, [0, 2, 3])
    await settle()
    assert consumer.acked == [0]  # 2 and 3 were processed, but nothing past the gap is committable yet
    assert broker.requests == [(INGEST, 0, 1, 2, "read_uncommitted")]
    broker.answer.set()
    await settle()
    assert consumer.acked == [0, 2, 3]
    hand_over(sensor, consumer, INGEST, [4])
    assert consumer.acked == [0, 2, 3, 4] and exits == []


async def test_a_record_held_before_its_agent_acked_it_becomes_committable_only_after_both(exits: list[int]) -> None:
    consumer, broker = AckRecorder(), Broker()
    sensor = guard(broker, consumer)
    sensor.sought({TP(INGEST, 0): 0})
    message = ConsumerMessage(INGEST, 0, 2, 0.0, 0, None, None, b"", None)
    message.incref()
    sensor.on_message_in(TP(INGEST, 0), 2, message)
    await settle()  # the range was read (no records) before the agent finished with the message
    assert consumer.acked == []
    message.ack(consumer)
    assert consumer.acked == [2]


async def test_records_in_a_gap_of_a_transactional_topic_stop_the_worker(
    exits: list[int], caplog: pytest.LogCaptureFixture,
) -> None:
    consumer, broker = AckRecorder(), Broker(offsets=(5, 6, 7, 8, 9))
    sensor = guard(broker, consumer)
    sensor.sought({TP(INGEST, 3): 5})
    hand_over(sensor, consumer, INGEST, [5, 6, 9], partition=3)
    await settle()
    assert exits == [failure.EXIT_CODE]
    assert stop_lines(caplog) == [
        (f"hole in {INGEST} partition 3: expected offset 7, got offset 9 (offsets 7-8 hold 2 records never "
         "handed to an agent); stopping the worker before any later offset is committed")]
    assert consumer.acked == [5, 6]  # 9 never became committable


async def test_a_first_record_past_the_position_sought_is_read_before_stopping_even_on_an_internal_topic(
    exits: list[int], caplog: pytest.LogCaptureFixture,
) -> None:
    consumer, broker = AckRecorder(), Broker(offsets=(5, 6, 7, 8))
    sensor = guard(broker, consumer)
    sensor.sought({TP(GROUPING, 1): 5})
    hand_over(sensor, consumer, GROUPING, [8], partition=1)
    assert exits == []  # retention could have deleted 5-7: read first
    await settle()
    assert exits == [failure.EXIT_CODE]
    assert "expected offset 5, got offset 8 (offsets 5-7 hold 3 records never handed to an agent)" in (
        stop_lines(caplog)[0])


async def test_one_missed_record_is_named_by_its_offset(exits: list[int], caplog: pytest.LogCaptureFixture) -> None:
    consumer, broker = AckRecorder(), Broker(offsets=(0, 1, 2, 3))
    sensor = guard(broker, consumer)
    sensor.sought({TP(INGEST, 0): 0})
    hand_over(sensor, consumer, INGEST, [0, 1, 3])
    await settle()
    assert stop_lines(caplog) == [
        (f"hole in {INGEST} partition 0: expected offset 2, got offset 3 (offset 2 holds a record never handed "
         "to an agent); stopping the worker before any later offset is committed")]


async def test_offsets_deleted_by_retention_are_one_error_line_and_the_partition_goes_on(
    exits: list[int], caplog: pytest.LogCaptureFixture,
) -> None:
    consumer, broker = AckRecorder(), Broker(earliest=8, offsets=(8, 9))
    sensor = guard(broker, consumer)
    sensor.sought({TP(GROUPING, 1): 5})  # the committed offset, below the oldest record the broker keeps
    hand_over(sensor, consumer, GROUPING, [8, 9], partition=1)
    await settle()
    assert exits == [] and consumer.acked == [8, 9]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [(f"hole in {GROUPING} partition 1: expected offset 5, got offset 8: offsets 5-7 were deleted "
                      "by retention before any agent processed them; going on without them")]


async def test_gaps_found_while_a_range_is_read_are_read_together_next(exits: list[int]) -> None:
    consumer, broker = AckRecorder(), Broker(offsets=(0, 2, 4, 6, 7))
    broker.answer.clear()
    sensor = guard(broker, consumer)
    sensor.sought({TP(INGEST, 0): 0})
    hand_over(sensor, consumer, INGEST, [0, 2])
    await settle()
    hand_over(sensor, consumer, INGEST, [4, 6, 7])  # two more marker gaps while the first is being read
    broker.answer.set()
    await settle()
    assert [request[2:4] for request in broker.requests] == [(1, 2), (3, 6)]
    assert consumer.acked == [0, 2, 4, 6, 7] and exits == []


async def test_an_unreadable_range_stops_the_worker(exits: list[int], caplog: pytest.LogCaptureFixture) -> None:
    consumer = AckRecorder()

    async def unreachable(*args: Any, **kwargs: Any) -> tuple[int, list[Any]]:
        raise TimeoutError("no broker")

    sensor = StopOnHole(SimpleNamespace(consumer=consumer), {INGEST: GapPolicy.MARKERS},
                        isolation_level="read_committed", read=unreachable)
    sensor.sought({TP(INGEST, 0): 0})
    hand_over(sensor, consumer, INGEST, [1])
    await settle()
    assert exits == [failure.EXIT_CODE]
    assert "(reading the offsets in between failed: TimeoutError: no broker)" in stop_lines(caplog)[0]
    assert consumer.acked == []


async def test_a_revoked_partition_assigned_again_is_checked_from_its_new_seek(exits: list[int]) -> None:
    consumer, broker = AckRecorder(), Broker()
    sensor = guard(broker, consumer)
    sensor.sought({TP(GROUPING, 0): 0})
    hand_over(sensor, consumer, GROUPING, [0, 1])
    sensor.on_partitions_revoked(None, {TP(GROUPING, 0)})
    sensor.sought({TP(GROUPING, 0): 30})  # another worker committed up to 30 meanwhile
    hand_over(sensor, consumer, GROUPING, [30, 31])
    assert exits == [] and broker.requests == []


async def test_redeliveries_after_a_seek_back_are_no_hole(exits: list[int]) -> None:
    consumer, broker = AckRecorder(), Broker()
    sensor = guard(broker, consumer)
    sensor.sought({TP(GROUPING, 0): 0})
    hand_over(sensor, consumer, GROUPING, [0, 1, 2, 3, 1, 2, 3, 4])
    assert exits == []


async def test_unguarded_topics_pass_whatever_their_offsets(exits: list[int]) -> None:
    consumer, broker = AckRecorder(), Broker()
    sensor = guard(broker, consumer)
    hand_over(sensor, consumer, "p.issue-platform-group-changes", [0, 5, 2])
    assert exits == [] and consumer.acked == [0, 5, 2]


def test_every_input_an_agent_reads_through_faust_is_guarded_but_the_sinks_and_the_compacted_options() -> None:
    prefix = get_settings().topic_prefix
    assert gap_policies("at_least_once") == {
        f"{prefix}ingest-occurrences": GapPolicy.MARKERS,
        f"{prefix}issue-platform-grouping": GapPolicy.STRICT,
        f"{prefix}issue-platform-quota": GapPolicy.STRICT,
        f"{prefix}ingest-occurrences-dlq": GapPolicy.STRICT,
    }
    assert set(gap_policies("exactly_once").values()) == {GapPolicy.MARKERS}
    assert holes.isolation_level("exactly_once") == "read_committed"
    assert holes.isolation_level("at_least_once") == "read_uncommitted"


def test_the_worker_guard_registers_the_hole_guard_with_the_seeks_and_the_revocations() -> None:
    # In a fresh interpreter, as the entry point does for `worker`: nothing is registered by an import, and
    # build() alone (every other CLI command) installs no guard.
    script = (
        "from streams import worker\n"
        "from streams.agents.failure import StopOnFailedProduce\n"
        "from streams.agents.holes import StopOnHole\n"
        "from streams.faust_compat import seek\n"
        "assert not seek._seek_listeners\n"
        "app = worker.build()\n"
        "assert not [s for s in app.sensors if isinstance(s, (StopOnHole, StopOnFailedProduce))]\n"
        "worker.guard(app)\n"
        "assert [s for s in app.sensors if isinstance(s, StopOnFailedProduce)]\n"
        "[guard] = [s for s in app.sensors if isinstance(s, StopOnHole)]\n"
        "assert seek._seek_listeners == [guard.sought]\n"
        "assert guard.on_partitions_revoked in set().union(*app.on_partitions_revoked._filter_receivers.values())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_verifier_that_crashes_stops_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    stops: list[str] = []
    monkeypatch.setattr(holes, "restart_worker_now", stops.append)

    async def run() -> None:
        async def crash() -> None:
            raise RuntimeError("ack failed")

        verifier = asyncio.ensure_future(crash())
        verifier.add_done_callback(holes._stop_if_failed)
        await asyncio.sleep(0.01)

    asyncio.run(run())
    assert stops == ["the hole guard's check failed: RuntimeError: ack failed"]


async def test_an_agent_applies_nothing_past_a_hole_until_its_range_is_read(
    exits: list[int], monkeypatch: pytest.MonkeyPatch,
) -> None:  # spec §2.4.9, §2.4.10: a record past the hole, applied first, would make the missing one look applied
    consumer, broker = AckRecorder(), Broker(offsets=(0, 2))  # offset 1 holds a transaction marker
    broker.answer.clear()
    sensor = guard(broker, consumer)
    monkeypatch.setattr(holes, "_installed", sensor)
    sensor.sought({TP(INGEST, 0): 0, TP(INGEST, 1): 0})
    hand_over(sensor, consumer, INGEST, [0, 2])
    waiting = asyncio.ensure_future(holes.in_order(TP(INGEST, 0)))
    await settle()
    assert not waiting.done()
    await asyncio.wait_for(holes.in_order(TP(INGEST, 1)), 1)  # another partition is not held up
    broker.answer.set()
    await asyncio.wait_for(waiting, 1)
    assert exits == []


async def test_an_agent_waiting_on_a_hole_that_holds_records_never_goes_on(
    exits: list[int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, broker = AckRecorder(), Broker(offsets=(0, 1, 2))  # offset 1 is a record the agent never got
    sensor = guard(broker, consumer)
    monkeypatch.setattr(holes, "_installed", sensor)
    sensor.sought({TP(INGEST, 0): 0})
    hand_over(sensor, consumer, INGEST, [0, 2])
    waiting = asyncio.ensure_future(holes.in_order(TP(INGEST, 0)))
    await settle()
    assert exits == [failure.EXIT_CODE]  # the worker stops (os._exit, recorded here) while the agent waits
    waiting.cancel()
