"""Every RocksDB of a worker shares one memtable budget and one block cache (streams/faust_compat/rocksdb_memory.py),
on real databases opened by Faust's store."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faust
import pytest

from streams.faust_compat import rocksdb_memory

MIB = 1024 * 1024


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[faust.App]:
    for patch in rocksdb_memory.PATCHES:
        monkeypatch.setattr(patch.owner, patch.name, patch.replacement)
    monkeypatch.setattr(rocksdb_memory, "_shared", {})
    rocksdb_memory.configure(block_cache_bytes=4 * MIB, memtable_bytes=8 * MIB)
    yield faust.App("memory-test", broker="kafka://127.0.0.1:1", store="rocksdb://", tabledir=str(tmp_path))


def partition_dbs(app: faust.App, name: str, partitions: int) -> list[Any]:
    # 64 MB per memtable: no database flushes on its own below; only the shared budget can make them.
    table = app.Table(name, partitions=partitions, value_type=None,
                      options={"write_buffer_size": 64 * MIB, "max_write_buffer_number": 2})
    return [table.data._db_for_partition(partition) for partition in range(partitions)]


def test_the_memtables_of_all_databases_stay_within_one_budget(app: faust.App, tmp_path: Path) -> None:
    dbs = partition_dbs(app, "groups", 4) + partition_dbs(app, "seen", 4)
    value = b"x" * 4096
    for index in range(12_000):  # 48 MB in all, 6 MB per database: all of it in memtables without a budget
        dbs[index % len(dbs)][f"key-{index}".encode()] = value
    # Flushes run in the background; the budget counts allocated arena blocks (1 MB per memtable), so it holds
    # with that slack once the flushes it triggered are done.
    deadline = time.monotonic() + 30
    while (usage := rocksdb_memory.shared_usage())["memtable_bytes"] > 24 * MIB and time.monotonic() < deadline:
        time.sleep(0.1)
    assert 0 < usage["memtable_bytes"] <= 24 * MIB  # half of what was written, which would all be held otherwise
    assert list(tmp_path.glob("**/*.sst"))  # memtables were flushed to table files
    # Every key is still there: flushed to table files, read back through the shared cache.
    assert all(dbs[index % len(dbs)][f"key-{index}".encode()] == value for index in range(0, 12_000, 7))
    assert usage["block_cache_bytes"] <= 4 * MIB


def test_without_configure_faust_builds_its_own_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for patch in rocksdb_memory.PATCHES:
        monkeypatch.setattr(patch.owner, patch.name, patch.replacement)
    monkeypatch.setattr(rocksdb_memory, "_shared", {})
    app = faust.App("memory-test-2", broker="kafka://127.0.0.1:1", store="rocksdb://", tabledir=str(tmp_path))
    (db,) = partition_dbs(app, "plain", 1)
    db[b"k"] = b"v"
    assert db[b"k"] == b"v" and rocksdb_memory.shared_usage() == {}
