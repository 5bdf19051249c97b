"""Writes one batch of group changes to Postgres in one transaction, idempotently (spec §2.4.3, §19).

Commit protocol of a batch (the caller opens the transaction, commits it, and only then forwards and acks):
1. Lock this topic's `sink_offsets` rows of the batch's partitions and drop every change at or below
   them: those were committed by an earlier attempt, so additive writes happen once. Apply a partition's
   changes only without gaps from where the sink stopped: after a missing offset the rest waits
   (`deferred`), and the caller seeks the partition back to it (`holes`). Set aside for `sink_parked`
   (spec §2.4.12) each change the caller found failing alone, and every change of a key with a parked
   change in its partition: a key's changes apply in offset order or wait together.
1b. Record in `sink_applied_changes`, in one statement, the output id (spec §2.4.7) of every change that
   continues its partition, is not set aside and carries one; drop each change whose id was recorded
   before, or repeats an id earlier in the batch: the grouping owner that crashed after its outputs were
   acknowledged but before its state was written sends the same changes again, under the same ids, at new
   offsets. A dropped copy's offset is done all the same, and it is not forwarded (its original was). A
   parked change's id is recorded only when a retry applies it. Drop, too, every change marked `replay`
   (sent again by the grouping owner after a crash) whose occurrence is already stored: the only check a
   change without an id gets.
2. Create the projects the batch mentions (default settings, spec §11.1), in id order.
3. Store embedded events; the first event written for (project_id, event_id) wins (spec §5.6).
4. Upsert groups, coalesced to the newest version per (group key, generation), in key order so that
   concurrent sinks lock rows in one order and never deadlock. A short id is drawn from the project
   counter only for a group row that does not exist yet (spec §13.4.1).
5. Map each created group's hash to it (`group_hashes`).
6. Upsert occurrence rows: linked to their group, or groupless with their outcome (spec §7.4).
6b. Keep, under its request id, what each occurrence waiting for a quota answer needs for its post-process
   message (`quota_waiters`, spec §2.4.11): the grouping owner keeps only counts and the first ids.
7. Link what a creation counted: the key's groupless held-back and refused occurrences whose T lies in
   the deciding noise window, and those that waited for the quota answer (spec §13.1.5, §13.2.5).
8. Mark the occurrences of a refused quota request `quota_refused` (spec §13.2.5 step 4); only rows
   really marked are counted, so a refusal applied twice counts once. Steps 7 and 8 reach every waiter of
   the request through `quota_waiters`, and record which change answered it.
9. Add hourly counts in the bucket of each linked occurrence's own T (spec §15.5.3) and register group
   environments (spec §12.8).
10. Store activities under their deterministic ids (spec §18.2).
10b. Store the tickets `external_issue` changes link to or unlink from groups (spec §24.4): no statement without one.
11. Add counted drops (spec §7.4) to `drop_counters`, one statement per (project, type, outcome). A drop
    with a count id (ingest-stage drops, duplicates) is counted the first time its id is recorded.
11b. Read the waiters of every creation the caller forwards (applied now or read again), for their
    post-process messages (`BatchResult.waiters`).
11c. Record in the ledger the input records whose outcome a change applied now is (spec §2.4.13): a change
    skipped, repeated or parked records nothing (its outcome is recorded when it is applied), nor does an
    ingest drop sent again (its count id is known). An outcome `lost` (the reconciler's, §2.4.13) is listed in
    `ledger_lost` too, unless the ledger already holds an outcome for its input: then the reconciler took an
    outcome still on its way for a lost one, and the `lost` is dropped.
11d. Remove the groups an API delete names (spec §20.9, §19): the group row and, by its cascades, its hashes,
    occurrences, environments, activities and hourly counts. Their events are only queued (`event_sweep`): the
    hourly housekeeping deletes those no occurrence references any more, once no occurrence naming one can still
    be on its way (storage.events.sweep_orphan_events). Last, so a change of the group earlier in the batch is
    removed with it.
11e. Record each API change's outcome in `api_changes` (spec §20.8.4): what `?wait=1` waits for.
12. Park what step 1 set aside in `sink_parked`, then record the highest offset per partition that is applied
    or parked in `sink_offsets`: a parked change is done for the partition, which moves on.
The groups of every change in the batch, applied now or before, are returned so the caller can forward
post-process and activity messages for all of them (re-sent messages carry the same id, spec §2.3.4).

A batch that fails for a reason of its own changes (`is_change_failure`) is cut in halves by `write_or_park`,
each written in its own transaction, until the change that fails alone is found; tried alone once more, it is
then written with `failed` naming it, which parks it (spec §2.4.12). `retry_parked` applies a key's parked
changes later through the same steps 1b-11.

`prune_applied_changes` forgets the ids of changes whose cause the grouping consumer group has committed past
(spec §2.4.7); the housekeeping timer (streams.timers.housekeeping) calls it.

This module is the SQL of each step; what each step writes is decided in storage.sink_plan.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection, AsyncCursor

from storage.changes import QuotaRefusal, decode_change
from storage.errors import MissingGroupRow, is_change_failure
from storage.external_issues import link_writes, write_links
from storage.ledger import record_lost, record_outcomes, unrecorded
from storage.sink_plan import (
    BatchPlan,
    BatchResult,
    ChangeFailure,
    ChangeRecord,
    Coordinates,
    GroupIdentity,
    ParkedChange,
    PartitionKey,
    PersistedGroup,
    Row,
    ShortIdRequest,
    assign_short_ids,
    contiguous,
    drop_repeated_outputs,
    drop_stored_replays,
    group_identities,
    halves,
    merged,
    output_ids,
    partitions,
    replays_to_check,
    set_aside,
    waiting_creations,
)


async def write_batch(
    conn: AsyncConnection,
    topic: str,
    changes: Sequence[ChangeRecord],
    *,
    pipeline: bool = True,
    gapless: bool = True,
    failed: Mapping[Coordinates, ChangeFailure] | None = None,
) -> BatchResult:
    """`failed`: changes found failing alone, to park instead of applying (spec §2.4.12)."""
    if not changes:
        return BatchResult()
    # Pipeline mode: statements whose results are not read go out without waiting for the one before.
    # `pipeline=False` only for bench/sink_bench.py's naive writer, which sends one statement at a time.
    async with (conn.pipeline() if pipeline else nullcontext()), conn.cursor() as cur:
        await _custom_plans(cur)
        applied_up_to = await _lock_partitions(cur, topic, partitions(changes))  # 1
        result = contiguous(changes, applied_up_to, gapless=gapless)
        set_aside(result, failed or {}, await _waiting_keys(cur, topic, partitions(changes)))
        drop_repeated_outputs(result, await _record_output_ids(cur, output_ids(result.applied)))  # 1b
        drop_stored_replays(result, await _stored_occurrences(cur, replays_to_check(result.applied)))
        await _apply(cur, result, group_identities(changes))  # 2-11
        await _park(cur, topic, result.parked)  # 12
        await _record_offsets(cur, topic, result.through)
    return result


async def _custom_plans(cur: AsyncCursor[Any]) -> None:
    # psycopg prepares a statement on its fifth use, and Postgres then switches it to a generic plan,
    # which cannot see how many rows a batch brings: batches of 5,000 went from 0.25 s to 7-10 s
    # after the eleventh (bench/sink_bench.py). A custom plan per execution keeps them at 0.25 s.
    await cur.execute("SET LOCAL plan_cache_mode = force_custom_plan")


async def _apply(cur: AsyncCursor[Any], result: BatchResult, named: Sequence[GroupIdentity]) -> None:
    """Steps 2-11 for `result.applied`; fills `result.groups` with the persisted groups `named`."""
    plan = BatchPlan(result.applied)
    await _create_projects(cur, plan.project_ids)  # 2
    await _insert_rows(cur, _INSERT_EVENT, _EVENT_TYPES, plan.event_rows)  # 3
    created = await _upsert_groups(cur, plan)  # 4
    result.groups = await _persisted_groups(cur, named)
    missing = plan.missing_groups(result.groups)
    if missing:
        raise MissingGroupRow(f"no group row for {', '.join(f'{key} generation {gen}' for key, gen in missing[:3])}")
    await _insert_rows(cur, _MAP_HASH, _HASH_TYPES, plan.hash_rows(created, result.groups))  # 5
    await _insert_rows(cur, _UPSERT_OCCURRENCE, _OCCURRENCE_TYPES, plan.occurrence_rows(result.groups))  # 6
    await _insert_rows(cur, _INSERT_WAITER, _WAITER_TYPES, plan.waiter_rows())  # 6b
    linked = await _link(cur, *plan.link_rows(result.groups))  # 7
    refused = await _refuse(cur, plan.refusals, plan.refusal_rows())  # 8
    hourly, environments = plan.hourly_counts(result.groups, linked)  # 9
    await _insert_rows(cur, _ADD_HOURLY_COUNT, _HOURLY_TYPES, hourly)
    await _insert_rows(cur, _ADD_GROUP_ENVIRONMENT, _ENVIRONMENT_TYPES, environments)
    await _insert_rows(cur, _INSERT_ACTIVITY, _ACTIVITY_TYPES, plan.activity_rows(result.groups))  # 10
    links = link_writes(plan.grouped, result.groups)  # 10b: tickets linked to groups (spec §24.4), rare
    if links:
        await write_links(cur, links)
    first_counts = await _first_counts(cur, plan.count_ids)
    await _count_drops(cur, plan.drop_rows(first_counts, refused))  # 11
    outcomes = plan.ledger_inputs(first_counts)  # 11c
    # A `lost` whose input has another outcome, in this batch or recorded before, was no loss (see 11c).
    in_batch = Counter(source for source, is_lost in outcomes if not is_lost)
    lost = await unrecorded(cur, [entry for entry in plan.lost if not in_batch[entry[:3]]])
    really_lost = {entry[:3] for entry in lost}
    await record_outcomes(cur, "sink", [source for source, is_lost in outcomes if not is_lost or source in really_lost])
    await record_lost(cur, lost)
    await _delete_groups(cur, plan.deletions)  # 11d
    await _insert_rows(cur, _RECORD_API_CHANGE, _API_CHANGE_TYPES, plan.api_change_rows)  # 11e
    result.waiters = await _waiters(cur, waiting_creations(result.forwarded()))  # 11b


# ------------------------------------------------------------------------------------------------ 1

async def _lock_partitions(cur: AsyncCursor[Any], topic: str, partitions: list[int]) -> dict[int, int]:
    """Lock the batch's partitions; returns the offset each is applied up to (none: never written)."""
    # One writer per partition at a time, for the whole transaction, in partition order (no deadlock).
    # The row lock below cannot do it alone: a partition without a row yet locks nothing, and two sinks
    # (the new owner and the old one finishing a batch after a rebalance) then both applied it.
    await cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s), p) FROM unnest(%s::int[]) AS p", (topic, partitions))
    await cur.execute(
        'SELECT partition, "offset" FROM sink_offsets WHERE topic = %s AND partition = ANY(%s)'
        " ORDER BY partition FOR UPDATE",
        (topic, partitions),
    )
    return dict(await cur.fetchall())


