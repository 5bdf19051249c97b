"""The occurrence rate limits grouping applies (spec §11.2), read from the options table once a second.

A project's settings are the options record `project:{id}` (streams.core.projects), which reaches every worker's
options GlobalTable within seconds. Grouping looks a project up in `RATE_LIMITS`, which holds only the projects
whose limit is on: for every other project an occurrence pays one dict lookup. The agent calls `refresh` once
per batch; it rebuilds the dict when a second has passed since the last rebuild.
"""
from __future__ import annotations

import logging
import time

from streams.core.projects import RateLimit, option_project_id, rate_limit_of
from streams.tables import options_table

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0

# project id → its enabled limit; updated in place, so importers keep the same dict.
RATE_LIMITS: dict[int, RateLimit] = {}
_next_refresh = 0.0


def refresh(now: float | None = None) -> None:
    """Rebuild `RATE_LIMITS` from the options table when it is due (at most once per REFRESH_SECONDS)."""
    global _next_refresh
    clock = time.monotonic() if now is None else now
    if clock < _next_refresh:
        return
    _next_refresh = clock + REFRESH_SECONDS
    fresh: dict[int, RateLimit] = {}
    for name, entry in list(options_table.items()):
        project_id = option_project_id(name) if isinstance(name, str) else None
        if project_id is None or not isinstance(entry, dict):
            continue
        limit = rate_limit_of(entry.get("value"))
        if limit is not None:
            fresh[project_id] = limit
    if fresh != RATE_LIMITS:
        log.info("grouping: occurrence rate limits now %s", {pid: limit.limit for pid, limit in fresh.items()} or "off")
        RATE_LIMITS.clear()
        RATE_LIMITS.update(fresh)
