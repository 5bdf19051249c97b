"""The Idempotency-Keys of API mutations (spec §20.8, §20.9) and the outcomes of their changes (`api_changes`).

A key is bound to the digest of the request it first came with: the same key with another request is refused,
the same request again finds its changes' outcomes here. Both tables keep a day (pruned by housekeeping).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection


async def bind_request_key(conn: AsyncConnection[Any], key: str, digest: str) -> str:
    """Bind `key` to `digest` unless it is bound already; the digest it is bound to now."""
    cursor = await conn.execute(
        "INSERT INTO api_requests (idempotency_key, request_digest) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        " RETURNING request_digest", (key, digest))
    row = await cursor.fetchone()
    if row is not None:
        return str(row[0])
    cursor = await conn.execute("SELECT request_digest FROM api_requests WHERE idempotency_key = %s", (key,))
    row = await cursor.fetchone()
    # Pruned between the two statements: bind it again (one retry; pruning takes only day-old rows).
    return str(row[0]) if row is not None else await bind_request_key(conn, key, digest)


async def change_outcomes(conn: AsyncConnection[Any], change_ids: Sequence[str]) -> dict[str, str]:
    """change id → the outcome the sink recorded for it (applied, noop, group_not_found, deleted, …)."""
    cursor = await conn.execute("SELECT change_id, outcome FROM api_changes WHERE change_id = ANY(%s)",
                                (list(change_ids),))
    return {str(change_id): str(outcome) for change_id, outcome in await cursor.fetchall()}


async def prune_api_requests(conn: AsyncConnection[Any], older_than: timedelta) -> int:
    cursor = await conn.execute("DELETE FROM api_requests WHERE created_at < now() - %s", (older_than,))
    return cursor.rowcount
