"""Expire windows restored from a changelog: Faust only expires windows it wrote since the worker started.

Faust tracks window keys for expiry in memory when they are set (`_maybe_set_key_ttl`); a restarted or
rebalanced worker restores windows from the changelog without tracking them, so they would stay on disk
forever (design §4 "Bounded state"). After every recovery we register each restored window with the
table's own expiry index, so the regular cleanup (every `table_cleanup_interval`) removes it in time.
"""
from __future__ import annotations

import logging
from typing import Any

from streams.faust_compat.internals import raw_table_keys

log = logging.getLogger(__name__)


def track_restored_windows(table: Any) -> int:
    """Register every window key held for this table's partitions with its expiry index."""
    tracked = 0
    for partition, key in raw_table_keys(table):
        if not isinstance(key, (list, tuple)) or len(key) != 2:
            continue
        window_key = (key[0], tuple(key[1]))
        table._maybe_set_key_ttl(window_key, partition)  # noqa: SLF001
        tracked += 1
    return tracked


def expire_restored_windows(window_wrapper: Any) -> None:
    """Install the recovery hook on a windowed table (the `WindowWrapper` Faust returns)."""
    table = window_wrapper.table

    async def after_recovery() -> None:
        tracked = track_restored_windows(table)
        if tracked:
            log.info("table %s: %d restored windows are tracked for expiry", table.name, tracked)

    table.on_recover(after_recovery)
