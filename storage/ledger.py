"""The ledger in Postgres (spec §2.4.13): the writers' ranges, the leader's merge and marks, what `audit` reads."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from psycopg.types.json import Jsonb

from storage.changes import InputCoordinates, decode_change
from storage.ledger_plan import Span, merge

# (topic, partition, first offset, last offset): a run of consecutive input offsets
Range = tuple[str, int, int, int]


def offset_ranges(records: Iterable[InputCoordinates]) -> list[Range]:
    """The records as runs of consecutive offsets per partition, in order. An offset given twice starts a
    range of its own, so the two outcomes of one input stay visible to the merge (never hidden in one)."""
    ranges: list[Range] = []
    for topic, partition, offset in sorted(records):
        if ranges and ranges[-1][:2] == (topic, partition) and ranges[-1][3] == offset - 1:
            ranges[-1] = (topic, partition, ranges[-1][2], offset)
        else:
            ranges.append((topic, partition, offset, offset))
    return ranges


async def record_outcomes(cur: AsyncCursor[Any], writer: str, records: Iterable[InputCoordinates]) -> None:
    """Insert the ranges of `records` for `writer`, in the caller's transaction (the one storing the outcomes)."""
    ranges = offset_ranges(records)
    if not ranges:
        return
    await cur.execute(
        "INSERT INTO ledger (topic, partition, first_offset, last_offset, writer)"
        " SELECT *, %s FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::bigint[])",
        [writer, *(list(column) for column in zip(*ranges))],
    )


async def record_lost(cur: AsyncCursor[Any], lost: Iterable[tuple[str, int, int, str]]) -> None:
    """List the inputs (topic, partition, offset, group key) whose outcome the owner found lost (spec §2.4.13)."""
    rows = list(lost)
    if not rows:
        return
    await cur.execute(
        'INSERT INTO ledger_lost (topic, partition, "offset", group_key)'
        " SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::text[]) ON CONFLICT DO NOTHING",
        [list(column) for column in zip(*rows)],
    )


async def unrecorded(cur: AsyncCursor[Any], lost: list[tuple[str, int, int, str]]) -> list[tuple[str, int, int, str]]:
    """The `lost` outcomes whose input the ledger has no outcome for yet: only those are lost. One whose input
    is recorded (the original outcome arrived after the reconciler looked) is no outcome at all."""
    if not lost:
        return []
    await cur.execute(
        "SELECT l.topic, l.partition, l.offset FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS l(topic, partition,"
        ' "offset") WHERE EXISTS (SELECT 1 FROM ledger g WHERE g.topic = l.topic AND g.partition = l.partition'
        ' AND g.first_offset <= l."offset" AND g.last_offset >= l."offset")',
        [list(column) for column in zip(*[(topic, partition, offset) for topic, partition, offset, _ in lost])],
    )
    covered = {(topic, partition, offset) for topic, partition, offset in await cur.fetchall()}
    return [entry for entry in lost if entry[:3] not in covered]


async def lost_inputs(conn: AsyncConnection) -> list[InputCoordinates]:
    cursor = await conn.execute('SELECT topic, partition, "offset" FROM ledger_lost')
    return [(topic, partition, offset) for topic, partition, offset in await cursor.fetchall()]


# ------------------------------------------------------------------------------------------ the leader's

async def merge_ledger(conn: AsyncConnection) -> int:
    """Merge every partition's ranges into as few rows as they allow and record the offsets covered twice
    (`ledger_doubles`); returns how many rows it replaced. Commits on its own; one merge at a time.

    A writer's rows committed meanwhile are left for the next merge: the DELETE takes exactly the rows it
    returns, so nothing is merged twice and nothing is lost.
    """
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute("SELECT pg_advisory_xact_lock(hashtext('issue-platform ledger merge'))")
        await cur.execute("DELETE FROM ledger RETURNING topic, partition, first_offset, last_offset")
        rows = await cur.fetchall()
        by_partition: dict[tuple[str, int], list[Span]] = {}
        for topic, partition, first, last in rows:
            by_partition.setdefault((topic, partition), []).append((first, last))
        merged: list[Range] = []
        doubled: list[Range] = []
        for (topic, partition), spans in sorted(by_partition.items()):
            covered, doubles = merge(spans)
            merged.extend((topic, partition, first, last) for first, last in covered)
            doubled.extend((topic, partition, first, last) for first, last in doubles)
        if merged:
            await cur.execute(
                "INSERT INTO ledger (topic, partition, first_offset, last_offset, writer)"
                " SELECT *, 'merged' FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::bigint[])",
                [list(column) for column in zip(*merged)],
            )
        if doubled:
            await cur.execute(
                "INSERT INTO ledger_doubles (topic, partition, first_offset, last_offset)"
                " SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::bigint[])",
                [list(column) for column in zip(*doubled)],
            )
        return len(rows)


