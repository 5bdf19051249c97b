"""Agent `options`: applies each runtime option record to the GlobalTable every worker reads, then to Postgres."""
from __future__ import annotations

import logging

import orjson
from faust import StreamT

from storage.options import delete_option, upsert_option
from streams.agents.failure import retry_transient, stop_worker
from streams.agents.project_settings import apply_project_record
from streams.core.options import InvalidOption, validate_option
from streams.core.projects import option_project_id
from streams.services import postgres, registry
from streams.tables import options_table

log = logging.getLogger(__name__)


async def options(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        message = event.message
        try:
            await apply_record(message.key, message.value, offset=message.offset)
        except Exception as error:
            stop_worker(f"options record at offset {message.offset}", error)


async def apply_record(key: bytes | None, value: bytes | None, *, offset: int) -> None:
    """Table first, so the change takes effect even while Postgres is away; the mirror then catches up."""
    try:
        name = (key or b"").decode("utf-8")
    except UnicodeDecodeError:
        name = ""
    if not name:
        # The CLI and API always key by name; a record without one cannot be applied to anything.
        log.error("options: ignored the record at offset %s: its key is not an option name: %r", offset, key)
        return
    project_id = option_project_id(name)
    if project_id is not None:  # a project's settings (spec §11.1): its row and the table, in topic order
        await apply_project_record(name, project_id, value, offset=offset)
        return
    if value is None:
        # A tombstone puts the option back to its default (and lets compaction forget it).
        if name in options_table:
            del options_table[name]
        await _mirror(name, None, offset)
        return
    try:
        stored = validate_option(name, orjson.loads(value), flag_names=registry.known_flag_names())
    except (InvalidOption, orjson.JSONDecodeError) as error:
        # Writers validate before producing; a record from elsewhere is refused loudly, never half-applied.
        log.error("options: ignored the record at offset %s for %r: %s", offset, name, error)
        return
    current = options_table.get(name)
    # A redelivered record (after a crash before the commit) leaves the newer value alone (spec §2.4.2).
    if current is None or current["offset"] < offset:
        options_table[name] = {"value": stored, "offset": offset}
        log.info("options: %s = %s (offset %s)", name, orjson.dumps(stored).decode(), offset)
    # Always mirrored: the crash may have come between the table write and the Postgres write.
    await _mirror(name, stored, offset)


async def _mirror(name: str, stored: object | None, offset: int) -> None:
    async def write() -> None:
        pool = await postgres.get()
        async with pool.connection() as conn:
            if stored is None:
                await delete_option(conn, name, offset)
            else:
                await upsert_option(conn, name, stored, offset)

    await retry_transient(write, what=f"options mirror of {name}", log=log)
