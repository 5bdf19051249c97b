"""Writes one batch of group changes to Postgres in one transaction, idempotently (spec §2.4.3, §19).

Commit protocol of a batch (the caller opens the transaction, commits it, and only then forwards and acks):
1. Lock this topic's `sink_offsets` rows of the batch's partitions and drop every change at or below
   them: those were committed by an earlier attempt, so additive writes happen once. Drop, too, every
   change marked `replay` (sent again by the engine after a crash) whose occurrence is already stored.
   Apply a partition's changes only without gaps from where the sink stopped: after a missing offset
   the rest waits (`deferred`), and the caller seeks the partition back to it (`holes`).
2. Create the projects the batch mentions (default settings, spec §11.1), in id order.
3. Store embedded events; the first event written for (project_id, event_id) wins (spec §5.6).
4. Upsert groups, coalesced to the newest version per (group key, generation), in key order so that
   concurrent sinks lock rows in one order and never deadlock. A short id is drawn from the project
   counter only for a group row that does not exist yet (spec §13.4.1).
5. Map each created group's hash to it (`group_hashes`).
6. Upsert occurrence rows: linked to their group, or groupless with their outcome (spec §7.4).
7. Link what a creation counted: the key's groupless held-back and refused occurrences whose T lies in
   the deciding noise window, and those that waited for the quota answer (spec §13.1.5, §13.2.5).
8. Mark the occurrences of a refused quota request `quota_refused` (spec §13.2.5 step 4); only rows
   really marked are counted, so a refusal applied twice counts once.
9. Add hourly counts in the bucket of each linked occurrence's own T (spec §15.5.3) and register group
   environments (spec §12.8).
10. Store activities under their deterministic ids (spec §18.2).
11. Add counted drops (spec §7.4) to `drop_counters`, one statement per (project, type, outcome). A drop
    with a count id (ingest-stage drops, duplicates) is counted the first time its id is recorded.
12. Record the highest applied offset per partition in `sink_offsets`.
The groups of every change in the batch, applied now or before, are returned so the caller can forward
post-process and activity messages for all of them (re-sent messages carry the same id, spec §2.3.4).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from psycopg import AsyncConnection, AsyncCursor

# The outcomes of spec §7.4 that are counted per (project, type, outcome). `pending_quota` is a transient
# state of a stored occurrence, not a drop.
COUNTED_OUTCOMES = frozenset({"ingest_disabled", "rate_limited", "duplicate", "held_back", "quota_refused"})
# Decided at ingest, before any table remembers the input: their ids come from the input's coordinates.
INGEST_DROP_OUTCOMES = frozenset({"ingest_disabled"})


@dataclass(frozen=True)
class ChangeRecord:
    """One message of the group-changes topic, with the coordinates it was read from."""

    partition: int
    offset: int
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.body["kind"]

    @property
    def group(self) -> dict[str, Any]:
        return self.body["group"]

    @property
    def has_group(self) -> bool:
        return self.body.get("group") is not None

    @property
    def group_identity(self) -> tuple[str, int]:
        return self.group["group_key"], self.group["generation"]


@dataclass(frozen=True)
class PersistedGroup:
    id: int
    short_id: int
    project_slug: str


@dataclass
class BatchResult:
    applied: list[ChangeRecord] = field(default_factory=list)
    skipped: list[ChangeRecord] = field(default_factory=list)
    # Changes beyond a hole in their partition's offsets: not written; to be read again from `holes`.
    deferred: list[ChangeRecord] = field(default_factory=list)
    # partition → the first offset this sink has not seen: the consumer must seek back there.
    holes: dict[int, int] = field(default_factory=dict)
    # partition → the highest offset now applied without a gap (a skipped replay included).
    through: dict[int, int] = field(default_factory=dict)
    groups: dict[tuple[str, int], PersistedGroup] = field(default_factory=dict)


async def _insert_rows(cur: AsyncCursor[Any], statement: str, types: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Many rows in one statement, sent as one JSON array of rows and split server-side.

    One orjson call replaces psycopg's per-column array dumping, which was most of the sink's client CPU.
    `statement` names the row source `{rows}` (a subquery: give it an alias); keys must be unique.
    """
    if not rows:
        return
    columns = ", ".join(
        # `->` keeps a JSON column as jsonb; `->>` gives text to cast (JSON null becomes SQL NULL).
        f"r->{index}" if column_type == "jsonb" else f"(r->>{index})::{column_type}"
        for index, column_type in enumerate(types)
    )
    source = f"(SELECT {columns} FROM jsonb_array_elements(%s::jsonb) AS r)"
    for chunk in _chunks(rows):
        await cur.execute(statement.format(rows=source), [chunk])


