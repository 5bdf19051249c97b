"""Writes of a project's settings (spec §11.1) to its `projects` row, by the options agent in options-topic order.

A slug another project holds is never a failure here: the row keeps its own slug and the caller is told who holds
the one asked (two concurrent PUTs of one slug both passed the API's check; the first record applied wins).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SettingsApplied:
    slug: str  # the row's slug now
    slug_taken_by: int | None = None  # the project holding the slug asked, which the row therefore did not take
    redelivered: bool = False  # the row had this record, or a later one, already


async def apply_project_settings(
    conn: AsyncConnection[Any], project_id: int, settings: Mapping[str, Any], offset: int
) -> SettingsApplied:
    """Create the project if it is new (spec §11.1: a PUT may create it) and store `settings`, unless the row
    already has the record at `offset` or a later one (§2.4.2). One transaction."""
    async with conn.transaction():
        # The sink creates projects the same way (slug p{id}, reserved for this id), so neither can fail the other.
        await conn.execute("INSERT INTO projects (id, slug) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                           (project_id, f"p{project_id}"))
        cursor = await conn.execute("SELECT slug, settings_offset FROM projects WHERE id = %s FOR UPDATE",
                                    (project_id,))
        row = await cursor.fetchone()
        if row is None:  # only a row from before the reservation can hold p{id}: nothing to write settings to
            raise LookupError(f"project {project_id} cannot be created: its slug p{project_id} is taken")
        slug, stored_offset = row
        if stored_offset >= offset:
            return SettingsApplied(slug, redelivered=True)
        asked = settings.get("slug", slug)
        holder = None
        if asked != slug:
            cursor = await conn.execute("SELECT id FROM projects WHERE slug = %s AND id <> %s", (asked, project_id))
            found = await cursor.fetchone()
            holder = found[0] if found is not None else None
        if holder is None:
            try:
                async with conn.transaction():  # a savepoint: a clash keeps the rest of the record
                    await _write(conn, project_id, asked, settings, offset)
                return SettingsApplied(asked)
            except UniqueViolation:  # taken since the look above (a sink creating a project cannot: p{id})
                cursor = await conn.execute("SELECT id FROM projects WHERE slug = %s", (asked,))
                found = await cursor.fetchone()
                holder = found[0] if found is not None else -1
        await _write(conn, project_id, slug, settings, offset)
        return SettingsApplied(slug, slug_taken_by=holder)


async def _write(conn: AsyncConnection[Any], project_id: int, slug: str, settings: Mapping[str, Any],
                 offset: int) -> None:
    await conn.execute(
        "UPDATE projects SET slug = %s, resolve_age_hours = %s, occurrence_rate_limit = %s, settings_offset = %s"
        " WHERE id = %s",
        (slug, settings.get("resolve_age_hours"), Jsonb(settings["occurrence_rate_limit"]), offset, project_id),
    )


async def settings_offset(conn: AsyncConnection[Any], project_id: int) -> int | None:
    """The options-topic offset of the last settings record applied to the project; None if there is no project."""
    cursor = await conn.execute("SELECT settings_offset FROM projects WHERE id = %s", (project_id,))
    row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def slug_holder(conn: AsyncConnection[Any], slug: str) -> int | None:
    cursor = await conn.execute("SELECT id FROM projects WHERE slug = %s", (slug,))
    row = await cursor.fetchone()
    return None if row is None else int(row[0])
