"""Expired windows leave the changelog too, and restored windows expire: Faust does neither.

Faust tracks window keys for expiry in memory when they are set (`_maybe_set_key_ttl`); a restarted or
rebalanced worker restores windows from the changelog without tracking them, so they would stay on disk
forever (design §4 "Bounded state"). After every recovery we register each restored window with the
table's own expiry index, so the regular cleanup (every `table_cleanup_interval`) removes it in time.

Evidence for the second patch: Faust's cleanup (`Collection._del_old_keys`) removes an expired window from
the local store only, and writes no delete marker, so the changelog keeps its last value. The windowed
changelogs are `compact,delete` (streams.topics.windowed_changelog_config) to have the broker drop such
records with time, but the log cleaner merges the old segments of a partition with newer ones as it
compacts, and a merged segment is deleted only once its newest record is older than the retention, which
under steady traffic never comes. In a 60-minute soak at 200 occurrences/s (bench.soak) the noise-8s
changelog (retention 618 s) still held its first records after 23 minutes and grew by 6 MB a minute. Here
the cleanup also queues a delete marker for every window it removes from a partition this worker owns as
active (a standby's copy goes quietly, as before): compaction then drops the window's records, and the
marker itself after the changelog's `delete.retention.ms`. Under `processing_guarantee="exactly_once"`
Faust's own cleanup runs (a changelog write outside a transaction is not possible there).

Upstream: unchanged in faust-streaming's newest code (181b1840, 2026-08-20).
"""
from __future__ import annotations

import logging
import time
from heapq import heappop
from typing import Any

from faust.tables.base import Collection
from faust.types import TP

from streams.faust_compat import changelog_batches
from streams.faust_compat.internals import raw_table_keys
from streams.faust_compat.patch import Patch

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


_original_del_old_keys = Collection._del_old_keys


async def _del_old_keys_with_delete_markers(self: Any) -> None:
    """Faust's `_del_old_keys`, with a changelog delete marker for each expired window of an active partition.

    The markers go through `send_changelog` (changelog_batches queues them), before the local delete: the
    store then holds the delete until the marker is acknowledged (store_after_changelog), like any write.
    Faust's `on_window_close` callback is not called here; a table that sets one keeps Faust's cleanup.
    """
    if self._on_window_close is not None or self.app.in_transaction:  # noqa: SLF001
        await _original_del_old_keys(self)
        return
    window = self.window
    actives = self.app.assignor.assigned_actives()
    changelog = self.changelog_topic.get_topic_name()
    now = time.time()
    marked = 0
    for partition, timestamps in self._partition_timestamps.items():  # noqa: SLF001
        owned = TP(changelog, partition) in actives
        while timestamps and window.stale(timestamps[0], now):
            keys = self._partition_timestamp_keys.pop((partition, heappop(timestamps)), None)  # noqa: SLF001
            if not keys:
                continue
            for key in keys:
                if owned:
                    self.send_changelog(partition, key, None, value_serializer="raw")
                    marked += 1
                self.data.pop(key, None)
            self.last_closed_window = max(self.last_closed_window, max(key[1][0] for key in keys))
    if marked:
        # Queued records go out before the next commit, and an idle worker commits nothing: send them now.
        await changelog_batches.drain(self.app)


PATCHES = (Patch(Collection, "_del_old_keys", _del_old_keys_with_delete_markers, _original_del_old_keys),)
