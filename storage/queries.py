"""Read queries of the HTTP API (spec §20): issues, their details, drop totals. Every value is a parameter.

Column names in the generated SQL come only from the fixed maps below, never from a request; user input
travels as psycopg parameters. The translation of a search is storage/search.py, pure and unit-tested.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import class_row

from storage.dlq import StoredDeadLetter, dlq_conditions
from storage.parked import PARKED_SELECT, ParkedStatus, StoredParkedChange, status_condition
from storage.search import IssueSearch, issue_where

Direction = Literal["next", "previous"]


@dataclass(frozen=True)
class KeysetOrder:
    """A list order that pages by keyset (spec §20.2.1): every column one way, the last the row's id."""

    name: str  # carried in cursors, so a cursor of another list or sort is refused
    columns: tuple[str, ...]  # row attributes
    sql: tuple[str, ...]  # the same columns in SQL (fixed here, never from a request)
    timestamps: frozenset[str] = frozenset()
    text_id: bool = False  # the id is a 32-hex string (activities, occurrences), not a bigint
    descending: bool = True


# spec §20.7: the sort key columns, each descending, then the group id descending as the tie-breaker.
ISSUE_ORDERS: dict[str, KeysetOrder] = {
    "date": KeysetOrder("date", ("last_seen", "id"), ("g.last_seen", "g.id"), frozenset({"last_seen"})),
    "new": KeysetOrder("new", ("first_seen", "id"), ("g.first_seen", "g.id"), frozenset({"first_seen"})),
    "freq": KeysetOrder("freq", ("times_seen", "id"), ("g.times_seen", "g.id")),
    "priority": KeysetOrder(
        "priority", ("priority", "last_seen", "id"), ("g.priority", "g.last_seen", "g.id"), frozenset({"last_seen"})
    ),
}
# spec §20.4: activities newest first; occurrences newest T (`received`) first.
ACTIVITY_ORDER = KeysetOrder("activities", ("datetime", "id"), ("datetime", "id"), frozenset({"datetime"}), True)
OCCURRENCE_ORDER = KeysetOrder("occurrences", ("received", "id"), ("received", "id"), frozenset({"received"}), True)
PROJECT_ORDER = KeysetOrder("projects", ("id",), ("id",), descending=False)  # spec §20.4: by id
DLQ_ORDER = KeysetOrder("dlq", ("created_at", "id"), ("created_at", "id"), frozenset({"created_at"}), True)  # §20.11.5
PARKED_ORDER = KeysetOrder("parked", ("id",), ("id",), descending=False)  # §2.4.12: in the order they were parked


@dataclass(frozen=True)
class Keyset:
    """Where a page starts: beyond `bound` in `direction` (None: at the start), the bound row included or not."""

    direction: Direction = "next"
    bound: tuple[Any, ...] | None = None
    inclusive: bool = False


@dataclass(frozen=True)
class GroupRow:
    id: int
    project_id: int
    project_slug: str
    type: int
    status: int
    substatus: int | None
    priority: int
    priority_locked_at: datetime | None
    short_id: int
    assignee: str | None
    first_seen: datetime
    last_seen: datetime
    times_seen: int
    level: int
    title: str
    subtitle: str
    culprit: str
    resolved_at: datetime | None
    data: dict[str, Any] = field(default_factory=dict)
    snooze_count: int | None = None  # spec §14.4
    snooze_until: datetime | None = None


@dataclass(frozen=True)
class ProjectRow:
    id: int
    slug: str
    resolve_age_hours: int | None
    occurrence_rate_limit: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class OccurrenceRow:
    id: str
    project_id: int
    group_id: int | None
    event_id: str
    fingerprint: list[str]
    issue_title: str
    subtitle: str
    culprit: str
    level: int
    type: int
    detection_time: datetime
    evidence_display: list[dict[str, Any]]
    evidence_data: dict[str, Any]
    resource_id: str | None
    priority: int | None
    assignee: str | None
    outcome: str
    received: datetime


@dataclass(frozen=True)
class ActivityRow:
    id: str
    type: int
    data: dict[str, Any]
    datetime: datetime
    actor: str | None


_GROUP_SELECT = """
SELECT g.id, g.project_id, p.slug AS project_slug, g.type, g.status, g.substatus, g.priority,
       g.priority_locked_at, g.short_id, g.assignee, g.first_seen, g.last_seen, g.times_seen, g.level,
       g.title, g.subtitle, g.culprit, g.resolved_at, g.data, g.snooze_count, g.snooze_until
FROM groups g JOIN projects p ON p.id = g.project_id
"""