# ----------------------------------------------------------------------------------------------- 1b

async def _record_output_ids(cur: AsyncCursor[Any], rows: list[tuple[str, int, int]]) -> set[str]:
    """Record the change ids (spec §2.4.7); returns those recorded now, i.e. not applied before."""
    if not rows:
        return set()
    await cur.execute(
        "INSERT INTO sink_applied_changes (change_id, cause_partition, cause_offset)"
        " SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[]) ON CONFLICT DO NOTHING RETURNING change_id",
        [list(column) for column in zip(*rows)],
    )
    return {row[0] for row in await cur.fetchall()}


async def _stored_occurrences(cur: AsyncCursor[Any], identities: list[tuple[int, str]]) -> set[tuple[int, str]]:
    if not identities:
        return set()
    await cur.execute(
        "SELECT o.project_id, o.id FROM occurrences o"
        " JOIN unnest(%s::bigint[], %s::text[]) AS r(project_id, id) USING (project_id, id)",
        [list(column) for column in zip(*identities)],
    )
    return {(row[0], row[1]) for row in await cur.fetchall()}


async def _waiting_keys(cur: AsyncCursor[Any], topic: str, partitions: list[int]) -> dict[PartitionKey, int]:
    """(partition, group key) → the first offset still parked, for every key with parked changes (spec §2.4.12)."""
    await cur.execute(
        'SELECT partition, group_key, min("offset") FROM sink_parked'
        " WHERE topic = %s AND partition = ANY(%s) AND resolved_at IS NULL GROUP BY 1, 2",
        (topic, partitions),
    )
    return {(partition, key): offset for partition, key, offset in await cur.fetchall()}


