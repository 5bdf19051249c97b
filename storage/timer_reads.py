"""What the timers (spec §15) read from PostgreSQL: the projects' resolve age, and hourly counts by group key."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection


async def resolve_ages(conn: AsyncConnection[Any]) -> dict[int, int]:
    """project id → `resolve_age_hours` (spec §11.1, §15.2), for the projects that have one."""
    cursor = await conn.execute("SELECT id, resolve_age_hours FROM projects WHERE resolve_age_hours IS NOT NULL")
    return {int(project_id): int(hours) for project_id, hours in await cursor.fetchall()}


async def hourly_counts_by_key(conn: AsyncConnection[Any], group_keys: Sequence[str], since: datetime,
                               until: datetime) -> dict[str, list[tuple[datetime, int]]]:
    """group key → [(UTC hour, count)] of its live group's hourly buckets in [since, until) (spec §15.5.3,
    §16.1). A key whose group row the sink has not written yet has none. Only the key's newest generation
    (§2.4.5): the sink deletes a deleted group's rows with it (§19), and the read does not rely on that."""
    cursor = await conn.execute(
        "SELECT g.group_key, h.hour, h.count FROM groups g JOIN hourly_counts h ON h.group_id = g.id "
        "WHERE g.group_key = ANY(%s) AND h.hour >= %s AND h.hour < %s "
        "AND g.generation = (SELECT max(l.generation) FROM groups l WHERE l.group_key = g.group_key) ORDER BY 1, 2",
        (list(group_keys), since, until),
    )
    counts: dict[str, list[tuple[datetime, int]]] = {}
    for group_key, hour, count in await cursor.fetchall():
        counts.setdefault(group_key, []).append((hour, int(count)))
    return counts
