"""Agent `options`: applies each runtime option record to the GlobalTable every worker reads, then to Postgres."""
from __future__ import annotations

import logging

import orjson
from faust import EventT, StreamT

from grouptypes import flag_names
from storage.options import delete_option, upsert_option
from streams.app import app, table_store_options
from streams.core.options import InvalidOption, validate_option
from streams.failfast import stop_worker
from streams.retry import retry_transient
from streams.services import postgres, registry
from streams.topics import options_topic

log = logging.getLogger(__name__)


async def _log_changelog_event(event: EventT) -> None:
    # Every worker reads the changelog, the writer too: this line shows when a change reached each of them.
    name = event.key if isinstance(event.key, str) else repr(event.message.key)  # never raise in recovery
    log.info("options: change of %s read from the changelog (offset %s)", name, event.message.offset)


# option name → {"value": stored value, "offset": options-topic offset of that value} (spec §2.4.2).
# A GlobalTable: every worker reads the whole changelog, so a change written here by the one worker that
# owns the options partition reaches every worker, and a restarted worker recovers it (spec §10.4.1).
options_table = app.GlobalTable(
    "options",
    key_type=str,
    value_type=None,  # plain dicts, JSON in the changelog
    # One changelog partition, like the one-partition topic that writes it: a table's changelog must
    # match its source topic (PartitionsMismatch otherwise, design §5).
    partitions=1,
    options=table_store_options(),
    # Faust 0.15.3 assigns a global table's changelog to every worker as active *and* standby, and keeps
    # reading it after recovery, but applies what it reads in batches of recovery_buffer_size (default
    # 1000): with 1 a change applies on arrival, not after 999 more. It is also Faust's documented
    # workaround for global tables stuck in recovery with several workers.
    recovery_buffer_size=1,
    on_changelog_event=_log_changelog_event,
    help="Runtime options: release flags and settings (spec §10.4)",
)


@app.agent(options_topic, name="options", concurrency=1)
async def options(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        message = event.message
        try:
            await apply_record(message.key, message.value, offset=message.offset)
        except Exception as error:
            stop_worker(f"options record at offset {message.offset}", error)


def known_flag_names() -> frozenset[str]:
    """Flags of the registered unreleased types (spec §10.1.1); the registry is the same on every worker."""
    return frozenset(name for group_type in registry.all() for name in flag_names(group_type).values())


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
    if value is None:
        # A tombstone puts the option back to its default (and lets compaction forget it).
        if name in options_table:
            del options_table[name]
        await _mirror(name, None, offset)
        return
    try:
        stored = validate_option(name, orjson.loads(value), flag_names=known_flag_names())
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
