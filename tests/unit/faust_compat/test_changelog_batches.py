"""Table changelog writes queued and sent as record batches (streams/faust_compat/changelog_batches.py)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from streams.faust_compat import changelog_batches
from streams.faust_compat.record_batches import BatchFailed, send_record_batches


class FakeBuilder:
    def __init__(self, room: int) -> None:
        self.records: list[tuple[Any, ...]] = []
        self.room = room

    def append(self, *, key: Any, value: Any, timestamp: Any, headers: Any) -> object | None:
        if self.records and len(self.records) >= self.room:
            return None
        self.records.append((key, value))
        return object()


class FakeProducer:
    """Numbers the records of each partition like a broker; `fail` names a partition whose batches fail."""

    def __init__(self, room: int = 1000, fail: tuple[str, int] | None = None) -> None:
        self.room = room
        self.fail = fail
        self.log: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
        self.batches = 0

    def create_batch(self) -> FakeBuilder:
        return FakeBuilder(self.room)

    async def send_batch(self, builder: FakeBuilder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        self.batches += 1
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail == (topic, partition):
            done.set_exception(KafkaTimeoutError("broker away"))
            return done
        log = self.log.setdefault((topic, partition), [])
        done.set_result(SimpleNamespace(offset=len(log)))
        log.extend(builder.records)
        return done


class FakeStore:
    def __init__(self) -> None:
        self.persisted: list[tuple[Any, int]] = []

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted.append((tuple(tp), offset))


class FakeTopic:
    def get_topic_name(self) -> str:
        return "groups-changelog"

    def prepare_key(self, key: Any, serializer: Any) -> tuple[bytes, None]:
        return f"{serializer}:{key}".encode(), None

    def prepare_value(self, value: Any, serializer: Any) -> tuple[bytes | None, None]:
        return (None if value is None else f"{serializer}:{value}".encode()), None


def fake_table(producer: FakeProducer) -> Any:
    async def maybe_start() -> None:
        return None

    app = SimpleNamespace(in_transaction=False, producer=SimpleNamespace(
        maybe_start=maybe_start, _ensure_producer=lambda: producer))
    return SimpleNamespace(app=app, changelog_topic=FakeTopic(), key_serializer="json", value_serializer="json",
                           data=FakeStore())


async def test_records_keep_their_order_per_partition_and_each_partition_persists_its_last_offset() -> None:
    producer = FakeProducer(room=2)  # two records per batch: several batches per partition
    table = fake_table(producer)
    for n in range(5):
        queued = changelog_batches._send_changelog_queued(table, n % 2, f"k{n}", n)
        assert queued.message.partition == n % 2
    changelog_batches._send_changelog_queued(table, 0, "k0", None, value_serializer="raw")  # a delete
    assert changelog_batches.pending() == 6
    await changelog_batches.drain(table.app)
    assert changelog_batches.pending() == 0
    assert producer.log[("groups-changelog", 0)] == [
        (b"json:k0", b"json:0"), (b"json:k2", b"json:2"), (b"json:k4", b"json:4"), (b"json:k0", None)]
    assert producer.log[("groups-changelog", 1)] == [(b"json:k1", b"json:1"), (b"json:k3", b"json:3")]
    assert sorted(table.data.persisted) == [(("groups-changelog", 0), 3), (("groups-changelog", 1), 1)]


async def test_in_a_transaction_the_record_goes_faust_s_own_way(monkeypatch: pytest.MonkeyPatch) -> None:
    table = fake_table(FakeProducer())
    table.app.in_transaction = True
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(changelog_batches, "_original_send_changelog", lambda *args: sent.append(args) or "faust")
    assert changelog_batches._send_changelog_queued(table, 3, "k", 1) == "faust"
    assert len(sent) == 1
    assert changelog_batches.pending() == 0


async def test_a_refused_batch_stops_the_worker_before_any_persisted_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = FakeProducer(fail=("groups-changelog", 1))
    table = fake_table(producer)
    stops: list[str] = []
    monkeypatch.setattr(changelog_batches, "on_failure", stops.append)
    changelog_batches._send_changelog_queued(table, 0, "a", 1)
    changelog_batches._send_changelog_queued(table, 1, "b", 2)
    with pytest.raises(BatchFailed):
        await changelog_batches.drain(table.app)
    assert len(stops) == 1 and "groups-changelog (partition 1) failed: KafkaTimeoutError" in stops[0]
    assert table.data.persisted == []


async def test_a_record_bigger_than_a_batch_goes_alone() -> None:
    producer = FakeProducer(room=1)
    last = await send_record_batches(producer, [("t", 0, b"k", b"x" * 10, None, ()), ("t", 0, b"k", b"y", None, ())])
    assert last == {("t", 0): 1}
    assert producer.batches == 2
