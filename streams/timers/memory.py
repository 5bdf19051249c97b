"""Timer `memory_trim`: hands the C heap's free pages back to the system every `memory_trim_seconds`.

The worker's large allocations (RocksDB's memtables and block reads, Kafka fetch buffers, Python objects over
512 bytes) come from glibc's main heap, which returns memory to the system only from its top: in a soak the
heap held 592 of the worker's 735 MB of RSS, most of it free pages between live blocks. `malloc_trim(0)` gives
those pages back (streams/gc_tuning.trim_native_heap); it runs on a thread of the default executor, so the
event loop never waits for it.
"""
from __future__ import annotations

import asyncio
import logging

from streams.gc_tuning import trim_native_heap

log = logging.getLogger(__name__)


async def trim_memory() -> None:
    try:
        await asyncio.get_running_loop().run_in_executor(None, trim_native_heap)
    except Exception:  # a missed trim only leaves the pages to the next one
        log.exception("memory_trim: malloc_trim failed")
