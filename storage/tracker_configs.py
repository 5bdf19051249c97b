"""Postgres rows of the projects' tracker configurations (spec §24.3.1), read and written by the API."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class TrackerConfigRow:
    # `config` holds secrets in clear: whoever shows or logs a row masks them first (§24.3.1).
    project_id: int
    tracker: str
    config: dict[str, Any]
    auto_create: dict[str, Any] | None
    updated_at: datetime


_COLUMNS = "project_id, tracker, config, auto_create, updated_at"


async def read_tracker_config(
    conn: AsyncConnection[Any], project_id: int, tracker: str, *, for_update: bool = False
) -> TrackerConfigRow | None:
    """The stored row; `for_update` holds it to the end of the transaction, so that two PUTs keeping a masked
    secret (§24.3) each merge into what the other stored rather than into the same old row."""
    lock = " FOR UPDATE" if for_update else ""
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM tracker_configs WHERE project_id = %s AND tracker = %s{lock}", (project_id, tracker)
    )
    row = await cursor.fetchone()
    return None if row is None else TrackerConfigRow(*row)


async def write_tracker_config(
    conn: AsyncConnection[Any], project_id: int, tracker: str, config: dict[str, Any],
    auto_create: dict[str, Any] | None,
) -> TrackerConfigRow:
    """Replace the project's config of `tracker` (a PUT sets the whole of it) and return the stored row."""
    cursor = await conn.execute(
        "INSERT INTO tracker_configs (project_id, tracker, config, auto_create) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (project_id, tracker) DO UPDATE SET config = EXCLUDED.config,"
        " auto_create = EXCLUDED.auto_create, updated_at = now()"
        f" RETURNING {_COLUMNS}",
        (project_id, tracker, Jsonb(config), None if auto_create is None else Jsonb(auto_create)),
    )
    row = await cursor.fetchone()
    assert row is not None  # INSERT … RETURNING always returns the row
    return TrackerConfigRow(*row)