# Postgres refuses a jsonb value over 256 MB; payloads of up to 1 MiB each can get there in one batch.
MAX_JSON_BYTES = 64 * 1024 * 1024


def _chunks(rows: Sequence[tuple[Any, ...]], limit: int = MAX_JSON_BYTES) -> list[str]:
    """The rows as JSON arrays of at most `limit` bytes each, in order (so locks are still taken in order)."""
    blob = orjson.dumps(rows)
    if len(blob) <= limit or len(rows) == 1:
        return [blob.decode()]
    middle = len(rows) // 2
    return _chunks(rows[:middle], limit) + _chunks(rows[middle:], limit)


def _ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _hour(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch - epoch % 3600, UTC)


def _parse_ts(value: Any) -> datetime:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


async def write_batch(
    conn: AsyncConnection, topic: str, changes: Sequence[ChangeRecord], *, pipeline: bool = True, gapless: bool = True
) -> BatchResult:
    result = BatchResult()
    if not changes:
        return result
    # Pipeline mode: statements whose results are not read go out without waiting for the one before.
    # `pipeline=False` only for bench/sink_bench.py's naive writer, which sends one statement at a time.
    async with (conn.pipeline() if pipeline else nullcontext()), conn.cursor() as cur:
        # psycopg prepares a statement on its fifth use, and Postgres then switches it to a generic plan,
        # which cannot see how many rows a batch brings: batches of 5,000 went from 0.25 s to 7-10 s
        # after the eleventh (bench/sink_bench.py). A custom plan per execution keeps them at 0.25 s.
        await cur.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        await _split_applied(cur, topic, changes, result, gapless=gapless)  # 1
        applied = result.applied
        grouped = [change for change in applied if change.has_group]
        await _create_projects(cur, applied)  # 2
        await _store_events(cur, applied)  # 3
        newest, missing = await _upsert_groups(cur, grouped, changes)  # 4
        identities = sorted({change.group_identity for change in changes if change.has_group})
        result.groups = await _persisted_groups(cur, identities)
        await _map_hashes(cur, missing, result.groups)  # 5
        await _upsert_occurrences(cur, applied, result.groups)  # 6
        hourly: Counter[tuple[int, datetime]] = Counter()
        environments: dict[tuple[int, str], datetime] = {}
        creations: list[tuple[ChangeRecord, int]] = []
        for change in grouped:
            group_id = result.groups[change.group_identity].id
            if change.kind == "occurrence" and not change.body.get("occurrence_stored"):
                hourly[(group_id, _hour(change.body["t"]))] += 1
                environment = change.body.get("environment") or ""
                environments.setdefault((group_id, environment), _ts(change.body["t"]))  # type: ignore[arg-type]
            if change.body.get("link"):
                creations.append((change, group_id))
        await _link(cur, creations, hourly, environments)  # 7
        refused = await _refuse(cur, applied)  # 8
        await _add_hourly_counts(cur, hourly, environments)  # 9
        await _store_activities(cur, grouped, result.groups)  # 10
        await _count_drops(cur, applied, refused)  # 11
        await _record_offsets(cur, topic, result.through)  # 12
    return result


