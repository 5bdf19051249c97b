"""The sink agent's answer to a hole in a partition's offsets (storage.sink_plan.contiguous)."""
from __future__ import annotations

from typing import Any

import pytest
from faust.types import TP

from storage.changes import IngestDrop, encode_change
from storage.sink_plan import BatchResult, ChangeRecord
from streams.agents import sink
from streams.topics import group_changes_topic

TOPIC = group_changes_topic.get_topic_name()


class FakeConsumer:
    def __init__(self, assigned: set[int]) -> None:
        self.assigned = {TP(TOPIC, partition) for partition in assigned}

    def assignment(self) -> set[TP]:
        return self.assigned


def drop(n: int) -> IngestDrop:
    return IngestDrop(outcome="ingest_disabled", t=1.0, group_key="1:" + "a" * 32, project_id=1, type_id=2001,
                      id=f"{n:032x}")


class Record:
    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.value = encode_change(drop(offset))


class FakeBroker:
    """Holds offsets `earliest`… of every partition; records each direct read."""

    def __init__(self, earliest: int = 0) -> None:
        self.earliest = earliest
        self.reads: list[tuple[int, int, int]] = []

    async def read(self, topic: str, partition: int, start: int, end: int) -> tuple[int, list[Record]]:
        assert topic == TOPIC
        self.reads.append((partition, start, end))
        return self.earliest, [Record(offset) for offset in range(max(start, self.earliest), end)]


def with_hole(partition: int, missing_from: int, next_offset: int) -> BatchResult:
    return BatchResult(holes={partition: missing_from},
                       deferred=[ChangeRecord(partition, next_offset + 1, drop(next_offset + 1)),
                                 ChangeRecord(partition, next_offset, drop(next_offset))])


@pytest.fixture
def advanced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []

    async def record(partition: int, offset: int) -> None:
        calls.append((partition, offset))
    monkeypatch.setattr(sink, "_advance", record)
    return calls


async def test_the_missing_changes_are_read_directly_and_come_before_the_deferred_ones(advanced: list[Any]) -> None:
    broker = FakeBroker()
    refill = await sink._fill_holes(with_hole(9, 3, 6), FakeConsumer(assigned={9}), broker.read)
    assert broker.reads == [(9, 3, 6)]
    assert [(c.partition, c.offset) for c in refill] == [(9, 3), (9, 4), (9, 5), (9, 6), (9, 7)]
    assert refill[0].change == drop(3)
    assert advanced == []


async def test_a_partition_owned_elsewhere_now_is_left_to_its_new_owner(advanced: list[Any]) -> None:
    broker = FakeBroker()
    assert await sink._fill_holes(with_hole(9, 3, 6), FakeConsumer(assigned={1}), broker.read) == []
    assert broker.reads == [] and advanced == []


async def test_offsets_deleted_by_retention_are_declared_done_and_the_rest_is_read(advanced: list[Any]) -> None:
    broker = FakeBroker(earliest=50)
    refill = await sink._fill_holes(with_hole(9, 3, 52), FakeConsumer(assigned={9}), broker.read)
    assert advanced == [(9, 49)]
    assert [c.offset for c in refill] == [50, 51, 52, 53]