def page_order(order: KeysetOrder, keyset: Keyset) -> tuple[str, str, list[Any]]:
    """(keyset clause or "", ORDER BY list, parameters) for one page of `order` from `keyset`.

    Every column runs the same way, so one row comparison is the keyset condition; the previous page
    reads the other way and the caller reverses it.
    """
    descending = (keyset.direction == "next") == order.descending
    order_by = ", ".join(f"{column} {'DESC' if descending else 'ASC'}" for column in order.sql)
    if keyset.bound is None:
        return "", order_by, []
    if len(keyset.bound) != len(order.sql):
        raise ValueError(f"a {order.name!r} bound has {len(order.sql)} values, got {len(keyset.bound)}")
    operator = ("<" if descending else ">") + ("=" if keyset.inclusive else "")
    placeholders = ", ".join(["%s"] * len(order.sql))
    return f"({', '.join(order.sql)}) {operator} ({placeholders})", order_by, list(keyset.bound)


def _paged(where: str, params: list[Any], order: KeysetOrder, keyset: Keyset, limit: int) -> tuple[str, list[Any]]:
    clause, order_by, bound = page_order(order, keyset)
    if clause:
        where, params = f"{where} AND {clause}", params + bound
    return f"WHERE {where} ORDER BY {order_by} LIMIT %s", [*params, limit]


async def fetch_issues(
    conn: AsyncConnection[Any], search: IssueSearch, order: KeysetOrder, keyset: Keyset, limit: int
) -> list[GroupRow]:
    """Up to `limit` groups from `keyset`, in the order read (previous: ascending)."""
    where, params = issue_where(search)
    tail, params = _paged(where, params, order, keyset, limit)
    async with conn.cursor(row_factory=class_row(GroupRow)) as cursor:
        await cursor.execute(f"{_GROUP_SELECT} {tail}", params)
        return await cursor.fetchall()


async def count_issues(conn: AsyncConnection[Any], search: IssueSearch) -> int:
    where, params = issue_where(search)
    cursor = await conn.execute(f"SELECT count(*) FROM groups g WHERE {where}", params)
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def project_slug(conn: AsyncConnection[Any], project_id: int) -> str | None:
    cursor = await conn.execute("SELECT slug FROM projects WHERE id = %s", (project_id,))
    row = await cursor.fetchone()
    return None if row is None else str(row[0])


async def group_by_id(conn: AsyncConnection[Any], group_id: int) -> GroupRow | None:
    async with conn.cursor(row_factory=class_row(GroupRow)) as cursor:
        await cursor.execute(f"{_GROUP_SELECT} WHERE g.id = %s", (group_id,))
        return await cursor.fetchone()


async def group_by_short_id(conn: AsyncConnection[Any], slug: str, short_id: int) -> GroupRow | None:
    async with conn.cursor(row_factory=class_row(GroupRow)) as cursor:
        await cursor.execute(f"{_GROUP_SELECT} WHERE p.slug = %s AND g.short_id = %s", (slug, short_id))
        return await cursor.fetchone()


@dataclass(frozen=True)
class TargetRow:
    """A group a mutation names (spec §20.8, §20.9): the row's identity in the stream, (group key, generation)."""

    id: int
    project_id: int
    type: int
    group_key: str
    generation: int


_TARGET_SELECT = "SELECT g.id, g.project_id, g.type, g.group_key, g.generation FROM groups g"


async def target_rows(conn: AsyncConnection[Any], group_ids: Sequence[int]) -> list[TargetRow]:
    async with conn.cursor(row_factory=class_row(TargetRow)) as cursor:
        await cursor.execute(f"{_TARGET_SELECT} WHERE g.id = ANY(%s) ORDER BY g.id", (list(group_ids),))
        return await cursor.fetchall()


async def target_row_by_short_id(conn: AsyncConnection[Any], slug: str, short_id: int) -> TargetRow | None:
    async with conn.cursor(row_factory=class_row(TargetRow)) as cursor:
        await cursor.execute(f"{_TARGET_SELECT} JOIN projects p ON p.id = g.project_id"
                             " WHERE p.slug = %s AND g.short_id = %s", (slug, short_id))
        return await cursor.fetchone()