async def _split_applied(
    cur: AsyncCursor[Any], topic: str, changes: Sequence[ChangeRecord], result: BatchResult, *, gapless: bool
) -> None:
    partitions = sorted({change.partition for change in changes})
    # One writer per partition at a time, for the whole transaction, in partition order (no deadlock).
    # The row lock below cannot do it alone: a partition without a row yet locks nothing, and two sinks
    # (the new owner and the old one finishing a batch after a rebalance) then both applied it.
    await cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s), p) FROM unnest(%s::int[]) AS p", (topic, partitions))
    await cur.execute(
        'SELECT partition, "offset" FROM sink_offsets WHERE topic = %s AND partition = ANY(%s)'
        " ORDER BY partition FOR UPDATE",
        (topic, partitions),
    )
    applied_up_to = dict(await cur.fetchall())
    fresh = _contiguous(changes, applied_up_to, result, gapless=gapless)
    # A change sent again after a crash (engine.replayed_changes) is applied only if its occurrence is not
    # stored yet: the occurrence row and every additive effect of the change commit together.
    replays = sorted({(c.body["occurrence"]["project_id"], c.body["occurrence"]["id"])
                      for c in fresh if c.body.get("replay") and c.body.get("occurrence") is not None})
    stored: set[tuple[int, str]] = set()
    if replays:
        await cur.execute(
            "SELECT o.project_id, o.id FROM occurrences o"
            " JOIN unnest(%s::bigint[], %s::text[]) AS r(project_id, id) USING (project_id, id)",
            [list(column) for column in zip(*replays)],
        )
        stored = {(row[0], row[1]) for row in await cur.fetchall()}
    # The original may also be in this very batch, ahead of its replay: then it is the one applied.
    in_batch: set[tuple[int, str]] = set()
    for change in fresh:
        occurrence = change.body.get("occurrence")
        identity = (occurrence["project_id"], occurrence["id"]) if occurrence is not None else None
        if change.body.get("replay") and identity is not None and (identity in stored or identity in in_batch):
            result.skipped.append(change)
            continue
        if identity is not None:
            in_batch.add(identity)
        result.applied.append(change)


def _contiguous(
    changes: Sequence[ChangeRecord], applied_up_to: dict[int, int], result: BatchResult, *, gapless: bool
) -> list[ChangeRecord]:
    """The changes that continue each partition where the sink stopped, in offset order.

    `sink_offsets` means "every offset up to here is applied", so a change may only follow the last one
    applied. Below it: applied before, or a second copy in this batch (a redelivery around a rebalance),
    skipped. Above it, with offsets missing in between: the consumer never handed those over (Faust can
    skip records around a rebalance), so the rest of the partition waits in `deferred` and `holes` says
    where to read from. A partition the sink has never written starts at offset 0.

    `gapless=False` for topics written in transactions (`exactly_once`): their commit markers take
    offsets that no consumer ever sees, so a gap there is not a hole.
    """
    expected = {partition: offset + 1 for partition, offset in applied_up_to.items()}
    fresh: list[ChangeRecord] = []
    for change in sorted(changes, key=lambda c: (c.partition, c.offset)):
        partition = change.partition
        if partition in result.holes:
            result.deferred.append(change)
            continue
        next_offset = expected.get(partition, 0 if gapless else change.offset)
        if change.offset < next_offset:
            result.skipped.append(change)
        elif change.offset == next_offset or not gapless:
            fresh.append(change)
            expected[partition] = change.offset + 1
            result.through[partition] = change.offset
        else:
            result.holes[partition] = next_offset
            result.deferred.append(change)
    return fresh


async def _create_projects(cur: AsyncCursor[Any], applied: Sequence[ChangeRecord]) -> None:
    project_ids = sorted({change.body["project_id"] for change in applied})
    if project_ids:
        await cur.executemany(
            # No conflict target: two sinks creating one project at once collide on the slug index too.
            "INSERT INTO projects (id, slug) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [(pid, f"p{pid}") for pid in project_ids],
        )


