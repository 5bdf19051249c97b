"""Postgres copy of the runtime options (spec §10.4.1): written by agent `options`, read by the CLI and API."""
from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb


async def upsert_option(conn: AsyncConnection, name: str, value: Any, offset: int) -> None:
    """Store `value` unless a record at or after `offset` is already stored (redelivery, spec §2.4.2)."""
    await conn.execute(
        'INSERT INTO options (name, value, "offset") VALUES (%s, %s, %s)'
        " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, \"offset\" = EXCLUDED.\"offset\","
        " updated_at = now()"
        ' WHERE options."offset" < EXCLUDED."offset"',
        (name, Jsonb(value), offset),
    )


async def delete_option(conn: AsyncConnection, name: str, offset: int) -> None:
    """Forget an option (a tombstone on the topic: back to its default), unless it was set again later."""
    await conn.execute('DELETE FROM options WHERE name = %s AND "offset" < %s', (name, offset))


async def read_options(conn: AsyncConnection) -> dict[str, Any]:
    cursor = await conn.execute("SELECT name, value FROM options ORDER BY name")
    return {name: value for name, value in await cursor.fetchall()}