# ------------------------------------------------------------------------------------------------ 2, 3

async def _create_projects(cur: AsyncCursor[Any], project_ids: list[int]) -> None:
    if project_ids:
        await cur.executemany(
            # No conflict target: two sinks creating one project at once collide on the slug index too.
            "INSERT INTO projects (id, slug) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [(pid, f"p{pid}") for pid in project_ids],
        )


_INSERT_EVENT = (
    "INSERT INTO events (project_id, event_id, platform, timestamp, received, environment, data)"
    " SELECT * FROM {rows} AS event ON CONFLICT (project_id, event_id) DO NOTHING"
)
_EVENT_TYPES = ("bigint", "text", "text", "timestamptz", "timestamptz", "text", "jsonb")


# ------------------------------------------------------------------------------------------------ 4, 5

async def _upsert_groups(cur: AsyncCursor[Any], plan: BatchPlan) -> list[GroupIdentity]:
    """Upsert the newest version of each group; returns the groups that had no row yet."""
    existing = await _existing_groups(cur, list(plan.newest))
    requests = plan.short_id_requests(existing)
    short_ids = {**existing, **assign_short_ids(requests, await _take_short_ids(cur, requests))}
    await _insert_rows(cur, _UPSERT_GROUP, _GROUP_TYPES, plan.group_rows(short_ids))
    return [identity for request in requests for identity in request.groups]