async def _store_events(cur: AsyncCursor[Any], applied: Sequence[ChangeRecord]) -> None:
    events: dict[tuple[int, str], tuple[dict[str, Any], float]] = {}
    for change in applied:
        event = change.body.get("event")
        if event:
            events.setdefault((event["project_id"], event["event_id"]), (event, change.body["t"]))
    if events:
        await _insert_rows(
            cur,
            "INSERT INTO events (project_id, event_id, platform, timestamp, received, environment, data)"
            " SELECT * FROM {rows} AS event ON CONFLICT (project_id, event_id) DO NOTHING",
            ("bigint", "text", "text", "timestamptz", "timestamptz", "text", "jsonb"),
            [
                (
                    project_id, event_id, event["platform"], _parse_ts(event["timestamp"]),
                    # `received` defaults to T (spec §5.3).
                    _parse_ts(event["received"]) if event.get("received") is not None else _ts(t),
                    event.get("environment"), event,
                )
                for (project_id, event_id), (event, t) in sorted(events.items())
            ],
        )


async def _upsert_groups(
    cur: AsyncCursor[Any], grouped: Sequence[ChangeRecord], changes: Sequence[ChangeRecord]
) -> tuple[dict[tuple[str, int], dict[str, Any]], list[tuple[str, int]]]:
    newest: dict[tuple[str, int], dict[str, Any]] = {}
    for change in grouped:
        current = newest.get(change.group_identity)
        if current is None or change.group["version"] > current["version"]:
            newest[change.group_identity] = change.group
    existing = await _existing_groups(cur, sorted(newest))
    missing = [identity for identity in sorted(newest) if identity not in existing]
    short_ids = await _allocate_short_ids(cur, [newest[identity] for identity in missing])
    rows = []
    for identity in sorted(newest):
        short_id = short_ids[identity] if identity in short_ids else existing[identity][1]
        rows.append(_group_row(newest[identity], short_id))
    await _insert_rows(cur, _UPSERT_GROUP, _GROUP_TYPES, rows)
    return newest, missing


async def _map_hashes(
    cur: AsyncCursor[Any], missing: Sequence[tuple[str, int]], persisted: dict[tuple[str, int], PersistedGroup]
) -> None:
    rows = []
    for identity in missing:
        project_id, group_hash = identity[0].split(":", 1)
        rows.append((int(project_id), group_hash, persisted[identity].id))
    await _insert_rows(
        cur,
        "INSERT INTO group_hashes (project_id, hash, group_id) SELECT * FROM {rows} AS hashes"
        " ON CONFLICT (project_id, hash) DO UPDATE SET group_id = EXCLUDED.group_id",
        ("bigint", "text", "bigint"),
        sorted(rows),
    )


async def _upsert_occurrences(
    cur: AsyncCursor[Any], applied: Sequence[ChangeRecord], persisted: dict[tuple[str, int], PersistedGroup]
) -> None:
    # One row per (project_id, id), the latest change winning: an id may come again under another
    # group key (spec §12.3), and one statement cannot upsert a key twice.
    latest: dict[tuple[int, str], tuple[Any, ...]] = {}
    for change in applied:
        if change.body.get("occurrence") is not None and not change.body.get("occurrence_stored"):
            row = _occurrence_row(change, persisted[change.group_identity].id if change.has_group else None)
            latest[(row[0], row[1])] = row
    await _insert_rows(cur, _UPSERT_OCCURRENCE, _OCCURRENCE_TYPES, [latest[key] for key in sorted(latest)])


