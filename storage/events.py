"""Reads of stored events (spec §5.5: an occurrence that only names `event_id` needs its event stored)."""
from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection


@dataclass(frozen=True)
class StoredEventRef:
    timestamp: float
    platform: str
    environment: str


async def find_event(conn: AsyncConnection, project_id: int, event_id: str) -> StoredEventRef | None:
    cursor = await conn.execute(
        "SELECT extract(epoch FROM timestamp)::float8, platform, coalesce(environment, '')"
        " FROM events WHERE project_id = %s AND event_id = %s",
        (project_id, event_id),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    return StoredEventRef(timestamp=row[0], platform=row[1], environment=row[2])
