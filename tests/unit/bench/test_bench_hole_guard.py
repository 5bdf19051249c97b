"""The hole guard's micro-benchmark (bench/hole_guard.py) runs, and its in-order records find no hole."""
from __future__ import annotations

from bench.hole_guard import GUARDED, PARTITIONS, _deliveries, _fresh_guard


def test_the_benchmark_hands_every_partition_its_offsets_in_order_so_the_guard_finds_nothing() -> None:
    deliveries = _deliveries(GUARDED, 10 * PARTITIONS * len(GUARDED))
    guard = _fresh_guard(GUARDED)
    assert [guard.tracker.delivered(tp, offset) for tp, offset in deliveries] == [None] * len(deliveries)
    assert {offset for _, offset in deliveries} == set(range(10))