async def _link(
    cur: AsyncCursor[Any],
    creations: Sequence[tuple[ChangeRecord, int]],
    hourly: Counter[tuple[int, datetime]],
    environments: dict[tuple[int, str], datetime],
) -> None:
    """Attach what each creation counted, for all creations of the batch in two statements (§13.1.5)."""
    by_id: list[tuple[int, str, int, str]] = []
    by_window: list[tuple[int, str, int, datetime, datetime]] = []
    for change, group_id in creations:
        link = change.body["link"]
        project_id, key = change.body["project_id"], change.body["group_key"]
        by_id.extend((project_id, occurrence_id, group_id, link["creator_id"]) for occurrence_id in link["ids"])
        if link.get("window"):
            start, end = link["window"]
            by_window.append((project_id, key, group_id, _ts(start), _ts(end)))  # type: ignore[arg-type]
    linked: list[tuple[int, datetime, str]] = []
    if by_id:
        await cur.execute(
            """
            UPDATE occurrences o SET group_id = l.group_id,
                outcome = CASE WHEN o.outcome = 'pending_quota'
                               THEN CASE WHEN o.id = l.creator THEN 'created' ELSE 'applied' END
                               ELSE o.outcome END
            FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[]) AS l(project_id, id, group_id, creator)
            WHERE o.project_id = l.project_id AND o.id = l.id AND o.group_id IS NULL
            RETURNING o.group_id, o.received, o.environment
            """,
            [list(column) for column in zip(*by_id)],
        )
        linked.extend(await cur.fetchall())
    if by_window:
        await cur.execute(
            """
            UPDATE occurrences o SET group_id = l.group_id
            FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::timestamptz[], %s::timestamptz[])
                AS l(project_id, group_key, group_id, first_t, last_t)
            WHERE o.project_id = l.project_id AND o.group_key = l.group_key AND o.group_id IS NULL
              AND o.outcome IN ('held_back', 'quota_refused') AND o.received BETWEEN l.first_t AND l.last_t
            RETURNING o.group_id, o.received, o.environment
            """,
            [list(column) for column in zip(*by_window)],
        )
        linked.extend(await cur.fetchall())
    for group_id, received, environment in linked:
        hourly[(group_id, _hour(received.timestamp()))] += 1
        environments.setdefault((group_id, environment), received)


async def _refuse(cur: AsyncCursor[Any], applied: Sequence[ChangeRecord]) -> Counter[tuple[int, int]]:
    """Mark refused occurrences; returns how many were refused per (project, type), to be counted.

    Counted from the rows really marked, so a refusal applied twice (a replay) counts once.
    """
    refused: Counter[tuple[int, int]] = Counter()
    for change in applied:
        if change.kind != "quota_refused":
            continue
        await cur.execute(
            "UPDATE occurrences SET outcome = 'quota_refused'"
            " WHERE project_id = %s AND id = ANY(%s) AND outcome = 'pending_quota' RETURNING id",
            (change.body["project_id"], change.body["ids"]),
        )
        refused[(change.body["project_id"], change.body["type_id"])] += len(await cur.fetchall())
    return refused


async def _add_hourly_counts(
    cur: AsyncCursor[Any], hourly: Counter[tuple[int, datetime]], environments: dict[tuple[int, str], datetime]
) -> None:
    await _insert_rows(
        cur,
        "INSERT INTO hourly_counts (group_id, hour, count) SELECT * FROM {rows} AS counts"
        " ON CONFLICT (group_id, hour) DO UPDATE SET count = hourly_counts.count + EXCLUDED.count",
        ("bigint", "timestamptz", "bigint"),
        [(group_id, hour, count) for (group_id, hour), count in sorted(hourly.items())],
    )
    await _insert_rows(
        cur,
        "INSERT INTO group_environments (group_id, environment, first_seen) SELECT * FROM {rows} AS seen"
        " ON CONFLICT (group_id, environment) DO NOTHING",
        ("bigint", "text", "timestamptz"),
        [(group_id, environment, seen) for (group_id, environment), seen in sorted(environments.items())],
    )


