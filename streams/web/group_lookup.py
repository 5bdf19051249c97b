"""The group an API path names (`/issues/{id}/`): by numeric id or short id, 404 when missing or invisible."""
from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from storage import queries
from streams.services import registry
from streams.tables import current_options
from streams.web.errors import not_found
from streams.web.issues import is_visible, parse_issue_ref


async def visible_group(conn: AsyncConnection[Any], issue_id: str) -> queries.GroupRow:
    """The group a path names, or 404 when there is none or its type is invisible for its project."""
    ref = parse_issue_ref(issue_id)
    if ref.group_id is not None:
        row = await queries.group_by_id(conn, ref.group_id)
    else:
        assert ref.slug is not None and ref.short_id is not None
        row = await queries.group_by_short_id(conn, ref.slug, ref.short_id)
    # Invisible and missing answer alike, so a hidden type cannot be probed (§10.3.3).
    if row is None or not is_visible(registry, row.project_id, row.type, current_options()):
        raise not_found(f"no issue {issue_id}")
    return row
