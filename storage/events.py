"""Reads of stored events (spec §5.5: an occurrence that only names `event_id` needs its event stored), and the
sweep of the events a group deletion left unreferenced (spec §19)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from psycopg import AsyncConnection


@dataclass(frozen=True)
class StoredEventRef:
    timestamp: float
    platform: str
    environment: str


async def find_event(conn: AsyncConnection, project_id: int, event_id: str) -> StoredEventRef | None:
    cursor = await conn.execute(
        "SELECT extract(epoch FROM timestamp)::float8, platform, coalesce(environment, '')"
        # An event marked orphaned is about to go (`sweep_orphan_events`): an occurrence naming it now could be
        # stored after it went, so it is dead-lettered as event_not_found like one naming a deleted event.
        " FROM events WHERE project_id = %s AND event_id = %s AND orphaned_at IS NULL",
        (project_id, event_id),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    return StoredEventRef(timestamp=row[0], platform=row[1], environment=row[2])


# The queued events some occurrence references, in one hash join that scans the occurrences once (the queue is
# hashed: the occurrences have no index by event, and a NOT EXISTS per queued event would scan them once each).
_REFERENCED = (
    "WITH referenced AS MATERIALIZED (SELECT DISTINCT o.project_id, o.event_id FROM occurrences o"
    " JOIN event_sweep q ON q.project_id = o.project_id AND q.event_id = o.event_id) "
)
_IS_REFERENCED = "EXISTS (SELECT 1 FROM referenced r WHERE r.project_id = e.project_id AND r.event_id = e.event_id)"
_QUEUED = "FROM event_sweep s WHERE e.project_id = s.project_id AND e.event_id = s.event_id"


@dataclass(frozen=True)
class SweptEvents:
    deleted: int
    kept: int  # referenced again after they were marked (an occurrence in flight stored, or a new embed)
    marked: int


async def sweep_orphan_events(conn: AsyncConnection, grace: timedelta) -> SweptEvents:
    """Delete the queued events (`event_sweep`, filled by the sink's group deletions) that no occurrence has
    referenced since they were marked at least `grace` ago, then mark those of the queue no occurrence references.

    Race-free as long as no occurrence spends more than `grace` between ingest's lookup of its event (spec §5.5)
    and the sink storing it: one looked up before the mark is stored before the delete and keeps the event; after
    the mark, ingest does not find it (`find_event`). A change parked in `sink_parked` can wait longer than any
    grace, so nothing is deleted while one waits. Outside the sink's transaction; each statement that needs the
    occurrences scans them once (`_REFERENCED`), and none does when nothing is queued.
    """
    async with conn.transaction():  # each step its own transaction, not one opened by a first read
        empty = await (await conn.execute("SELECT NOT EXISTS (SELECT 1 FROM event_sweep)")).fetchone() == (True,)
    if empty:
        return SweptEvents(deleted=0, kept=0, marked=0)  # no deletion since the last sweep: nothing to scan
    async with conn.transaction():
        cursor = await conn.execute(
            f"{_REFERENCED}DELETE FROM events e USING event_sweep s"
            " WHERE e.project_id = s.project_id AND e.event_id = s.event_id AND e.orphaned_at < now() - %s"
            f" AND NOT {_IS_REFERENCED} AND NOT EXISTS (SELECT 1 FROM sink_parked p WHERE p.resolved_at IS NULL)",
            (grace,),
        )
        deleted = cursor.rowcount
    async with conn.transaction():
        cursor = await conn.execute(
            f"{_REFERENCED}UPDATE events e SET orphaned_at = NULL {_QUEUED} AND e.orphaned_at IS NOT NULL"
            f" AND {_IS_REFERENCED}"
        )
        kept = cursor.rowcount
        cursor = await conn.execute(
            f"{_REFERENCED}UPDATE events e SET orphaned_at = now() {_QUEUED} AND e.orphaned_at IS NULL"
            f" AND NOT {_IS_REFERENCED}"
        )
        marked = cursor.rowcount
        # Done with: the events gone, and those referenced (an unmarked event the statement finds unreferenced
        # lost its last occurrence to a deletion committed since the mark: it stays queued for the next sweep).
        await conn.execute(
            "DELETE FROM event_sweep s WHERE NOT EXISTS"
            " (SELECT 1 FROM events e WHERE e.project_id = s.project_id AND e.event_id = s.event_id)"
        )
        await conn.execute(
            f"{_REFERENCED}DELETE FROM event_sweep s USING events e"
            " WHERE e.project_id = s.project_id AND e.event_id = s.event_id AND e.orphaned_at IS NULL"
            f" AND {_IS_REFERENCED}"
        )
    return SweptEvents(deleted=deleted, kept=kept, marked=marked)
