"""The projects' `resolve_age_hours` (spec §11.1, §15.2) as the owner and the timers read it: one dict lookup.

Read from PostgreSQL (`projects.resolve_age_hours`) by each timer scan, so a changed A is seen at the next scan
(spec §15.2) on every worker; until the first read, and while PostgreSQL cannot be read, the last values stay.
`resolve_age_hours` is the one place that says where a project's A comes from.
"""
from __future__ import annotations

import logging

from storage.timer_reads import resolve_ages
from streams.services import postgres

log = logging.getLogger(__name__)

# project id → A, only the projects that have one; replaced whole, so a reader never sees half a refresh.
_ages: dict[int, int] = {}


def resolve_age_hours(project_id: int) -> int | None:
    """The project's A in hours, or None when it does not auto-resolve (spec §15.2, §12.5.2)."""
    return _ages.get(project_id)


async def refresh_resolve_ages() -> None:
    global _ages
    try:
        pool = await postgres.get()
        async with pool.connection() as conn:
            fresh = await resolve_ages(conn)
    except Exception as error:  # noqa: BLE001  # the next scan reads again; the last values stay meanwhile
        log.warning("timers: the projects' resolve_age_hours could not be read, keeping the last ones: %s", error)
        return
    if fresh != _ages:
        log.info("timers: projects' resolve_age_hours now %s", fresh or "none")
    _ages = fresh
