"""The worker's memory settings: fewer collections of the young generation, none of start-up's objects, and
the C heap's free pages handed back (streams/timers/memory.py).

Python collects its youngest generation after every 700 net allocations and, every hundred of those, walks
the whole heap. A worker allocates a few hundred short-lived objects per occurrence (decoded records, pydantic
models, futures) that reference counting frees at once, and keeps a large heap that never changes after
start-up (Faust, aiokafka, pydantic's validators, the group-type registry). Measured in `make bench` on
1b0345e: 6-7.5 s of 32 s of worker CPU went to the collector (about 200 µs per occurrence); with start-up's
objects frozen and the young generation collected after 50,000 net allocations it was 0.1-0.4 s.
Cycles are still collected, only later: at most `young_threshold` objects wait for it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable

# Each older generation is collected after this many collections of the one below it (Python's defaults are
# 10 and 10): with the young generation collected 70 times less often, the full walks are rarer still.
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 100


def tune_garbage_collector(young_threshold: int) -> None:
    """Freeze every object alive now (never walked again) and set the thresholds; 0 keeps Python's defaults."""
    if young_threshold <= 0:
        return
    gc.collect()  # what start-up left as garbage is freed, not frozen for ever
    gc.freeze()
    gc.set_threshold(young_threshold, MIDDLE_THRESHOLD, OLD_THRESHOLD)


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None on a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()


def trim_native_heap() -> bool:
    """Give the C heap's free pages back to the system (glibc `malloc_trim(0)`); False where there is none."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True