async def _existing_groups(cur: AsyncCursor[Any], identities: Sequence[GroupIdentity]) -> dict[GroupIdentity, int]:
    """The short id of each group that has a row already."""
    if not identities:
        return {}
    await cur.execute(
        "SELECT group_key, generation, short_id FROM groups"
        " WHERE (group_key, generation) IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
        ([key for key, _ in identities], [generation for _, generation in identities]),
    )
    return {(key, generation): short_id for key, generation, short_id in await cur.fetchall()}


async def _take_short_ids(cur: AsyncCursor[Any], requests: Sequence[ShortIdRequest]) -> dict[int, int]:
    """Advance each project's counter by its block (spec §13.4.1); returns the counters' new values."""
    if not requests:
        return {}
    project_ids = [request.project_id for request in requests]
    # Rows locked in id order first, as every writer does, so concurrent sinks cannot deadlock on them
    # whatever order the join below visits them in; then one statement for every project of the batch.
    await cur.execute("SELECT 1 FROM projects WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (project_ids,))
    await cur.execute(
        "UPDATE projects p SET next_short_id = p.next_short_id + n.count"
        " FROM unnest(%s::bigint[], %s::bigint[]) AS n(id, count) WHERE p.id = n.id"
        " RETURNING p.id, p.next_short_id",
        (project_ids, [len(request.groups) for request in requests]),
    )
    return dict(await cur.fetchall())


async def _persisted_groups(cur: AsyncCursor[Any], identities: Sequence[GroupIdentity]) -> dict[GroupIdentity, PersistedGroup]:
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


_GROUP_COLUMNS = (
    "project_id, group_key, generation, type, status, substatus, substatus_since, priority, priority_locked_at,"
    " short_id, assignee, first_seen, last_seen, times_seen, level, culprit, title, subtitle, message, platform,"
    " resolved_at, data, version, snooze_count, times_seen_at_snooze, snooze_until"
)
_GROUP_TYPES = (
    "bigint", "text", "int", "int", "smallint", "smallint", "timestamptz", "smallint", "timestamptz", "bigint",
    "text", "timestamptz", "timestamptz", "bigint", "smallint", "text", "text", "text", "text", "text",
    "timestamptz", "jsonb", "bigint", "integer", "bigint", "timestamptz",
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
    data = EXCLUDED.data, version = EXCLUDED.version, snooze_count = EXCLUDED.snooze_count,
    times_seen_at_snooze = EXCLUDED.times_seen_at_snooze, snooze_until = EXCLUDED.snooze_until, updated_at = now()
WHERE groups.version < EXCLUDED.version
"""

_MAP_HASH = (
    "INSERT INTO group_hashes (project_id, hash, group_id) SELECT * FROM {rows} AS hashes"
    " ON CONFLICT (project_id, hash) DO UPDATE SET group_id = EXCLUDED.group_id"
)
_HASH_TYPES = ("bigint", "text", "bigint")


# ------------------------------------------------------------------------------------------------ 6

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


# ----------------------------------------------------------------------------------------------- 6b

_INSERT_WAITER = """
INSERT INTO quota_waiters (group_key, request_id, position, project_id, occurrence_id, facts)
SELECT * FROM {rows} AS r(group_key, request_id, position, project_id, occurrence_id, facts)
ON CONFLICT DO NOTHING
"""
_WAITER_TYPES = ("text", "text", "bigint", "bigint", "text", "jsonb")


# ------------------------------------------------------------------------------------------------ 7, 8

async def _link(
    cur: AsyncCursor[Any], by_id: list[Row], by_window: list[Row], by_request: list[Row]
) -> list[tuple[int, datetime, str]]:
    """Attach what each creation counted, for all creations of the batch in three statements (§13.1.5,
    §2.4.11); returns (group id, received, environment) of each occurrence linked, each once."""
    linked: list[tuple[int, datetime, str]] = []
    if by_request:
        # Every waiter of the request, past the bound of the ids the change names too; marks them answered.
        columns = [list(column) for column in zip(*by_request)]
        await cur.execute(
            """
            UPDATE occurrences o SET group_id = l.group_id,
                outcome = CASE WHEN o.id = l.creator THEN 'created' ELSE 'applied' END
            FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) AS l(group_key, request_id, group_id, creator)
            JOIN quota_waiters w ON w.group_key = l.group_key AND w.request_id = l.request_id
            WHERE o.project_id = w.project_id AND o.id = w.occurrence_id AND o.group_id IS NULL
              AND o.outcome = 'pending_quota'
            RETURNING o.group_id, o.received, o.environment
            """,
            columns[:4],
        )
        linked.extend(await cur.fetchall())
        await _answer_waiters(cur, columns[0], columns[1], columns[4], columns[5])
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
    return linked


async def _refuse(
    cur: AsyncCursor[Any], refusals: Sequence[QuotaRefusal], by_request: list[Row]
) -> Counter[tuple[int, int]]:
    """Mark refused occurrences; returns how many were refused per (project, type), to be counted.

    Counted from the rows really marked, so a refusal applied twice (a replay) counts once. A refusal of
    this version refuses every waiter kept under its request id (spec §2.4.11), past its named ids too.
    """
    refused: Counter[tuple[int, int]] = Counter()
    if by_request:
        columns = [list(column) for column in zip(*by_request)]
        await cur.execute(
            """
            UPDATE occurrences o SET outcome = 'quota_refused'
            FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::int[]) AS l(group_key, request_id, project_id, type)
            JOIN quota_waiters w ON w.group_key = l.group_key AND w.request_id = l.request_id
            WHERE o.project_id = w.project_id AND o.id = w.occurrence_id AND o.outcome = 'pending_quota'
            RETURNING l.project_id, l.type
            """,
            columns[:4],
        )
        refused.update((project_id, type_id) for project_id, type_id in await cur.fetchall())
        await _answer_waiters(cur, columns[0], columns[1], columns[4], columns[5])
    for refusal in refusals:
        await cur.execute(
            "UPDATE occurrences SET outcome = 'quota_refused'"
            " WHERE project_id = %s AND id = ANY(%s) AND outcome = 'pending_quota' RETURNING id",
            (refusal.project_id, list(refusal.ids)),
        )
        refused[(refusal.project_id, refusal.type_id)] += len(await cur.fetchall())
    return refused


async def _answer_waiters(
    cur: AsyncCursor[Any], keys: list[str], requests: list[str], partitions: list[int], offsets: list[int]
) -> None:
    """Record which change answered each request: its waiters are kept until the sink commits past it."""
    await cur.execute(
        """
        UPDATE quota_waiters w SET resolved_partition = a.partition, resolved_offset = a.offset
        FROM unnest(%s::text[], %s::text[], %s::int[], %s::bigint[]) AS a(group_key, request_id, partition, "offset")
        WHERE w.group_key = a.group_key AND w.request_id = a.request_id AND w.resolved_offset IS NULL
        """,
        (keys, requests, partitions, offsets),
    )


# ----------------------------------------------------------------------------------------------- 11b

async def _waiters(
    cur: AsyncCursor[Any], creations: list[tuple[Coordinates, str, str]]
) -> dict[Coordinates, list[dict[str, Any]]]:
    """What each creation's waiters need for their post-process messages, in arrival order (spec §2.4.11);
    a creation read again finds them as long as its answer is not committed past."""
    if not creations:
        return {}
    await cur.execute(
        """
        SELECT c.index, w.facts FROM unnest(%s::int[], %s::text[], %s::text[]) AS c(index, group_key, request_id)
        JOIN quota_waiters w ON w.group_key = c.group_key AND w.request_id = c.request_id
        ORDER BY c.index, w.position
        """,
        (list(range(len(creations))), [key for _, key, _ in creations], [request for _, _, request in creations]),
    )
    waiters: dict[Coordinates, list[dict[str, Any]]] = {coordinates: [] for coordinates, _, _ in creations}
    for index, facts in await cur.fetchall():
        waiters[creations[index][0]].append(facts)
    return waiters


async def prune_answered_waiters(conn: AsyncConnection, committed: Mapping[int, int]) -> int:
    """Forget the waiters of requests answered by a change the sink's consumer group has committed past
    (`committed`: group-changes partition → committed offset): it is never read, nor forwarded, again."""
    if not committed:
        return 0
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(
            "DELETE FROM quota_waiters w USING unnest(%s::int[], %s::bigint[]) AS c(partition, committed)"
            " WHERE w.resolved_partition = c.partition AND w.resolved_offset < c.committed",
            (list(committed), list(committed.values())),
        )
        return cur.rowcount


# ------------------------------------------------------------------------------------------------ 9, 10

_ADD_HOURLY_COUNT = (
    "INSERT INTO hourly_counts (group_id, hour, count) SELECT * FROM {rows} AS counts"
    " ON CONFLICT (group_id, hour) DO UPDATE SET count = hourly_counts.count + EXCLUDED.count"
)
_HOURLY_TYPES = ("bigint", "timestamptz", "bigint")
_ADD_GROUP_ENVIRONMENT = (
    "INSERT INTO group_environments (group_id, environment, first_seen) SELECT * FROM {rows} AS seen"
    " ON CONFLICT (group_id, environment) DO NOTHING"
)
_ENVIRONMENT_TYPES = ("bigint", "text", "timestamptz")
_INSERT_ACTIVITY = (
    "INSERT INTO activities (id, group_id, project_id, type, data, datetime, actor, source, cause_id)"
    " SELECT * FROM {rows} AS activity ON CONFLICT (id) DO NOTHING"
)
_ACTIVITY_TYPES = ("text", "bigint", "bigint", "smallint", "jsonb", "timestamptz", "text", "text", "text")


# ------------------------------------------------------------------------------------------------ 11d, 11e

async def _delete_groups(cur: AsyncCursor[Any], identities: Sequence[GroupIdentity]) -> None:
    """Remove the groups with everything that cascades from them, and queue their events for the sweep (spec §19)."""
    if not identities:
        return
    await cur.execute(
        "SELECT g.id FROM groups g JOIN unnest(%s::text[], %s::int[]) AS d(group_key, generation)"
        " USING (group_key, generation) ORDER BY g.id FOR UPDATE OF g",
        ([key for key, _ in identities], [generation for _, generation in identities]),
    )
    group_ids = [row[0] for row in await cur.fetchall()]
    if not group_ids:
        return  # removed already (a change applied again)
    # Its events only queued (storage.events.sweep_orphan_events deletes those left unreferenced, later): an
    # occurrence naming one by event_id (spec §5.5) may be on its way still, and must find it when stored.
    # In key order, so that concurrent sinks queue in one order and never deadlock.
    await cur.execute(
        "INSERT INTO event_sweep (project_id, event_id) SELECT DISTINCT project_id, event_id FROM occurrences"
        " WHERE group_id = ANY(%s) ORDER BY project_id, event_id ON CONFLICT DO NOTHING",
        (group_ids,),
    )
    await cur.execute("DELETE FROM groups WHERE id = ANY(%s)", (group_ids,))


_RECORD_API_CHANGE = (
    "INSERT INTO api_changes (change_id, group_key, outcome) SELECT * FROM {rows} AS outcome"
    " ON CONFLICT (change_id) DO NOTHING"
)
_API_CHANGE_TYPES = ("text", "text", "text")


async def prune_api_changes(conn: AsyncConnection, older_than: timedelta) -> int:
    """Forget API change outcomes recorded before `older_than` ago (only a wait of seconds reads them); returns
    how many. Commits on its own."""
    async with conn.transaction():
        cursor = await conn.execute("DELETE FROM api_changes WHERE applied_at < now() - %s", (older_than,))
        return cursor.rowcount


# ------------------------------------------------------------------------------------------------ 11, 12

async def _first_counts(cur: AsyncCursor[Any], count_ids: list[str]) -> set[str]:
    """Record the count ids of drops that have one; returns those seen for the first time (spec §2.4.1)."""
    if not count_ids:
        return set()
    await cur.execute(
        "INSERT INTO counted_drops (id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING RETURNING id",
        (count_ids,),
    )
    return {row[0] for row in await cur.fetchall()}


async def _count_drops(cur: AsyncCursor[Any], rows: list[Row]) -> None:
    if rows:
        await cur.executemany(
            "INSERT INTO drop_counters (project_id, type_id, outcome, count) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (project_id, type_id, outcome) DO UPDATE"
            " SET count = drop_counters.count + EXCLUDED.count, updated_at = now()",
            rows,
        )


async def _park(cur: AsyncCursor[Any], topic: str, parked: Sequence[ParkedChange]) -> None:
    if parked:
        await cur.executemany(
            'INSERT INTO sink_parked (topic, partition, "offset", group_key, change, behind, error, sqlstate, attempts,'
            " change_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ' ON CONFLICT (topic, partition, "offset") DO NOTHING',
            [(topic, *change.row()) for change in parked],
        )


async def _record_offsets(cur: AsyncCursor[Any], topic: str, through: dict[int, int]) -> None:
    if through:
        await cur.executemany(
            'INSERT INTO sink_offsets (topic, partition, "offset") VALUES (%s, %s, %s)'
            ' ON CONFLICT (topic, partition) DO UPDATE SET "offset" = EXCLUDED."offset", updated_at = now()',
            [(topic, partition, offset) for partition, offset in sorted(through.items())],
        )


# ------------------------------------------------------------------------------------------ parking

_MAX_ERROR_CHARS = 2000  # a DETAIL line quotes the failing row, which may hold a whole payload


# Writes `changes` in one transaction and commits it, parking those `failed` names: write_batch, with transient
# errors retried by the caller's policy.
WriteOnce = Callable[[Sequence[ChangeRecord], Mapping[Coordinates, ChangeFailure]], Awaitable[BatchResult]]


async def write_or_park(write: WriteOnce, changes: Sequence[ChangeRecord]) -> BatchResult:
    """Write a batch; if it fails for a reason of its own changes, apply all the others and park the one that
    fails, with the later changes of its key behind it (spec §2.4.12). Any other failure propagates.

    The batch is cut in halves, each written in its own transaction in offset order, down to the change that
    fails alone; that one is tried alone once more and, failing again, written with `failed` naming it, which
    parks it in the transaction that moves its partition past it. One bad change among n costs about 2·log2(n)
    transactions; a batch that fails only as a whole (two changes in conflict) is simply applied in parts.
    """
    try:
        return await write(changes, {})
    except Exception as error:
        if not is_change_failure(error):
            raise
    return merged(await _bisect(write, changes))


async def _bisect(write: WriteOnce, changes: Sequence[ChangeRecord]) -> list[BatchResult]:
    """The results of writing `changes`, which just failed together, in parts."""
    if len(changes) == 1:
        return [await _alone_once_more(write, changes[0])]
    results: list[BatchResult] = []
    for half in halves(changes):
        try:
            results.append(await write(half, {}))
        except Exception as error:
            if not is_change_failure(error):
                raise
            results.extend(await _bisect(write, half))
    return results


async def _alone_once_more(write: WriteOnce, record: ChangeRecord) -> BatchResult:
    try:
        return await write([record], {})
    except Exception as error:
        if not is_change_failure(error):
            raise
        # Failed alone twice: the failure that is kept is the last one.
        return await write([record], {(record.partition, record.offset): change_failure(error, attempts=2)})


def change_failure(error: BaseException, attempts: int) -> ChangeFailure:
    """What `sink_parked` keeps of a failure: one line of text with the server's detail, and the SQLSTATE."""
    text = f"{type(error).__name__}: {error}".strip()
    diag = getattr(error, "diag", None)
    detail = getattr(diag, "message_detail", None)
    if detail:
        text = f"{text} ({detail})"
    text = " ".join(text.replace("\x00", "\\0").split())  # Postgres text cannot hold NUL
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 1] + "…"
    return ChangeFailure(error=text, sqlstate=getattr(error, "sqlstate", None), attempts=attempts)


