"""The worker's memory settings (streams/gc_tuning.py): the garbage collector's, and the C heap's trim."""
from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Iterator

import pytest

from streams.gc_tuning import MIDDLE_THRESHOLD, OLD_THRESHOLD, trim_native_heap, tune_garbage_collector
from streams.settings import Settings


@pytest.fixture(autouse=True)
def restore_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_young_generation_waits_for_the_threshold_and_start_up_objects_are_frozen() -> None:
    alive_at_start_up: list[int] = []  # a container: tracked by the collector
    tune_garbage_collector(50_000)
    assert gc.get_threshold() == (50_000, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    assert gc.get_freeze_count() > 0
    # Frozen: in the permanent generation, which no collection walks, not in any of the three.
    assert not any(obj is alive_at_start_up for generation in range(3) for obj in gc.get_objects(generation))


def test_cycles_made_after_start_up_are_still_collected() -> None:
    tune_garbage_collector(50_000)

    class Node:
        other: object

    collected: list[bool] = []
    first, second = Node(), Node()
    first.other, second.other = second, first
    weakref.finalize(first, collected.append, True)
    del first, second
    gc.collect()
    assert collected == [True]


def test_zero_keeps_pythons_defaults() -> None:
    before = gc.get_threshold()
    tune_garbage_collector(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_default_setting_tunes_the_collector() -> None:
    assert Settings().gc_young_threshold == 50_000


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_free_pages_between_live_blocks_go_back_to_the_system() -> None:
    # 1 KiB objects come from malloc, not Python's small-object allocator: 150 MB of them, one in 64 kept alive
    # among the freed ones. glibc trims its heap only from the top, so those pages stay resident until trimmed.
    chunks = [bytes(1024) + bytes([i % 256]) for i in range(150_000)]
    kept = chunks[::64]
    del chunks
    before = _rss_mb()
    assert trim_native_heap() is True
    assert before - _rss_mb() > 100, (before, _rss_mb())
    assert len(kept) == 2344
