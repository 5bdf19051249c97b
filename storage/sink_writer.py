"""Writes one batch of group changes to Postgres in one transaction, idempotently (spec §2.4.3, §19).

Commit protocol of a batch (the caller opens the transaction, commits it, and only then forwards and acks):
1. Lock this topic's `sink_offsets` rows of the batch's partitions and drop every change at or below
   them: those were committed by an earlier attempt, so additive writes happen once.
2. Create the projects the batch mentions (default settings, spec §11.1), in id order.
3. Store embedded events; the first event written for (project_id, event_id) wins (spec §5.6).
4. Upsert groups, coalesced to the newest version per (group key, generation), in key order so that
   concurrent sinks lock rows in one order and never deadlock. A short id is drawn from the project
   counter only for a group row that does not exist yet (spec §13.4.1).
5. Map each created group's hash to it (`group_hashes`).
6. Upsert occurrence rows linked to their group.
7. Add counted drops (spec §7.4) to `drop_counters`, one statement per (project, type, outcome).
8. Record the highest applied offset per partition in `sink_offsets`.
The groups of every change in the batch, applied now or before, are returned so the caller can forward
post-process messages for all of them (re-sent messages carry the same id, spec §2.3.4).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb



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
    groups: dict[tuple[str, int], PersistedGroup] = field(default_factory=dict)


def _ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _parse_ts(value: Any) -> datetime:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


async def write_batch(conn: AsyncConnection, topic: str, changes: Sequence[ChangeRecord]) -> BatchResult:
    result = BatchResult()
    if not changes:
        return result
    async with conn.cursor() as cur:
        # 1. applied offsets
        partitions = sorted({change.partition for change in changes})
        await cur.execute(
            'SELECT partition, "offset" FROM sink_offsets WHERE topic = %s AND partition = ANY(%s)'
            " ORDER BY partition FOR UPDATE",
            (topic, partitions),
        )
        applied_up_to = dict(await cur.fetchall())
        for change in changes:
            if change.offset <= applied_up_to.get(change.partition, -1):
                result.skipped.append(change)
            else:
                result.applied.append(change)
        applied = result.applied

        grouped = [change for change in applied if change.has_group]

        # 2. projects
        project_ids = sorted({change.body["project_id"] if not change.has_group else change.group["project_id"]
                              for change in applied})
        if project_ids:
            await cur.executemany(
                "INSERT INTO projects (id, slug) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
                [(pid, f"p{pid}") for pid in project_ids],
            )

        # 3. events
        events: dict[tuple[int, str], tuple[dict[str, Any], float]] = {}
        for change in applied:
            event = change.body.get("event")
            if event:
                events.setdefault((event["project_id"], event["event_id"]), (event, change.body["t"]))
        if events:
            await cur.executemany(
                "INSERT INTO events (project_id, event_id, platform, timestamp, received, environment, data)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (project_id, event_id) DO NOTHING",
                [
                    (
                        project_id, event_id, event["platform"], _parse_ts(event["timestamp"]),
                        # `received` defaults to T (spec §5.3).
                        _parse_ts(event["received"]) if event.get("received") is not None else _ts(t),
                        event.get("environment"), Jsonb(event),
                    )
                    for (project_id, event_id), (event, t) in sorted(events.items())
                ],
            )

        # 4. groups, newest version per identity, in key order
        newest: dict[tuple[str, int], dict[str, Any]] = {}
        for change in grouped:
            current = newest.get(change.group_identity)
            if current is None or change.group["version"] > current["version"]:
                newest[change.group_identity] = change.group
        identities = sorted({change.group_identity for change in changes if change.has_group})
        existing = await _existing_groups(cur, identities)
        missing = [identity for identity in sorted(newest) if identity not in existing]
        short_ids = await _allocate_short_ids(cur, [newest[identity] for identity in missing])
        rows = []
        for identity in sorted(newest):
            short_id = short_ids[identity] if identity in short_ids else existing[identity][1]
            rows.append(_group_row(newest[identity], short_id))
        if rows:
            await cur.executemany(_UPSERT_GROUP, rows)

        # 5. hashes of created groups; 6. occurrences (need ids: read them back once)
        persisted = await _persisted_groups(cur, identities)
        result.groups = persisted
        hash_rows = []
        for identity in missing:
            project_id, group_hash = identity[0].split(":", 1)
            hash_rows.append((int(project_id), group_hash, persisted[identity].id))
        if hash_rows:
            await cur.executemany(
                "INSERT INTO group_hashes (project_id, hash, group_id) VALUES (%s, %s, %s)"
                " ON CONFLICT (project_id, hash) DO UPDATE SET group_id = EXCLUDED.group_id",
                hash_rows,
            )
        occurrence_rows = [
            _occurrence_row(change, persisted[change.group_identity].id if change.has_group else None)
            for change in applied
            if change.body.get("occurrence") is not None
        ]
        if occurrence_rows:
            occurrence_rows.sort(key=lambda row: (row[0], row[1]))
            await cur.executemany(_UPSERT_OCCURRENCE, occurrence_rows)

        # 7. counted drops
        drops: dict[tuple[int, int, str], int] = {}
        for change in applied:
            if change.kind == "drop":
                drop_key = (change.body["project_id"], change.body["type_id"], change.body["outcome"])
                drops[drop_key] = drops.get(drop_key, 0) + 1
        if drops:
            await cur.executemany(
                "INSERT INTO drop_counters (project_id, type_id, outcome, count) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (project_id, type_id, outcome) DO UPDATE"
                " SET count = drop_counters.count + EXCLUDED.count, updated_at = now()",
                [(*drop_key, count) for drop_key, count in sorted(drops.items())],
            )

        # 8. offsets
        highest: dict[int, int] = {}
        for change in applied:
            highest[change.partition] = max(highest.get(change.partition, -1), change.offset)
        if highest:
            await cur.executemany(
                'INSERT INTO sink_offsets (topic, partition, "offset") VALUES (%s, %s, %s)'
                ' ON CONFLICT (topic, partition) DO UPDATE SET "offset" = EXCLUDED."offset", updated_at = now()',
                [(topic, partition, offset) for partition, offset in sorted(highest.items())],
            )
    return result


async def _existing_groups(cur: Any, identities: Sequence[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
    if not identities:
        return {}
    await cur.execute(
        "SELECT group_key, generation, id, short_id FROM groups"
        " WHERE (group_key, generation) IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
        ([key for key, _ in identities], [generation for _, generation in identities]),
    )
    return {(key, generation): (gid, short_id) for key, generation, gid, short_id in await cur.fetchall()}


async def _persisted_groups(cur: Any, identities: Sequence[tuple[str, int]]) -> dict[tuple[str, int], PersistedGroup]:
    await cur.execute(
        "SELECT g.group_key, g.generation, g.id, g.short_id, p.slug FROM groups g JOIN projects p ON p.id = g.project_id"
        " WHERE (g.group_key, g.generation) IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
        ([key for key, _ in identities], [generation for _, generation in identities]),
    )
    return {
        (key, generation): PersistedGroup(id=gid, short_id=short_id, project_slug=slug)
        for key, generation, gid, short_id, slug in await cur.fetchall()
    }


async def _allocate_short_ids(cur: Any, groups: Sequence[dict[str, Any]]) -> dict[tuple[str, int], int]:
    """Take a block of consecutive values per project from its counter (spec §13.4.1)."""
    by_project: dict[int, list[dict[str, Any]]] = {}
    for group in groups:
        by_project.setdefault(group["project_id"], []).append(group)
    allocated: dict[tuple[str, int], int] = {}
    for project_id in sorted(by_project):
        members = by_project[project_id]
        await cur.execute(
            "UPDATE projects SET next_short_id = next_short_id + %s WHERE id = %s RETURNING next_short_id",
            (len(members), project_id),
        )
        (next_free,) = await cur.fetchone()
        first = next_free - len(members)
        for index, group in enumerate(members):
            allocated[(group["group_key"], group["generation"])] = first + index
    return allocated


_GROUP_COLUMNS = (
    "project_id, group_key, generation, type, status, substatus, substatus_since, priority, short_id,"
    " assignee, first_seen, last_seen, times_seen, level, culprit, title, subtitle, message, platform,"
    " resolved_at, data, version"
)
_UPSERT_GROUP = f"""
INSERT INTO groups ({_GROUP_COLUMNS})
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (group_key, generation) DO UPDATE SET
    status = EXCLUDED.status, substatus = EXCLUDED.substatus, substatus_since = EXCLUDED.substatus_since,
    priority = EXCLUDED.priority, assignee = EXCLUDED.assignee, first_seen = EXCLUDED.first_seen,
    last_seen = EXCLUDED.last_seen, times_seen = EXCLUDED.times_seen, level = EXCLUDED.level,
    culprit = EXCLUDED.culprit, title = EXCLUDED.title, subtitle = EXCLUDED.subtitle,
    message = EXCLUDED.message, platform = EXCLUDED.platform, resolved_at = EXCLUDED.resolved_at,
    data = EXCLUDED.data, version = EXCLUDED.version, updated_at = now()
