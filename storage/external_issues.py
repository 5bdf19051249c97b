"""The tickets linked to groups (`external_issues`, spec §24.4): written by the sink, read by the API and webhooks."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from psycopg import AsyncConnection, AsyncCursor

from storage.changes import ExternalIssueChange


class _Persisted(Protocol):
    id: int


@dataclass(frozen=True)
class LinkedIssue:
    group_id: int
    project_id: int
    tracker: str
    external_id: str
    url: str | None
    label: str
    title: str | None
    actor: str | None
    request_id: str
    created_at: datetime


# (group id, tracker) → the row to upsert, or None to delete: the last change of the batch for the pair wins.
LinkWrites = dict[tuple[int, str], tuple[Any, ...] | None]


def link_writes(changes: Iterable[object], persisted: Mapping[tuple[str, int], _Persisted]) -> LinkWrites:
    """What a sink batch's applied `external_issue` changes write, in their order (spec §24.3: one per tracker)."""
    writes: LinkWrites = {}
    for change in changes:
        if not isinstance(change, ExternalIssueChange):
            continue
        group_id = persisted[change.identity].id
        link = change.external
        key = (group_id, link.tracker)
        if link.action == "unlink":
            writes[key] = None
            continue
        writes[key] = (group_id, change.project_id, link.tracker, link.external_id, link.url, link.label, link.title,
                       link.actor, change.api_change or change.cause_id, datetime.fromtimestamp(change.t, UTC))
    return writes


_UPSERT = (
    "INSERT INTO external_issues (group_id, project_id, tracker, external_id, url, label, title, actor, request_id,"
    " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (group_id, tracker) DO UPDATE SET external_id = EXCLUDED.external_id, url = EXCLUDED.url,"
    " label = EXCLUDED.label, title = EXCLUDED.title, actor = EXCLUDED.actor, request_id = EXCLUDED.request_id,"
    " created_at = EXCLUDED.created_at"
)


async def write_links(cur: AsyncCursor[Any], writes: LinkWrites) -> None:
    """Rare (a person's action): one statement per link, in the sink's transaction."""
    for (group_id, tracker), row in sorted(writes.items()):
        if row is None:
            await cur.execute("DELETE FROM external_issues WHERE group_id = %s AND tracker = %s", (group_id, tracker))
        else:
            await cur.execute(_UPSERT, row)


_SELECT = ("SELECT group_id, project_id, tracker, external_id, url, label, title, actor, request_id, created_at"
           " FROM external_issues")


async def linked_issues(conn: AsyncConnection[Any], group_id: int) -> list[LinkedIssue]:
    cursor = await conn.execute(f"{_SELECT} WHERE group_id = %s ORDER BY tracker", (group_id,))
    return [LinkedIssue(*row) for row in await cursor.fetchall()]


async def groups_of_ticket(
    conn: AsyncConnection[Any], project_id: int, tracker: str, external_ids: Sequence[str]
) -> list[LinkedIssue]:
    """The links of a ticket in a project (spec §24.6): the groups its closing resolves."""
    cursor = await conn.execute(
        f"{_SELECT} WHERE project_id = %s AND tracker = %s AND external_id = ANY(%s) ORDER BY group_id",
        (project_id, tracker, list(external_ids)),
    )
    return [LinkedIssue(*row) for row in await cursor.fetchall()]
