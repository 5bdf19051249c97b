"""Hourly housekeeping on the leader: keep `counted_drops` bounded (spec §2.4.1)."""
from __future__ import annotations

import logging
from datetime import timedelta

from storage.sink_writer import prune_counted_drops
from streams.app import settings
from streams.services import postgres

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0


async def forget_old_count_ids() -> None:
    """Prune count ids older than the retention; a failure only delays the pruning to the next hour."""
    retention = timedelta(hours=settings.counted_drops_retention_hours)
    try:
        pool = await postgres.get()
        async with pool.connection() as conn:
            removed = await prune_counted_drops(conn, retention)
    except Exception as error:  # never let housekeeping stop the worker
        log.warning("counted_drops pruning failed, retrying in an hour: %s", error)
        return
    log.info("counted_drops: forgot %d count ids older than %s", removed, retention)