async def retry_parked(conn: AsyncConnection, topic: str, partition: int, group_key: str) -> BatchResult | ChangeFailure:
    """Apply the parked changes of one key in offset order, in one transaction, through steps 1b-11, and mark
    them resolved (spec §2.4.12); their change ids are recorded now, and a copy of a change applied before is
    skipped (§2.4.7). On a failure of its changes nothing is applied: every one of them stays parked with one
    more attempt and the new error, which is returned. Commits on its own, so `conn` must not be inside a
    transaction (use autocommit): nested, its lock would be held until the outer one ends.

    The partition's lock orders it with the sink: a later change of the key is either parked before this
    transaction takes the lock, and applied here, or written by the sink after this commit, in order.
    """
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise ValueError("retry_parked commits one transaction per key: give it a connection outside a transaction")
    try:
        async with conn.transaction(), conn.cursor() as cur:
            await _custom_plans(cur)
            await cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", (topic, partition))
            await cur.execute(
                'SELECT id, "offset", change FROM sink_parked WHERE topic = %s AND partition = %s AND group_key = %s'
                ' AND resolved_at IS NULL ORDER BY "offset" FOR UPDATE',
                (topic, partition, group_key),
            )
            rows = await cur.fetchall()
            records = [ChangeRecord(partition, offset, decode_change(bytes(change))) for _, offset, change in rows]
            result = BatchResult(applied=records)
            drop_repeated_outputs(result, await _record_output_ids(cur, output_ids(result.applied)))
            drop_stored_replays(result, await _stored_occurrences(cur, replays_to_check(result.applied)))
            await _apply(cur, result, group_identities(records))
            await cur.execute(
                "UPDATE sink_parked SET resolved_at = now(), last_attempt = now(), attempts = attempts + 1"
                " WHERE id = ANY(%s)",
                ([row[0] for row in rows],),
            )
        return result
    except Exception as error:
        if not is_change_failure(error):
            raise
        failure = change_failure(error, attempts=0)
        async with conn.transaction():
            await conn.execute(
                "UPDATE sink_parked SET attempts = attempts + 1, last_attempt = now(), error = %s, sqlstate = %s"
                " WHERE topic = %s AND partition = %s AND group_key = %s AND resolved_at IS NULL",
                (failure.error, failure.sqlstate, topic, partition, group_key),
            )
        return failure


