"""CLI group `parked`: `parked list` and `parked retry` over the sink changes parked in Postgres (spec §2.4.12)."""
from __future__ import annotations

import sys
from collections.abc import Sequence

import click
import orjson
import psycopg

from storage.parked import (
    PARKED_STATUSES,
    ParkedKey,
    ParkedStatus,
    StoredParkedChange,
    list_parked,
    parked_count,
)
from storage.sink_plan import BatchResult, ChangeFailure
from streams.app import app, settings
from streams.commands.dlq import preview
from streams.commands.running import json_output, run_in_app, usage_error
from streams.web.parked_retry import retry_keys, selected_keys
from streams.web.serialize import iso_datetime, parked_json

DEFAULT_LIST_LIMIT = 50
EXIT_FAILED = 1  # an id that is not parked, or a key whose changes failed again


@click.group(name="parked")
def parked_group() -> None:
    """List and retry sink changes parked for a permanent failure (spec §2.4.12)."""


def listing_lines(parked_now: int, rows: Sequence[StoredParkedChange]) -> list[str]:
    lines = [f"{parked_now} {'change' if parked_now == 1 else 'changes'} parked", ""]
    if not rows:
        lines.append("no entries")
        return lines
    lines.append(f"in the order they were parked, {len(rows)} shown:")
    for row in rows:
        state = "resolved " + str(iso_datetime(row.resolved_at)) if row.resolved_at is not None else "parked"
        cause = f"behind offset {row.behind}" if row.behind is not None else f"sqlstate={row.sqlstate or '-'}"
        lines.append(f"{row.id}  {row.topic}:{row.partition}:{row.offset}  key={row.group_key}  {cause}"
                     f"  attempts={row.attempts}  last={iso_datetime(row.last_attempt)}  {state}")
        lines.append(f"    {preview(row.error)}")
    return lines


@parked_group.command(name="list")
@click.option("--status", type=click.Choice(PARKED_STATUSES), default="parked", show_default=True,
              help="parked now, resolved by a retry, or all")
@click.option("--limit", type=click.IntRange(min=1), default=DEFAULT_LIST_LIMIT, show_default=True,
              help="most rows to print")
@click.pass_context
def parked_list(ctx: click.Context, status: ParkedStatus, limit: int) -> None:
    """Print how many changes are parked, then the rows in the order they were parked (a key's failing change
    before those waiting behind it; with --json: as GET /api/0/parked/ shows them)."""
    run_in_app(ctx, print_parked, status=status, limit=limit, as_json=json_output(ctx))


async def print_parked(status: ParkedStatus, limit: int, as_json: bool) -> None:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        count = await parked_count(conn)
        rows = await list_parked(conn, status, limit)
    if as_json:
        print(orjson.dumps({"parked": count, "entries": [parked_json(row) for row in rows]}).decode())
        return
    print("\n".join(listing_lines(count, rows)))


@parked_group.command(name="retry")
@click.option("--id", "ids", multiple=True, type=click.IntRange(min=1), metavar="ID",
              help="retry the key of this parked row (every parked change of the key); repeat for more")
@click.option("--all", "retry_all", is_flag=True, help="retry every key with parked changes")
@click.pass_context
def parked_retry(ctx: click.Context, ids: tuple[int, ...], retry_all: bool) -> None:
    """Apply the parked changes of each key again, in offset order, in one transaction per key, and forward
    their post-process and activity messages. A key whose changes fail again stays parked, one attempt more
    (exit status 1). Fix the cause first: the error of `parked list` names it."""
    if bool(ids) == retry_all:
        usage_error(ctx, "give --id ID (repeatable) or --all")
    run_in_app(ctx, retry, ids=ids, retry_all=retry_all)


async def retry(ids: tuple[int, ...], retry_all: bool) -> None:
    applied: list[BatchResult] = []
    failed: list[tuple[ParkedKey, ChangeFailure]] = []
    # Autocommit: each key's retry is its own transaction, so its partition lock is held only meanwhile.
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        keys, missing = await selected_keys(conn, None if retry_all else ids)
        if missing:
            print(f"Error: no parked change {', '.join(map(str, missing))} (unknown or resolved already); "
                  "nothing retried", file=sys.stderr)
            raise SystemExit(EXIT_FAILED)
        producer = app.producer
        await producer.start()
        try:
            async for key, outcome in retry_keys(conn, keys):
                where = f"{key.topic}:{key.partition} key {key.group_key}"
                if isinstance(outcome, ChangeFailure):
                    failed.append((key, outcome))
                    print(f"{where}: failed again, still parked: {outcome.error}", file=sys.stderr)
                    continue
                applied.append(outcome)
                print(f"{where}: applied {len(outcome.applied)} changes")
        finally:
            await producer.stop()
    changes = sum(len(result.applied) for result in applied)
    print(f"retried {len(keys)} {'key' if len(keys) == 1 else 'keys'}: {changes} changes applied, "
          f"{len(failed)} {'key' if len(failed) == 1 else 'keys'} still parked")
    if failed:
        raise SystemExit(EXIT_FAILED)
