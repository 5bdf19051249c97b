"""A real Faust table on RocksDB: a write reaches RocksDB only with its acknowledged changelog record and offset
(streams/faust_compat/store_after_changelog.py)."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest

from streams.faust_compat import changelog_batches, store_after_changelog
from streams.faust_compat.internals import make_current
from tests.unit.faust_compat.test_changelog_batches import FakeProducer

SOURCE = "issue-platform-grouping"


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> None:
    for patch in (*changelog_batches.PATCHES, *store_after_changelog.PATCHES):
        monkeypatch.setattr(patch.owner, patch.name, patch.replacement)


@pytest.fixture
def app(tmp_path: Path, patched: None) -> Iterator[faust.App]:
    application = faust.App("store-test", broker="kafka://127.0.0.1:1", store="rocksdb://", tabledir=str(tmp_path))
    yield application


def table_of(app: faust.App, name: str) -> Any:
    table = app.Table(name, partitions=4, value_type=None)
    table._verified_source_topics_for_partitions.add(SOURCE)
    return table


class _Event:
    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition, topic=SOURCE)


def in_partition(partition: int) -> Any:
    event = _Event(partition)
    make_current(event)
    return event  # the caller keeps it alive: the current event is held by a weak reference


def rocksdb(table: Any, partition: int) -> Any:
    return table.data._db_for_partition(partition)


def acking_app(producer: FakeProducer) -> Any:
    async def maybe_start() -> None:
        return None

    return SimpleNamespace(producer=SimpleNamespace(maybe_start=maybe_start, _ensure_producer=lambda: producer))


async def test_a_write_is_read_at_once_but_reaches_rocksdb_only_with_its_acknowledged_offset(app: faust.App) -> None:
    table = table_of(app, "groups")
    event = in_partition(2)
    table["k1"] = {"times_seen": 1}
    table["k1"] = {"times_seen": 2}
    table["k2"] = {"times_seen": 7}
    raw_key = table.data._encode_key("k1")
    assert table["k1"] == {"times_seen": 2} and "k2" in table and "nope" not in table
    assert rocksdb(table, 2).get(raw_key) is None  # nothing on disk before the broker has it
    assert table.data.persisted_offset(SimpleNamespace(partition=2)) is None
    assert sorted(table.keys()) == ["k1", "k2"] and len(table) == 2

    producer = FakeProducer()
    await changelog_batches.drain(acking_app(producer))

    assert table.data._decode_value(rocksdb(table, 2).get(raw_key)) == {"times_seen": 2}
    assert table.data.persisted_offset(SimpleNamespace(partition=2)) == 2  # three records: offsets 0, 1, 2
    # The held bytes were the changelog's bytes, which recovery would write: nothing is held any more.
    assert store_after_changelog.held_writes(table.data) == {}
    assert [key for key, _ in producer.log[("store-test-groups-changelog", 2)]] == [raw_key, raw_key,
                                                                                   table.data._encode_key("k2")]
    assert table["k1"] == {"times_seen": 2}
    del event


async def test_a_delete_is_held_too_and_a_write_after_the_drain_began_keeps_its_hold(app: faust.App) -> None:
    table = table_of(app, "groups")
    event = in_partition(0)
    table["gone"] = {"v": 1}
    table["kept"] = {"v": 1}
    await changelog_batches.drain(acking_app(FakeProducer()))
    assert rocksdb(table, 0).get(table.data._encode_key("gone")) is not None

    del table["gone"]
    assert "gone" not in table
    assert rocksdb(table, 0).get(table.data._encode_key("gone")) is not None  # the delete waits for its record

    gate = asyncio.Event()
    producer = FakeProducer()
    original_send = producer.send_batch

    async def slow_send(builder: Any, topic: str, *, partition: int) -> Any:
        await gate.wait()
        return await original_send(builder, topic, partition=partition)

    producer.send_batch = slow_send  # type: ignore[method-assign]
    draining = asyncio.ensure_future(changelog_batches.drain(acking_app(producer)))
    await asyncio.sleep(0)
    table["kept"] = {"v": 2}  # written while the delete's batch is on its way
    assert table["kept"] == {"v": 2} and "gone" not in table
    assert table.data._decode_value(rocksdb(table, 0).get(table.data._encode_key("kept"))) == {"v": 1}
    gate.set()
    await draining  # the drain goes on with what was queued meanwhile

    assert rocksdb(table, 0).get(table.data._encode_key("gone")) is None
    assert table.data._decode_value(rocksdb(table, 0).get(table.data._encode_key("kept"))) == {"v": 2}
    assert store_after_changelog.held_writes(table.data) == {}
    del event


async def test_an_older_acknowledged_value_leaves_a_newer_hold_in_place(app: faust.App) -> None:
    table = table_of(app, "groups")
    event = in_partition(1)
    table["k"] = {"v": 2}
    raw_key = table.data._encode_key("k")
    older = table.data._encode_value({"v": 1})
    store_after_changelog.write_acknowledged(table.data, SimpleNamespace(partition=1), [(raw_key, older)], 9)
    assert table.data._decode_value(rocksdb(table, 1).get(raw_key)) == {"v": 1}
    assert table["k"] == {"v": 2}  # the newer write still answers, and is still held for its own record
    assert list(store_after_changelog.held_writes(table.data)) == [raw_key]
    assert table.data.persisted_offset(SimpleNamespace(partition=1)) == 9
    del event


async def test_window_keys_hold_and_drain_with_the_same_bytes(app: faust.App) -> None:
    windowed = app.Table("seen", partitions=4, default=dict, value_type=None).tumbling(60, expires=60)
    windowed.table._verified_source_topics_for_partitions.add(SOURCE)
    event = in_partition(1)
    windowed.table[("3:abc/id-1", (0.0, 59.9))] = {"offset": 5}
    await changelog_batches.drain(acking_app(FakeProducer()))
    assert store_after_changelog.held_writes(windowed.table.data) == {}
    assert windowed.table[("3:abc/id-1", (0.0, 59.9))] == {"offset": 5}
    del event


async def test_a_refused_batch_leaves_rocksdb_as_it_was(app: faust.App, monkeypatch: pytest.MonkeyPatch) -> None:
    table = table_of(app, "groups")
    event = in_partition(3)
    table["k"] = {"v": 1}
    monkeypatch.setattr(changelog_batches, "on_failure", lambda line: None)
    with pytest.raises(changelog_batches.BatchFailed):
        await changelog_batches.drain(acking_app(FakeProducer(fail=("store-test-groups-changelog", 3))))
    assert rocksdb(table, 3).get(table.data._encode_key("k")) is None
    assert table.data.persisted_offset(SimpleNamespace(partition=3)) is None
    del event
