"""One memory budget for every RocksDB database of a worker, not one per table partition.

Faust opens one RocksDB per table partition and gives each its own block cache and its own memtables
(`RocksDBOptions.as_options`): a worker with 12 partitions of seven tables holds 84 caches and up to 168
memtables, so its memory grows with the partition count and the traffic until each of them is full
(bench/soak.py: RSS from 245 MB to 800 MB in the first nine minutes at 200 occurrences/s, still rising).
This replaces `as_options` on the rocksdict path (the only one installed) with the same options built on
two objects shared by every database of the process: one LRU block cache, and one WriteBufferManager that
flushes the largest memtable once all of them together reach their budget (RocksDB's documented way to cap
memtable memory across databases). Each memtable keeps its own `write_buffer_size` as an upper bound.

Upstream (faust-streaming, 2026): `as_options` still builds a new `Cache` per database; no shared option.
"""
from __future__ import annotations

from typing import Any

import rocksdict
from faust.stores.rocksdb import RocksDBOptions

from streams.faust_compat.patch import Patch

_shared: dict[str, Any] = {}


def configure(*, block_cache_bytes: int, memtable_bytes: int) -> None:
    """The process-wide budget; databases opened afterwards share it. Called once, before any table opens."""
    _shared["cache"] = rocksdict.Cache(block_cache_bytes)
    _shared["memtables"] = rocksdict.WriteBufferManager(memtable_bytes, False)  # flush, never stall writers


def shared_usage() -> dict[str, int]:
    """Bytes in the shared block cache and memtables (empty before `configure`)."""
    if not _shared:
        return {}
    return {"block_cache_bytes": _shared["cache"].get_usage(), "memtable_bytes": _shared["memtables"].get_usage()}


def _as_options(self: Any) -> Any:
    if not self.use_rocksdict or not _shared:
        return _original(self)
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_max_open_files(self.max_open_files)
    options.set_write_buffer_size(self.write_buffer_size)
    options.set_target_file_size_base(self.target_file_size_base)
    options.set_max_write_buffer_number(self.max_write_buffer_number)
    options.set_write_buffer_manager(_shared["memtables"])
    table_options = rocksdict.BlockBasedOptions()
    table_options.set_bloom_filter(self.bloom_filter_size, block_based=True)
    table_options.set_block_cache(_shared["cache"])
    table_options.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
    options.set_block_based_table_factory(table_options)
    return options


_original = RocksDBOptions.as_options

PATCHES: tuple[Patch, ...] = (Patch(RocksDBOptions, "as_options", _as_options, _original),)