WHERE groups.version < EXCLUDED.version
"""


def _group_row(group: dict[str, Any], short_id: int) -> tuple[Any, ...]:
    data = {
        "metadata": {
            "title": group["title"],
            "value": group["subtitle"],
            "initial_priority": group["initial_priority"],
        }
    }
    return (
        group["project_id"], group["group_key"], group["generation"], group["type_id"], group["status"],
        group["substatus"], _ts(group["substatus_since"]), group["priority"], short_id, group["assignee"],
        _ts(group["first_seen"]), _ts(group["last_seen"]), group["times_seen"], group["level"],
        group["culprit"], group["title"], group["subtitle"], group["message"], group["platform"],
        _ts(group.get("resolved_at")), Jsonb(data), group["version"],
    )


_UPSERT_OCCURRENCE = """
INSERT INTO occurrences (project_id, id, group_id, group_key, outcome, received, event_id, fingerprint, type,
    issue_title, subtitle, culprit, level, detection_time, evidence_display, evidence_data, priority,
    assignee, resource_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (project_id, id) DO UPDATE SET
    group_id = EXCLUDED.group_id, group_key = EXCLUDED.group_key, outcome = EXCLUDED.outcome,
    received = EXCLUDED.received, event_id = EXCLUDED.event_id, fingerprint = EXCLUDED.fingerprint,
    type = EXCLUDED.type, issue_title = EXCLUDED.issue_title, subtitle = EXCLUDED.subtitle,
    culprit = EXCLUDED.culprit, level = EXCLUDED.level, detection_time = EXCLUDED.detection_time,
    evidence_display = EXCLUDED.evidence_display, evidence_data = EXCLUDED.evidence_data,
    priority = EXCLUDED.priority, assignee = EXCLUDED.assignee, resource_id = EXCLUDED.resource_id
"""


def _occurrence_row(change: ChangeRecord, group_id: int | None) -> tuple[Any, ...]:
    occurrence = change.body["occurrence"]
    return (
        occurrence["project_id"], occurrence["id"], group_id, change.body["group_key"], change.body["outcome"],
        _ts(change.body["t"]), occurrence["event_id"], occurrence["fingerprint"], occurrence["type"],
        occurrence["issue_title"], occurrence["subtitle"], occurrence["culprit"],
        occurrence["level"], _parse_ts(occurrence["detection_time"]),
        Jsonb(occurrence.get("evidence_display", [])), Jsonb(occurrence.get("evidence_data", {})),
        occurrence.get("priority"), occurrence.get("assignee"), occurrence.get("resource_id"),
    )