# ------------------------------------------------------------------------------------ outside a batch

async def prune_counted_drops(conn: AsyncConnection, older_than: timedelta) -> int:
    """Forget count ids recorded before `older_than` ago; returns how many. Commits on its own."""
    async with conn.transaction():
        cursor = await conn.execute("DELETE FROM counted_drops WHERE counted_at < now() - %s", (older_than,))
        return cursor.rowcount


async def prune_applied_changes(conn: AsyncConnection, committed: Mapping[int, int]) -> int:
    """Forget the change ids whose cause lies below `committed` (grouping-topic partition → the grouping
    consumer group's committed offset, the next it reads); returns how many. Commits on its own.

    Past its committed offset the owner never decides a message again, so no new copy of its changes is sent
    (spec §2.4.7). The caller must also know that the sink has read every copy already sent (the group-changes
    end offsets of that moment): a copy still unread would otherwise be applied a second time. The ids of
    changes still parked are kept: a retry must recognise them.
    """
    if not committed:
        return 0
    partitions = sorted(committed)
    async with conn.transaction():
        cursor = await conn.execute(
            "DELETE FROM sink_applied_changes a USING unnest(%s::int[], %s::bigint[]) AS c(partition, committed)"
            " WHERE a.cause_partition = c.partition AND a.cause_offset < c.committed"
            " AND NOT EXISTS (SELECT 1 FROM sink_parked p WHERE p.change_id = a.change_id AND p.resolved_at IS NULL)",
            (partitions, [committed[partition] for partition in partitions]),
        )
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


# ------------------------------------------------------------------------------------------ row transport

async def _insert_rows(cur: AsyncCursor[Any], statement: str, types: Sequence[str], rows: Sequence[Row]) -> None:
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


def _chunks(rows: Sequence[Row], limit: int = MAX_JSON_BYTES) -> list[str]:
    """The rows as JSON arrays of at most `limit` bytes each, in order (so locks are still taken in order)."""
    blob = orjson.dumps(rows)
    if len(blob) <= limit or len(rows) == 1:
        return [blob.decode()]
    middle = len(rows) // 2
    return _chunks(rows[:middle], limit) + _chunks(rows[middle:], limit)