async def _store_activities(
    cur: AsyncCursor[Any], grouped: Sequence[ChangeRecord], persisted: dict[tuple[str, int], PersistedGroup]
) -> None:
    rows = []
    for change in grouped:
        group_id = persisted[change.group_identity].id
        for activity in change.body.get("activities", ()):
            rows.append((
                activity["id"], group_id, change.body["project_id"], activity["type"], activity["data"],
                _ts(activity["datetime"]), activity.get("actor"), activity["source"], change.body["cause_id"],
            ))
    rows.sort(key=lambda row: row[0])
    await _insert_rows(
        cur,
        "INSERT INTO activities (id, group_id, project_id, type, data, datetime, actor, source, cause_id)"
        " SELECT * FROM {rows} AS activity ON CONFLICT (id) DO NOTHING",
        ("text", "bigint", "bigint", "smallint", "jsonb", "timestamptz", "text", "text", "text"),
        rows,
    )


async def _count_drops(
    cur: AsyncCursor[Any], applied: Sequence[ChangeRecord], refused: Counter[tuple[int, int]]
) -> None:
    drops: Counter[tuple[int, int, str]] = Counter()
    first_time = await _first_counts(cur, applied)
    for change in applied:
        body = change.body
        if body["kind"] == "drop" and _count_id(change) is not None and _count_id(change) not in first_time:
            continue  # the same drop again (input re-read, or a replayed change): counted already
        if body["kind"] == "drop" and body["outcome"] in COUNTED_OUTCOMES:
            drops[(body["project_id"], body["type_id"], body["outcome"])] += 1
    for (project_id, type_id), count in refused.items():
        if count:
            drops[(project_id, type_id, "quota_refused")] += count
    if drops:
        await cur.executemany(
            "INSERT INTO drop_counters (project_id, type_id, outcome, count) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (project_id, type_id, outcome) DO UPDATE"
            " SET count = drop_counters.count + EXCLUDED.count, updated_at = now()",
            [(*key, count) for key, count in sorted(drops.items())],
        )


def _count_id(change: ChangeRecord) -> str | None:
    """The id a drop is counted once by: the input's for ingest-stage drops, the engine's for duplicates."""
    if change.body["outcome"] in INGEST_DROP_OUTCOMES:
        return change.body["id"]
    return change.body.get("count_id")


async def _first_counts(cur: AsyncCursor[Any], applied: Sequence[ChangeRecord]) -> set[str]:
    """Record the count ids of drops that have one; returns those seen for the first time (spec §2.4.1)."""
    ids = sorted({count_id for c in applied if c.kind == "drop" and (count_id := _count_id(c)) is not None})
    if not ids:
        return set()
    await cur.execute(
        "INSERT INTO counted_drops (id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING RETURNING id",
        (ids,),
    )
    return {row[0] for row in await cur.fetchall()}


async def prune_counted_drops(conn: AsyncConnection, older_than: timedelta) -> int:
    """Forget count ids recorded before `older_than` ago; returns how many. Commits on its own."""
    async with conn.transaction():
        cursor = await conn.execute("DELETE FROM counted_drops WHERE counted_at < now() - %s", (older_than,))
        return cursor.rowcount


async def advance_sink_offset(conn: AsyncConnection, topic: str, partition: int, offset: int) -> None:
    """Declare every offset up to `offset` of a partition done, for offsets that no longer exist."""
    async with conn.transaction():
        await conn.execute(
            'INSERT INTO sink_offsets (topic, partition, "offset") VALUES (%s, %s, %s)'
            ' ON CONFLICT (topic, partition) DO UPDATE SET "offset" = GREATEST(sink_offsets."offset", EXCLUDED."offset"),'
            " updated_at = now()",
            (topic, partition, offset),
        )


async def _record_offsets(cur: AsyncCursor[Any], topic: str, through: dict[int, int]) -> None:
    if through:
        await cur.executemany(
            'INSERT INTO sink_offsets (topic, partition, "offset") VALUES (%s, %s, %s)'
            ' ON CONFLICT (topic, partition) DO UPDATE SET "offset" = EXCLUDED."offset", updated_at = now()',
            [(topic, partition, offset) for partition, offset in sorted(through.items())],
        )


