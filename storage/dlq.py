"""Reads and writes of `dlq_entries` (spec §7.1.2, §7.3): idempotent inserts, listing, replay bookkeeping."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from psycopg import AsyncConnection

from storage.ledger import record_outcomes


class DeadLetterRow(Protocol):
    """What the writer needs of one DLQ record (the `dlq` agent's entries satisfy it)."""

    @property
    def id(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def field(self) -> str | None: ...
    @property
    def stage(self) -> str: ...
    @property
    def source_topic(self) -> str: ...
    @property
    def source_partition(self) -> int | None: ...
    @property
    def source_offset(self) -> int | None: ...
    @property
    def project_id(self) -> int | None: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def replay_of(self) -> str | None: ...


@dataclass(frozen=True)
class StoredDeadLetter:
    """One listed entry: everything but the value, whose size stands in for it (spec §20.11.5)."""

    id: str
    reason: str
    message: str
    field: str | None
    stage: str
    source_topic: str
    source_partition: int | None
    source_offset: int | None
    project_id: int | None
    key: bytes | None
    size: int
    created_at: datetime
    replayed_at: datetime | None
    replay_count: int
    replay_of: str | None


@dataclass(frozen=True)
class ReplayableEntry:
    """The original key and value of an entry, as replay re-produces them (spec §7.3.1)."""

    id: str
    key: bytes | None
    value: bytes


_INSERT = """
INSERT INTO dlq_entries (id, reason, message, field, stage, source_topic, source_partition, source_offset,
                         project_id, key, value, created_at, replay_of)
SELECT * FROM unnest(%s::char(32)[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::integer[],
                     %s::bigint[], %s::bigint[], %s::bytea[], %s::bytea[], %s::timestamptz[], %s::char(32)[])
ON CONFLICT (id) DO NOTHING
RETURNING source_topic, source_partition, source_offset, reason
"""


async def insert_entries(conn: AsyncConnection, entries: Sequence[DeadLetterRow],
                         new_reasons: Counter[str] | None = None) -> int:
    """Insert entries not stored yet, and record their inputs in the ledger, in the caller's transaction; a record
    read again changes nothing (spec §2.4.4, §2.4.13). Returns how many were new, counted by reason into
    `new_reasons` when given."""
    unique: dict[str, DeadLetterRow] = {}
    for entry in entries:
        # The same id twice in one batch is one input dead-lettered twice (a re-read): the first one wins.
        unique.setdefault(entry.id, entry)
    if not unique:
        return 0
    rows = list(unique.values())
    columns: list[list[Any]] = [
        [row.id for row in rows],
        [row.reason for row in rows],
        [row.message for row in rows],
        [row.field for row in rows],
        [row.stage for row in rows],
        [row.source_topic for row in rows],
        [row.source_partition for row in rows],
        [row.source_offset for row in rows],
        [row.project_id for row in rows],
        [row.key for row in rows],
        [row.value for row in rows],
        [row.created_at for row in rows],
        [row.replay_of for row in rows],
    ]
    async with conn.cursor() as cursor:
        await cursor.execute(_INSERT, columns)
        inserted = await cursor.fetchall()
        # The input each new entry is the outcome of (spec §2.4.13); one read again records nothing.
        await record_outcomes(cursor, "dlq", [(topic, partition, offset) for topic, partition, offset, _ in inserted
                                              if partition is not None and offset is not None])
    if new_reasons is not None:
        new_reasons.update(reason for _, _, _, reason in inserted)
    return len(inserted)


def dlq_conditions(reason: str | None, project_id: int | None) -> tuple[list[str], list[Any]]:
    """The SQL conditions (and their parameters) of a DLQ filter: the CLI's and the API's."""
    clauses: list[str] = []
    params: list[Any] = []
    if reason is not None:
        clauses.append("reason = %s")
        params.append(reason)
    if project_id is not None:
        clauses.append("project_id = %s")
        params.append(project_id)
    return clauses, params


def _filter(reason: str | None, project_id: int | None) -> tuple[str, list[Any]]:
    clauses, params = dlq_conditions(reason, project_id)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


async def reason_counts(
    conn: AsyncConnection, *, reason: str | None = None, project_id: int | None = None
) -> list[tuple[str, int]]:
    """How many entries each reason has under the filter, most frequent first."""
    where, params = _filter(reason, project_id)
    cursor = await conn.execute(
        f"SELECT reason, count(*) FROM dlq_entries{where} GROUP BY reason ORDER BY count(*) DESC, reason",  # noqa: S608
        params,
    )
    return [(row[0], row[1]) for row in await cursor.fetchall()]


async def list_entries(
    conn: AsyncConnection, *, reason: str | None = None, project_id: int | None = None, limit: int = 50
) -> list[StoredDeadLetter]:
    """Entries under the filter, newest first (spec §20.11.5)."""
    where, params = _filter(reason, project_id)
    cursor = await conn.execute(
        "SELECT id, reason, message, field, stage, source_topic, source_partition, source_offset, project_id,"
        " key, octet_length(value), created_at, replayed_at, replay_count, replay_of"
        f" FROM dlq_entries{where} ORDER BY created_at DESC, id DESC LIMIT %s",  # noqa: S608
        [*params, limit],
    )
    return [StoredDeadLetter(*row) for row in await cursor.fetchall()]


async def replayable_by_ids(conn: AsyncConnection, ids: Sequence[str]) -> list[ReplayableEntry]:
    """The named entries that exist, in the order they were dead-lettered."""
    cursor = await conn.execute(
        "SELECT id, key, value FROM dlq_entries WHERE id = ANY(%s::char(32)[])"
        " ORDER BY created_at, source_topic, source_partition, source_offset, id",
        [list(ids)],
    )
    return [ReplayableEntry(row[0], row[1], row[2]) for row in await cursor.fetchall()]


async def replayable_by_reason(
    conn: AsyncConnection, *, reason: str, project_id: int | None, limit: int
) -> list[ReplayableEntry]:
    """Entries of a reason never replayed before, oldest first, so inputs go back in their original order.

    An entry already replayed is left out: its replay either worked or made a new entry of its own (spec §7.3.1),
    and selecting both would submit the same input twice per call.
    """
    where, params = _filter(reason, project_id)
    cursor = await conn.execute(
        f"SELECT id, key, value FROM dlq_entries{where} AND replay_count = 0"  # noqa: S608
        " ORDER BY created_at, source_topic, source_partition, source_offset, id LIMIT %s",
        [*params, limit],
    )
    return [ReplayableEntry(row[0], row[1], row[2]) for row in await cursor.fetchall()]


async def mark_replayed(conn: AsyncConnection, ids: Sequence[str], at: datetime) -> None:
    """Record on each old entry that it was re-submitted (spec §7.3.1)."""
    await conn.execute(
        "UPDATE dlq_entries SET replayed_at = %s, replay_count = replay_count + 1 WHERE id = ANY(%s::char(32)[])",
        [at, list(ids)],
    )
