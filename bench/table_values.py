"""How big the values of every Faust table are (issue 11 item 6: none over 4 KiB at p99, none over 1 MiB).

Reads the RocksDB databases a worker left in its data dir (read-only, after the worker stopped) and prints,
per table (all its partitions together), the number of keys and the p50, p99 and largest value in bytes,
with `--json` the same as JSON. Use it on the data dir of `make bench --keep` or of a `make chaos` worker:

    .venv/bin/python -m bench.table_values /tmp/bench-e2e-XXXX/data-0
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
from rocksdict import AccessType, Options, Rdict

LIMIT_P99 = 4 * 1024
LIMIT_MAX = 1024 * 1024
_PARTITION = re.compile(r"^(?P<table>.+)-(?P<partition>\d+)\.db$")


def value_sizes(database: Path) -> list[int]:
    """The size of every value of one table partition (Faust's offset key included: it is a value too)."""
    db = Rdict(str(database), options=Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        return [len(value) for _, value in db.items()]
    finally:
        db.close()


def percentile(sizes: list[int], share: float) -> int:
    ordered = sorted(sizes)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0


def measure(data_dir: Path) -> dict[str, dict[str, Any]]:
    by_table: dict[str, list[int]] = defaultdict(list)
    for database in sorted(data_dir.glob("**/tables/*.db")):
        match = _PARTITION.match(database.name)
        if match is not None:
            by_table[match["table"]].extend(value_sizes(database))
    return {table: {"keys": len(sizes), "p50_bytes": percentile(sizes, 0.5), "p99_bytes": percentile(sizes, 0.99),
                    "max_bytes": max(sizes, default=0),
                    "within_budget": percentile(sizes, 0.99) <= LIMIT_P99 and max(sizes, default=0) <= LIMIT_MAX}
            for table, sizes in sorted(by_table.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dirs", nargs="+", type=Path)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args(argv)
    results = {str(path): measure(path) for path in arguments.data_dirs}
    if arguments.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    else:
        for path, tables in results.items():
            print(path)
            for table, figures in tables.items():
                print(f"  {table:32} {figures['keys']:>9,} keys  p50 {figures['p50_bytes']:>7,} B  "
                      f"p99 {figures['p99_bytes']:>7,} B  max {figures['max_bytes']:>9,} B"
                      f"{'' if figures['within_budget'] else '  OVER BUDGET'}")
    return 0 if all(f["within_budget"] for tables in results.values() for f in tables.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