async def _existing_groups(cur: AsyncCursor[Any], identities: Sequence[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
    if not identities:
        return {}
    await cur.execute(
        "SELECT group_key, generation, id, short_id FROM groups"
        " WHERE (group_key, generation) IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
        ([key for key, _ in identities], [generation for _, generation in identities]),
    )
    return {(key, generation): (gid, short_id) for key, generation, gid, short_id in await cur.fetchall()}


async def _persisted_groups(cur: AsyncCursor[Any], identities: Sequence[tuple[str, int]]) -> dict[tuple[str, int], PersistedGroup]:
    if not identities:
        return {}
    await cur.execute(
        "SELECT g.group_key, g.generation, g.id, g.short_id, p.slug FROM groups g JOIN projects p ON p.id = g.project_id"
        " WHERE (g.group_key, g.generation) IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
        ([key for key, _ in identities], [generation for _, generation in identities]),
    )
    return {
        (key, generation): PersistedGroup(id=gid, short_id=short_id, project_slug=slug)
        for key, generation, gid, short_id, slug in await cur.fetchall()
    }


async def _allocate_short_ids(cur: AsyncCursor[Any], groups: Sequence[dict[str, Any]]) -> dict[tuple[str, int], int]:
    """Take a block of consecutive values per project from its counter (spec §13.4.1)."""
    by_project: dict[int, list[dict[str, Any]]] = {}
    for group in groups:
        by_project.setdefault(group["project_id"], []).append(group)
    if not by_project:
        return {}
    project_ids = sorted(by_project)
    # Rows locked in id order first, as every writer does, so concurrent sinks cannot deadlock on them
    # whatever order the join below visits them in; then one statement for every project of the batch.
    await cur.execute("SELECT 1 FROM projects WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (project_ids,))
    await cur.execute(
        "UPDATE projects p SET next_short_id = p.next_short_id + n.count"
        " FROM unnest(%s::bigint[], %s::bigint[]) AS n(id, count) WHERE p.id = n.id"
        " RETURNING p.id, p.next_short_id",
        (project_ids, [len(by_project[project_id]) for project_id in project_ids]),
    )
    next_free = dict(await cur.fetchall())
    allocated: dict[tuple[str, int], int] = {}
    for project_id in project_ids:
        members = by_project[project_id]
        assert project_id in next_free, f"project {project_id} must exist before its groups"
        first = next_free[project_id] - len(members)
        for index, group in enumerate(members):
            allocated[(group["group_key"], group["generation"])] = first + index
    return allocated


_GROUP_COLUMNS = (
    "project_id, group_key, generation, type, status, substatus, substatus_since, priority, priority_locked_at,"
    " short_id, assignee, first_seen, last_seen, times_seen, level, culprit, title, subtitle, message, platform,"
    " resolved_at, data, version"
)
_GROUP_TYPES = (
    "bigint", "text", "int", "int", "smallint", "smallint", "timestamptz", "smallint", "timestamptz", "bigint",
    "text", "timestamptz", "timestamptz", "bigint", "smallint", "text", "text", "text", "text", "text",
    "timestamptz", "jsonb", "bigint",
)
_UPSERT_GROUP = f"""
INSERT INTO groups ({_GROUP_COLUMNS})
SELECT * FROM {{rows}} AS incoming
ORDER BY 2, 3
ON CONFLICT (group_key, generation) DO UPDATE SET
    status = EXCLUDED.status, substatus = EXCLUDED.substatus, substatus_since = EXCLUDED.substatus_since,
    priority = EXCLUDED.priority, priority_locked_at = EXCLUDED.priority_locked_at,
    assignee = EXCLUDED.assignee, first_seen = EXCLUDED.first_seen,
    last_seen = EXCLUDED.last_seen, times_seen = EXCLUDED.times_seen, level = EXCLUDED.level,
    culprit = EXCLUDED.culprit, title = EXCLUDED.title, subtitle = EXCLUDED.subtitle,
    message = EXCLUDED.message, platform = EXCLUDED.platform, resolved_at = EXCLUDED.resolved_at,
    data = EXCLUDED.data, version = EXCLUDED.version, updated_at = now()
WHERE groups.version < EXCLUDED.version
"""


def _group_row(group: dict[str, Any], short_id: int) -> tuple[Any, ...]:
    # spec §12.4: metadata.title/value follow the occurrence; metadata.initial_priority never changes.
    data = {
        "metadata": {
            "title": group["title"],
            "value": group["subtitle"],
            "initial_priority": group["initial_priority"],
        }
    }
    return (
        group["project_id"], group["group_key"], group["generation"], group["type_id"], group["status"],
        group["substatus"], _ts(group["substatus_since"]), group["priority"], _ts(group.get("priority_locked_at")),
        short_id, group["assignee"], _ts(group["first_seen"]), _ts(group["last_seen"]), group["times_seen"],
        group["level"], group["culprit"], group["title"], group["subtitle"], group["message"], group["platform"],
        _ts(group.get("resolved_at")), data, group["version"],
    )


_OCCURRENCE_TYPES = (
    "bigint", "text", "bigint", "text", "text", "timestamptz", "text", "text", "int", "text", "text", "text",
    "smallint", "timestamptz", "jsonb", "jsonb", "smallint", "text", "text", "text",
)
_UPSERT_OCCURRENCE = """
INSERT INTO occurrences (project_id, id, group_id, group_key, outcome, received, event_id, fingerprint, type,
    issue_title, subtitle, culprit, level, detection_time, evidence_display, evidence_data, priority,
    assignee, resource_id, environment)
SELECT project_id, id, group_id, group_key, outcome, received, event_id, string_to_array(fingerprint, ','), type,
    issue_title, subtitle, culprit, level, detection_time, evidence_display, evidence_data, priority,
    assignee, resource_id, environment
FROM {rows} AS r(project_id, id, group_id, group_key, outcome, received, event_id, fingerprint, type,
    issue_title, subtitle, culprit, level, detection_time, evidence_display, evidence_data, priority,
    assignee, resource_id, environment)
ON CONFLICT (project_id, id) DO UPDATE SET
    group_id = EXCLUDED.group_id, group_key = EXCLUDED.group_key, outcome = EXCLUDED.outcome,
    received = EXCLUDED.received, event_id = EXCLUDED.event_id, fingerprint = EXCLUDED.fingerprint,
    type = EXCLUDED.type, issue_title = EXCLUDED.issue_title, subtitle = EXCLUDED.subtitle,
    culprit = EXCLUDED.culprit, level = EXCLUDED.level, detection_time = EXCLUDED.detection_time,
    evidence_display = EXCLUDED.evidence_display, evidence_data = EXCLUDED.evidence_data,
    priority = EXCLUDED.priority, assignee = EXCLUDED.assignee, resource_id = EXCLUDED.resource_id,
    environment = EXCLUDED.environment
"""


def _occurrence_row(change: ChangeRecord, group_id: int | None) -> tuple[Any, ...]:
    occurrence = change.body["occurrence"]
    environment = change.body.get("environment") or occurrence.get("environment") or ""
    return (
        occurrence["project_id"], occurrence["id"], group_id, change.body["group_key"], change.body["outcome"],
        # Fingerprint hashes are hex, so a comma-joined string is an unambiguous array (see the upsert).
        _ts(change.body["t"]), occurrence["event_id"], ",".join(occurrence["fingerprint"]), occurrence["type"],
        occurrence["issue_title"], occurrence["subtitle"], occurrence["culprit"], occurrence["level"],
        _parse_ts(occurrence["detection_time"]), occurrence.get("evidence_display", []),
        occurrence.get("evidence_data", {}), occurrence.get("priority"), occurrence.get("assignee"),
        occurrence.get("resource_id"), environment,
    )
