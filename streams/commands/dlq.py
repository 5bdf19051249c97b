"""CLI group `dlq`: `dlq list` and `dlq replay` over the dead-letter entries in Postgres (spec §7.3, §22)."""
from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import click
import orjson
import psycopg

from storage.dlq import (
    ReplayableEntry,
    StoredDeadLetter,
    list_entries,
    mark_replayed,
    reason_counts,
    replayable_by_ids,
    replayable_by_reason,
)
from streams.app import app, settings
from streams.commands.running import json_output, run_in_app, usage_error
from streams.core.dlq import MAX_REPLAY_PER_CALL, ReplaySelection, replay_headers, replay_selection
from streams.core.rejection import Reason
from streams.topics import ingest_topic
from streams.web.serialize import entry_json, iso_datetime

MESSAGE_PREVIEW_CHARS = 120
DEFAULT_LIST_LIMIT = 50
EXIT_NOT_FOUND = 1

_REASONS = click.Choice([str(reason) for reason in Reason])


@click.group(name="dlq")
def dlq_group() -> None:
    """List and replay dead-letter entries (spec §7)."""


def source_text(entry: StoredDeadLetter) -> str:
    if entry.source_partition is None:
        return entry.source_topic  # API-originated (spec §7.1)
    return f"{entry.source_topic}:{entry.source_partition}:{entry.source_offset}"


def preview(message: str) -> str:
    flat = " ".join(message.split())
    return flat if len(flat) <= MESSAGE_PREVIEW_CHARS else flat[: MESSAGE_PREVIEW_CHARS - 1] + "…"


def listing_lines(counts: Sequence[tuple[str, int]], entries: Sequence[StoredDeadLetter]) -> list[str]:
    total = sum(count for _, count in counts)
    width = max([len("reason"), *(len(reason) for reason, _ in counts)])
    lines = [f"{'reason':<{width}}  entries"]
    lines += [f"{reason:<{width}}  {count:>7}" for reason, count in counts]
    lines += [f"{'total':<{width}}  {total:>7}", ""]
    if not entries:
        lines.append("no entries")
        return lines
    lines.append(f"newest first, {len(entries)} of {total}:")
    for entry in entries:
        lines.append(
            f"{entry.id}  {entry.reason}  field={entry.field or '-'}  stage={entry.stage}"
            f"  source={source_text(entry)}  at={iso_datetime(entry.created_at)}  replays={entry.replay_count}"
        )
        lines.append(f"    {preview(entry.message)}")
    return lines


@dlq_group.command(name="list")
@click.option("--reason", type=_REASONS, default=None, help="only entries with this reason code (spec §7.2)")
@click.option("--project", type=click.IntRange(min=1), default=None, help="only entries of this project_id")
@click.option("--limit", type=click.IntRange(min=1), default=DEFAULT_LIST_LIMIT, show_default=True,
              help="most entries to print")
@click.pass_context
def dlq_list(ctx: click.Context, reason: str | None, project: int | None, limit: int) -> None:
    """Print the entry count per reason, then the entries, newest first (with --json: as the API shows them)."""
    run_in_app(ctx, print_entries, reason=reason, project=project, limit=limit, as_json=json_output(ctx))


async def print_entries(reason: str | None, project: int | None, limit: int, as_json: bool) -> None:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        counts = await reason_counts(conn, reason=reason, project_id=project)
        entries = await list_entries(conn, reason=reason, project_id=project, limit=limit)
    if as_json:
        print(orjson.dumps({"counts": dict(counts), "entries": [entry_json(e) for e in entries]}).decode())
        return
    print("\n".join(listing_lines(counts, entries)))


@dlq_group.command(name="replay")
@click.option("--id", "ids", multiple=True, metavar="ID", help="an entry to replay; repeat for more")
@click.option("--reason", type=_REASONS, default=None, help="replay entries with this reason code")
@click.option("--project", type=int, default=None, help="with --reason: only entries of this project_id")
@click.option("--limit", type=int, default=None,
              help=f"with --reason: most entries to replay  [default: {MAX_REPLAY_PER_CALL}, at most that]")
@click.pass_context
def dlq_replay(
    ctx: click.Context, ids: tuple[str, ...], reason: str | None, project: int | None, limit: int | None
) -> None:
    """Re-submit entries to ingest-occurrences with their original key and bytes (spec §7.3).

    By --id, the named entries; by --reason, the oldest entries never replayed before. Each replayed entry
    records replayed_at and replay_count; an input that fails again makes a new entry.
    """
    try:
        selection = replay_selection(ids=ids, reason=reason, project_id=project, limit=limit)
    except ValueError as error:
        # replay_selection explains in one line; click's UsageError would add the usage and a hint around it
        usage_error(ctx, str(error))
    run_in_app(ctx, replay, selection=selection)


async def replay(selection: ReplaySelection) -> None:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        entries = await _select(conn, selection)
        if not entries:
            print("replayed 0 entries")
            return
        await _produce(entries)
        async with conn.transaction():
            await mark_replayed(conn, [entry.id for entry in entries], datetime.now(UTC))
    print(f"replayed {len(entries)} {'entry' if len(entries) == 1 else 'entries'}")


async def _select(conn: psycopg.AsyncConnection, selection: ReplaySelection) -> list[ReplayableEntry]:
    if not selection.by_ids:
        assert selection.reason is not None
        return await replayable_by_reason(
            conn, reason=selection.reason, project_id=selection.project_id, limit=selection.limit
        )
    entries = await replayable_by_ids(conn, selection.ids)
    missing = sorted(set(selection.ids) - {entry.id for entry in entries})
    if missing:
        # All or nothing: a typo must not leave half a list replayed and the rest to work out by hand.
        print(f"Error: no dead-letter entry {', '.join(missing)}; nothing replayed", file=sys.stderr)
        raise SystemExit(EXIT_NOT_FOUND)
    return entries


async def _produce(entries: Sequence[ReplayableEntry]) -> None:
    """Send every entry and wait until the broker has each one, before any is marked replayed."""
    producer = app.producer
    await producer.start()
    try:
        pending = [
            await ingest_topic.send(key=entry.key, value=entry.value, headers=replay_headers(entry.id))
            for entry in entries
        ]
        await producer.flush()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