async def search_targets(conn: AsyncConnection[Any], search: IssueSearch, limit: int) -> list[TargetRow]:
    """Up to `limit` groups a search matches, by id (a bulk update by query, spec §20.8.3)."""
    where, params = issue_where(search)
    async with conn.cursor(row_factory=class_row(TargetRow)) as cursor:
        await cursor.execute(f"{_TARGET_SELECT} WHERE {where} ORDER BY g.id LIMIT %s", [*params, limit])
        return await cursor.fetchall()


async def groups_by_ids(conn: AsyncConnection[Any], group_ids: Sequence[int]) -> list[GroupRow]:
    async with conn.cursor(row_factory=class_row(GroupRow)) as cursor:
        await cursor.execute(f"{_GROUP_SELECT} WHERE g.id = ANY(%s) ORDER BY g.id", (list(group_ids),))
        return await cursor.fetchall()


async def applied_api_changes(conn: AsyncConnection[Any], change_ids: Sequence[str]) -> set[str]:
    """The API changes whose outcome the sink has committed (spec §20.8.4 `?wait=1`)."""
    cursor = await conn.execute("SELECT change_id FROM api_changes WHERE change_id = ANY(%s)", (list(change_ids),))
    return {str(row[0]) for row in await cursor.fetchall()}


async def hourly_counts(
    conn: AsyncConnection[Any], group_ids: Sequence[int], since: datetime
) -> dict[int, list[tuple[datetime, int]]]:
    """group id → [(UTC hour, occurrences)] from `since` on (spec §20.3 stats)."""
    cursor = await conn.execute(
        "SELECT group_id, hour, count FROM hourly_counts WHERE group_id = ANY(%s) AND hour >= %s ORDER BY 1, 2",
        (list(group_ids), since),
    )
    counts: dict[int, list[tuple[datetime, int]]] = {}
    for group_id, hour, count in await cursor.fetchall():
        counts.setdefault(group_id, []).append((hour, int(count)))
    return counts


async def group_environments(conn: AsyncConnection[Any], group_id: int) -> list[str]:
    cursor = await conn.execute(
        "SELECT environment FROM group_environments WHERE group_id = %s ORDER BY first_seen, environment",
        (group_id,),
    )
    return [row[0] for row in await cursor.fetchall()]


async def project_environments(conn: AsyncConnection[Any], project_id: int, type_ids: Sequence[int]) -> list[str]:
    """The environment names of the project's groups of `type_ids` (its visible types), for a filter menu."""
    cursor = await conn.execute(
        "SELECT DISTINCT e.environment FROM group_environments e JOIN groups g ON g.id = e.group_id"
        " WHERE g.project_id = %s AND g.type = ANY(%s) ORDER BY 1 LIMIT 200",
        (project_id, list(type_ids)),
    )
    return [row[0] for row in await cursor.fetchall()]


_OCCURRENCE_SELECT = (
    "SELECT id, project_id, group_id, event_id, fingerprint, issue_title, subtitle, culprit, level, type,"
    " detection_time, evidence_display, evidence_data, resource_id, priority, assignee, outcome, received"
    " FROM occurrences"
)


async def fetch_occurrences(
    conn: AsyncConnection[Any], group_id: int, keyset: Keyset, limit: int
) -> list[OccurrenceRow]:
    """A page of the group's occurrences, newest T (`received`) first (spec §20.4)."""
    tail, params = _paged("group_id = %s", [group_id], OCCURRENCE_ORDER, keyset, limit)
    async with conn.cursor(row_factory=class_row(OccurrenceRow)) as cursor:
        await cursor.execute(f"{_OCCURRENCE_SELECT} {tail}", params)
        return await cursor.fetchall()


async def latest_occurrence(conn: AsyncConnection[Any], group_id: int) -> OccurrenceRow | None:
    """The group's occurrence with the newest T (`received`), spec §20.10."""
    rows = await fetch_occurrences(conn, group_id, Keyset(), 1)
    return rows[0] if rows else None


async def fetch_activities(conn: AsyncConnection[Any], group_id: int, keyset: Keyset, limit: int) -> list[ActivityRow]:
    """A page of the group's activities, newest first (spec §20.4, §20.10)."""
    tail, params = _paged("group_id = %s", [group_id], ACTIVITY_ORDER, keyset, limit)
    async with conn.cursor(row_factory=class_row(ActivityRow)) as cursor:
        await cursor.execute(f"SELECT id, type, data, datetime, actor FROM activities {tail}", params)
        return await cursor.fetchall()


