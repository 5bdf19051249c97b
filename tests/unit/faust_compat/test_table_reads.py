"""One-lookup table reads (streams/faust_compat/table_reads.py) read what Faust's own reads do, on a real
RocksDB table: held writes, acknowledged writes, absent keys, windowed tables."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import faust
import pytest

from streams.faust_compat import changelog_batches, store_after_changelog
from streams.faust_compat.table_reads import table_get, windowed_get
from tests.unit.faust_compat.test_changelog_batches import FakeProducer
from tests.unit.faust_compat.test_store_after_changelog import SOURCE, acking_app, in_partition


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[faust.App]:
    for patch in (*changelog_batches.PATCHES, *store_after_changelog.PATCHES):
        monkeypatch.setattr(patch.owner, patch.name, patch.replacement)
    yield faust.App("reads-test", broker="kafka://127.0.0.1:1", store="rocksdb://", tabledir=str(tmp_path))


def table_of(app: faust.App, name: str, **options: Any) -> Any:
    table = app.Table(name, partitions=4, value_type=None, **options)
    table._verified_source_topics_for_partitions.add(SOURCE)
    return table


async def test_table_get_reads_held_and_acknowledged_writes_like_faust(app: faust.App) -> None:
    table = table_of(app, "groups")
    event = in_partition(1)
    table["held"] = {"times_seen": 1}
    assert table_get(table, "held") == table["held"] == {"times_seen": 1}  # held, not yet in RocksDB
    await changelog_batches.drain(acking_app(FakeProducer()))
    table["held"] = {"times_seen": 2}
    table["other"] = [1, "two"]
    await changelog_batches.drain(acking_app(FakeProducer()))
    assert store_after_changelog.held_writes(table.data) == {}
    assert table_get(table, "held") == table["held"] == {"times_seen": 2}  # from RocksDB now
    assert table_get(table, "other") == [1, "two"]
    assert table_get(table, "absent") is None and "absent" not in table
    del table["other"]
    assert table_get(table, "other") is None
    assert event.message.partition == 1


async def test_windowed_get_reads_the_window_current_at_t_like_windowset_value(app: faust.App) -> None:
    windowed = table_of(app, "seen", default=dict).tumbling(timedelta(seconds=60), expires=timedelta(seconds=60))
    event = in_partition(3)
    t = 1_795_000_070.0  # in the tumbling window [1_795_000_020, 1_795_000_080)
    windowed.relative_to(t)["k/id"] = {"t": t, "offset": 7}
    assert windowed_get(windowed, "k/id", t) == windowed.relative_to(t)["k/id"].value() == {"t": t, "offset": 7}
    assert windowed_get(windowed, "k/id", t + 9) == {"t": t, "offset": 7}  # the same window
    assert windowed_get(windowed, "k/id", t + 11) is None  # the next window: Faust reads its default, {}
    assert windowed.relative_to(t + 11)["k/id"].value() == {}
    assert windowed_get(windowed, "other", t) is None
    assert event.message.partition == 3


async def test_table_get_agrees_with_faust_on_every_key_of_a_partition(app: faust.App) -> None:
    table = table_of(app, "many")
    event = in_partition(0)
    for index in range(200):
        table[f"k{index}"] = {"times_seen": index} if index % 3 else [index]
    await changelog_batches.drain(acking_app(FakeProducer()))
    table["k0"] = {"times_seen": -1}  # one held write over an acknowledged one
    keys = [f"k{index}" for index in range(200)] + [f"absent{index}" for index in range(50)]
    assert [table_get(table, key) for key in keys] == [table.get(key) for key in keys]
    assert event.message.partition == 0