@dataclass(frozen=True)
class LedgerRows:
    """What Postgres holds about one input partition's outcomes."""

    covered: list[Span]
    doubles: list[Span]


async def ledger_rows(conn: AsyncConnection) -> dict[tuple[str, int], LedgerRows]:
    """Per input partition, the offsets with an outcome (rows not merged yet included) and those with two."""
    spans: dict[tuple[str, int], list[Span]] = {}
    cursor = await conn.execute("SELECT topic, partition, first_offset, last_offset FROM ledger")
    for topic, partition, first, last in await cursor.fetchall():
        spans.setdefault((topic, partition), []).append((first, last))
    doubles: dict[tuple[str, int], list[Span]] = {}
    cursor = await conn.execute("SELECT topic, partition, first_offset, last_offset FROM ledger_doubles")
    for topic, partition, first, last in await cursor.fetchall():
        doubles.setdefault((topic, partition), []).append((first, last))
    result: dict[tuple[str, int], LedgerRows] = {}
    for name in spans.keys() | doubles.keys():
        covered, unmerged_doubles = merge(spans.get(name, []))
        result[name] = LedgerRows(covered, merge([*doubles.get(name, []), *unmerged_doubles])[0])
    return result


async def ledger_starts(conn: AsyncConnection) -> dict[tuple[str, int], int]:
    cursor = await conn.execute("SELECT topic, partition, first_offset FROM ledger_start")
    return {(topic, partition): first for topic, partition, first in await cursor.fetchall()}


async def begin_ledger(conn: AsyncConnection, committed: dict[tuple[str, int], int | None]) -> None:
    """Give each input partition without one its first offset: 0 in a deployment that was fresh when the
    ledger began, else the offset ingest had committed when the ledger first saw the partition."""
    async with conn.transaction():
        cursor = await conn.execute("SELECT fresh FROM ledger_origin")
        row = await cursor.fetchone()
        fresh = bool(row[0]) if row else True
        for (topic, partition), offset in sorted(committed.items()):
            await conn.execute(
                "INSERT INTO ledger_start (topic, partition, first_offset) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (topic, partition, 0 if fresh else (offset if offset is not None and offset > 0 else 0)),
            )


@dataclass(frozen=True)
class Mark:
    taken_at: datetime
    ingest_committed: dict[str, int]  # "topic:partition" → committed offset
    downstream_ends: dict[str, int]  # "topic:partition" → end offset
    downstream_committed: dict[str, int]  # "topic:partition" → the app's committed offset there


async def add_mark(conn: AsyncConnection, mark: Mark, *, keep: timedelta) -> None:
    """Store a mark and forget those older than `keep` (never the newest)."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO ledger_marks (taken_at, ingest_committed, downstream_ends, downstream_committed)"
            " VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (mark.taken_at, Jsonb(mark.ingest_committed), Jsonb(mark.downstream_ends),
             Jsonb(mark.downstream_committed)),
        )
        await conn.execute("DELETE FROM ledger_marks WHERE taken_at < %s", (mark.taken_at - keep,))


async def all_marks(conn: AsyncConnection) -> list[Mark]:
    """Every mark kept, oldest first."""
    cursor = await conn.execute(
        "SELECT taken_at, ingest_committed, downstream_ends, downstream_committed FROM ledger_marks ORDER BY taken_at")
    return [Mark(taken_at, dict(committed), dict(ends), dict(passed))
            for taken_at, committed, ends, passed in await cursor.fetchall()]


async def parked_inputs(conn: AsyncConnection) -> list[InputCoordinates]:
    """The input records whose outcome is a change still parked (spec §2.4.12): never unaccounted."""
    cursor = await conn.execute("SELECT change FROM sink_parked WHERE resolved_at IS NULL")
    found = []
    for (change,) in await cursor.fetchall():
        try:
            source = decode_change(bytes(change)).input
        except (ValueError, KeyError, TypeError):  # parked for what its JSON holds: names no input we can read
            continue
        if source is not None:
            found.append(source)
    return found
