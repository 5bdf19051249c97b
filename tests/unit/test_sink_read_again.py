"""The sink agent's answer to a hole in a partition's offsets (storage.sink_writer._contiguous)."""
from __future__ import annotations

from typing import Any

import pytest
from faust.types import TP

from storage.sink_writer import BatchResult, ChangeRecord
from streams.agents import sink
from streams.topics import group_changes_topic

TOPIC = group_changes_topic.get_topic_name()


class FakeConsumer:
    def __init__(self, assigned: set[int], earliest: int = 0) -> None:
        self.assigned = {TP(TOPIC, partition) for partition in assigned}
        self.earliest = earliest
        self.seeks: list[tuple[TP, int]] = []

    def assignment(self) -> set[TP]:
        return self.assigned

    async def earliest_offsets(self, *partitions: TP) -> dict[TP, int]:
        return {tp: self.earliest for tp in partitions}

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


def with_hole(partition: int, missing_from: int, next_offset: int) -> BatchResult:
    return BatchResult(holes={partition: missing_from},
                       deferred=[ChangeRecord(partition, next_offset, {}), ChangeRecord(partition, next_offset + 1, {})])


@pytest.fixture
def advanced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []

    async def record(partition: int, offset: int) -> None:
        calls.append((partition, offset))
    monkeypatch.setattr(sink, "_advance", record)
    return calls


async def test_an_owned_partition_is_sought_back_to_its_first_missing_offset(advanced: list[Any]) -> None:
    consumer = FakeConsumer(assigned={9})
    await sink._read_again(with_hole(9, 3, 4), consumer)
    assert consumer.seeks == [(TP(TOPIC, 9), 3)]
    assert advanced == []


async def test_a_partition_owned_elsewhere_now_is_left_to_its_new_owner(advanced: list[Any]) -> None:
    consumer = FakeConsumer(assigned={1})
    await sink._read_again(with_hole(9, 3, 4), consumer)
    assert consumer.seeks == [] and advanced == []


async def test_offsets_deleted_by_retention_are_declared_done_not_sought(advanced: list[Any]) -> None:
    consumer = FakeConsumer(assigned={9}, earliest=50)
    await sink._read_again(with_hole(9, 3, 60), consumer)
    assert consumer.seeks == []
    assert advanced == [(9, 49)]
