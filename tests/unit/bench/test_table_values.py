"""bench/table_values.py measures the values a worker's RocksDB tables hold (issue 11 item 6)."""
from __future__ import annotations

from pathlib import Path

from rocksdict import Options, Rdict

from bench.table_values import main, measure


def _table(root: Path, name: str, sizes: list[int]) -> None:
    db = Rdict(str(root / "v1" / "tables" / name), options=Options(raw_mode=True))
    for index, size in enumerate(sizes):
        db[f"k{index}".encode()] = b"x" * size
    db.close()


def test_every_partition_of_a_table_counts_and_the_budget_is_judged(tmp_path: Path) -> None:
    (tmp_path / "v1" / "tables").mkdir(parents=True)
    _table(tmp_path, "groups-0.db", [100] * 98 + [3000, 5000])
    _table(tmp_path, "groups-1.db", [200] * 100)
    _table(tmp_path, "seen-ids-3600s-0.db", [37] * 10)
    figures = measure(tmp_path)
    assert figures["groups"]["keys"] == 200 and figures["groups"]["max_bytes"] == 5000
    assert figures["groups"]["p50_bytes"] == 200 and figures["groups"]["p99_bytes"] == 3000
    assert figures["groups"]["within_budget"] and figures["seen-ids-3600s"]["p99_bytes"] == 37
    assert main([str(tmp_path)]) == 0
    _table(tmp_path, "groups-2.db", [2 * 1024 * 1024])
    assert main([str(tmp_path)]) == 1  # one value over 1 MiB
