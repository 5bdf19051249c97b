"""Reads of `sink_parked` for the API, the CLI and the health check (spec §2.4.12); the sink writes it."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import class_row

ParkedStatus = Literal["parked", "resolved", "all"]
PARKED_STATUSES: tuple[ParkedStatus, ...] = ("parked", "resolved", "all")


@dataclass(frozen=True)
class StoredParkedChange:
    """One row of `sink_parked`: a change with why it is parked, or was until a retry applied it."""

    id: int
    topic: str
    partition: int
    offset: int
    group_key: str
    behind: int | None  # None: it failed itself; else the offset of its key's parked change it waits behind
    error: str
    sqlstate: str | None
    first_attempt: datetime
    last_attempt: datetime
    attempts: int
    resolved_at: datetime | None
    change: bytes  # the wire form (storage.changes)


@dataclass(frozen=True, order=True)
class ParkedKey:
    """The unit a retry applies in one transaction: one group key's parked changes in one partition."""

    topic: str
    partition: int
    group_key: str


PARKED_SELECT = (
    'SELECT id, topic, partition, "offset", group_key, behind, error, sqlstate, first_attempt, last_attempt,'
    " attempts, resolved_at, change FROM sink_parked"
)


def status_condition(status: ParkedStatus) -> str:
    return {"parked": "resolved_at IS NULL", "resolved": "resolved_at IS NOT NULL", "all": "true"}[status]


async def parked_count(conn: AsyncConnection[Any]) -> int:
    """How many changes are parked now (resolved ones are not)."""
    cursor = await conn.execute("SELECT count(*) FROM sink_parked WHERE resolved_at IS NULL")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def list_parked(conn: AsyncConnection[Any], status: ParkedStatus, limit: int) -> list[StoredParkedChange]:
    """Up to `limit` rows in the order they were parked (a key's failing change before those behind it)."""
    async with conn.cursor(row_factory=class_row(StoredParkedChange)) as cursor:
        await cursor.execute(f"{PARKED_SELECT} WHERE {status_condition(status)} ORDER BY id LIMIT %s", (limit,))
        return await cursor.fetchall()


async def keys_of(conn: AsyncConnection[Any], ids: Sequence[int]) -> dict[int, ParkedKey]:
    """The key of each named row that is still parked (a resolved or unknown id is left out)."""
    cursor = await conn.execute(
        "SELECT id, topic, partition, group_key FROM sink_parked WHERE id = ANY(%s) AND resolved_at IS NULL",
        (list(ids),),
    )
    return {row_id: ParkedKey(topic, partition, key) for row_id, topic, partition, key in await cursor.fetchall()}


async def parked_keys(conn: AsyncConnection[Any]) -> list[ParkedKey]:
    """Every key with parked changes, the longest parked first."""
    cursor = await conn.execute(
        "SELECT topic, partition, group_key FROM sink_parked WHERE resolved_at IS NULL"
        " GROUP BY 1, 2, 3 ORDER BY min(id)"
    )
    return [ParkedKey(topic, partition, key) for topic, partition, key in await cursor.fetchall()]