async def drop_totals(conn: AsyncConnection[Any], type_id: int | None = None) -> dict[int, dict[str, int]]:
    """type id → {outcome: count over every project} (spec §20.11.2 `drops`)."""
    if type_id is None:
        cursor = await conn.execute("SELECT type_id, outcome, sum(count) FROM drop_counters GROUP BY 1, 2")
    else:
        cursor = await conn.execute(
            "SELECT type_id, outcome, sum(count) FROM drop_counters WHERE type_id = %s GROUP BY 1, 2", (type_id,)
        )
    totals: dict[int, dict[str, int]] = {}
    for row_type_id, outcome, count in await cursor.fetchall():
        totals.setdefault(int(row_type_id), {})[outcome] = int(count)
    return totals


async def event_data(conn: AsyncConnection[Any], project_id: int, event_id: str) -> dict[str, Any] | None:
    """The stored event (its kept keys, spec §5.3) of an occurrence."""
    cursor = await conn.execute(
        "SELECT data FROM events WHERE project_id = %s AND event_id = %s", (project_id, event_id)
    )
    row = await cursor.fetchone()
    return None if row is None else dict(row[0])


_PROJECT_SELECT = "SELECT id, slug, resolve_age_hours, occurrence_rate_limit, created_at FROM projects"


async def fetch_projects(conn: AsyncConnection[Any], keyset: Keyset, limit: int) -> list[ProjectRow]:
    tail, params = _paged("true", [], PROJECT_ORDER, keyset, limit)
    async with conn.cursor(row_factory=class_row(ProjectRow)) as cursor:
        await cursor.execute(f"{_PROJECT_SELECT} {tail}", params)
        return await cursor.fetchall()


async def project_by_id(conn: AsyncConnection[Any], project_id: int) -> ProjectRow | None:
    async with conn.cursor(row_factory=class_row(ProjectRow)) as cursor:
        await cursor.execute(f"{_PROJECT_SELECT} WHERE id = %s", (project_id,))
        return await cursor.fetchone()


async def project_drops(conn: AsyncConnection[Any], project_ids: Sequence[int]) -> dict[int, dict[str, dict[int, int]]]:
    """project id → outcome → type id → count (spec §7.4, §20.11.1)."""
    cursor = await conn.execute(
        "SELECT project_id, outcome, type_id, count FROM drop_counters WHERE project_id = ANY(%s)",
        (list(project_ids),),
    )
    drops: dict[int, dict[str, dict[int, int]]] = {}
    for project_id, outcome, type_id, count in await cursor.fetchall():
        drops.setdefault(int(project_id), {}).setdefault(outcome, {})[int(type_id)] = int(count)
    return drops


_DLQ_SELECT = (
    "SELECT id, reason, message, field, stage, source_topic, source_partition, source_offset, project_id,"
    " key, octet_length(value) AS size, created_at, replayed_at, replay_count, replay_of FROM dlq_entries"
)


async def fetch_dlq_entries(
    conn: AsyncConnection[Any], reason: str | None, project_id: int | None, keyset: Keyset, limit: int
) -> list[StoredDeadLetter]:
    """A page of dead-letter entries under the filter, newest first (spec §20.11.5)."""
    clauses, params = dlq_conditions(reason, project_id)
    tail, params = _paged(" AND ".join(["true", *clauses]), params, DLQ_ORDER, keyset, limit)
    async with conn.cursor(row_factory=class_row(StoredDeadLetter)) as cursor:
        await cursor.execute(f"{_DLQ_SELECT} {tail}", params)
        return await cursor.fetchall()


async def fetch_parked(
    conn: AsyncConnection[Any], status: ParkedStatus, keyset: Keyset, limit: int
) -> list[StoredParkedChange]:
    """A page of `sink_parked` rows with the status, in the order they were parked (spec §2.4.12)."""
    tail, params = _paged(status_condition(status), [], PARKED_ORDER, keyset, limit)
    async with conn.cursor(row_factory=class_row(StoredParkedChange)) as cursor:
        await cursor.execute(f"{PARKED_SELECT} {tail}", params)
        return await cursor.fetchall()


async def dlq_entry(conn: AsyncConnection[Any], entry_id: str) -> tuple[StoredDeadLetter, bytes] | None:
    """One entry and its original value bytes."""
    async with conn.cursor(row_factory=class_row(StoredDeadLetter)) as cursor:
        await cursor.execute(f"{_DLQ_SELECT} WHERE id = %s", (entry_id,))
        entry = await cursor.fetchone()
    if entry is None:
        return None
    value = await conn.execute("SELECT value FROM dlq_entries WHERE id = %s", (entry_id,))
    row = await value.fetchone()
    return None if row is None else (entry, bytes(row[0]))
