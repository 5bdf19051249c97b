"""Applies a project settings record (`project:{id}` on the options topic, spec §11.1) to Postgres and the table.

Called by agent `options`, the one reader of the one-partition options topic, so settings records are applied in
topic order on one worker. Postgres first, then the table: the row decides whether an asked slug is free, and the
table then holds the settings as they really are. A clash (two PUTs of one slug passing the API's check at once)
is settled by topic order: the first record takes the slug, the later one keeps its project's slug and the rest
of its settings, and the refusal is logged; the worker never stops over it.
"""
from __future__ import annotations

import logging
from typing import Any

import orjson

from storage.projects import SettingsApplied, apply_project_settings
from streams.agents.failure import retry_transient
from streams.core.projects import InvalidSettings, check_patch, merged_settings
from streams.services import postgres
from streams.tables import options_table

log = logging.getLogger(__name__)


async def apply_project_record(name: str, project_id: int, value: bytes | None, *, offset: int) -> None:
    if value is None:
        # Projects are never deleted (spec §11): a tombstone under a project's name has nothing to undo.
        log.error("options: ignored the tombstone at offset %s for %s: project settings are never deleted", offset,
                  name)
        return
    entry = options_table.get(name)
    current: dict[str, Any] | None = entry["value"] if entry else None
    if entry is not None and entry["offset"] >= offset:
        # Read again after a crash between the two writes: the table has it, the row may not.
        await _write_row(name, project_id, entry["value"], entry["offset"])
        return
    try:
        checked = check_patch(project_id, orjson.loads(value), current)
    except (InvalidSettings, orjson.JSONDecodeError) as error:
        # Writers check before producing; a record from elsewhere is refused loudly, never half-applied.
        log.error("options: ignored the record at offset %s for %s: %s", offset, name, error)
        return
    settings = merged_settings(project_id, current, checked)
    applied = await _write_row(name, project_id, settings, offset)
    if applied is not None:
        settings["slug"] = applied.slug
    options_table[name] = {"value": settings, "offset": offset}
    log.info("options: %s = %s (offset %s)", name, orjson.dumps(settings).decode(), offset)


async def _write_row(name: str, project_id: int, settings: dict[str, Any], offset: int) -> SettingsApplied | None:
    async def write() -> SettingsApplied:
        pool = await postgres.get()
        async with pool.connection() as conn:
            return await apply_project_settings(conn, project_id, settings, offset)

    try:
        applied = await retry_transient(write, what=f"project settings of {name}", log=log)
    except LookupError as error:
        log.error("options: the settings at offset %s for %s are not in Postgres: %s", offset, name, error)
        return None
    if applied.slug_taken_by is not None:
        log.error("options: %s at offset %s asked slug %r, which project %s took first: the project keeps slug %r "
                  "and the rest of the settings apply", name, offset, settings.get("slug"), applied.slug_taken_by,
                  applied.slug)
    return applied
