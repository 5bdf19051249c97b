"""What the web UI's pages show, read the way the API reads it (spec §21: "reading the same data as the API").

The same request parsing (streams.web.issues), queries (storage.queries), paging (streams.web.pagination) and
serializers (streams.web.serialize) as the /api/0/ views, so a page and its API twin never disagree: the
templates receive the §20.3 and §20.10 objects themselves. Invisible types (spec §10.3.3) are left out here
exactly as there.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from storage import queries
from streams.services import registry
from streams.tables import current_options
from streams.web.errors import ApiError, not_found
from streams.web.issues import parse_list_request, searchable_type_ids
from streams.web.pagination import Page, read_page
from streams.web.query import DEFAULT_QUERY
from streams.web.serialize import issue_object, stats_series, stats_start
from streams.web.views import issue_details, visible_group

_ENVIRONMENTS_TTL = 60.0  # seconds: the filter menu may lag a new environment by a minute, not a scan per page
_environments: dict[int, tuple[float, list[str]]] = {}


@dataclass(frozen=True)
class Project:
    id: int
    slug: str


@dataclass
class StreamData:
    """One page of a project's issue stream (spec §20.5 semantics), or the error its parameters caused."""

    project: Project | None
    projects: list[Project]
    query: str
    sort: str
    environment: str
    environments: list[str]
    issues: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0
    previous_cursor: str | None = None
    next_cursor: str | None = None
    error: ApiError | None = None


async def projects(conn: AsyncConnection[Any]) -> list[Project]:
    """The first 100 projects by id: the header's project menu."""
    rows = await queries.fetch_projects(conn, queries.Keyset(), 100)
    return [Project(row.id, row.slug) for row in rows]


async def _project_environments(conn: AsyncConnection[Any], project_id: int, type_ids: Sequence[int]) -> list[str]:
    cached = _environments.get(project_id)
    if cached is not None and time.monotonic() - cached[0] < _ENVIRONMENTS_TTL:
        return cached[1]
    names = await queries.project_environments(conn, project_id, type_ids)
    _environments[project_id] = (time.monotonic(), names)
    return names


async def read_stream(
    conn: AsyncConnection[Any], project_id: int, params: list[tuple[str, str]], now: datetime
) -> StreamData:
    """The stream page's data: the list endpoint's answer for the same parameters, with 24 h stats per row."""
    known = await projects(conn)
    project = next((p for p in known if p.id == project_id), None)
    if project is None:
        slug = await queries.project_slug(conn, project_id)
        if slug is None:
            raise not_found(f"no project {project_id}")
        project = Project(project_id, slug)
    query_text = next((value for key, value in params if key == "query"), None)
    sort = next((value for key, value in params if key == "sort"), None) or "date"
    chosen = next((value for key, value in params if key == "environment"), "")
    options = current_options()
    visible = tuple(group_type.type_id for group_type in registry.visible(project_id, options))
    data = StreamData(project, known, DEFAULT_QUERY if query_text is None else query_text, sort, chosen,
                      await _project_environments(conn, project_id, visible))
    # The rows always draw their 24 h sparkline (spec §21), and the menu's "all environments" is no filter.
    api_params = [(key, value) for key, value in params
                  if key != "groupStatsPeriod" and (key, value) != ("environment", "")]
    try:
        listing = parse_list_request(api_params, registry, now)
    except ApiError as error:
        data.error = error
        return data
    search = listing.search(project_id, searchable_type_ids(registry, project_id, options, listing.query))
    order = queries.ISSUE_ORDERS[listing.sort]

    async def fetch(keyset: queries.Keyset, limit: int) -> list[queries.GroupRow]:
        return await queries.fetch_issues(conn, search, order, keyset, limit)

    page: Page = await read_page(fetch, order, listing.cursor, listing.limit)
    data.hits = await queries.count_issues(conn, search)
    counts = await queries.hourly_counts(conn, [row.id for row in page.rows], stats_start("24h", now))
    data.issues = [issue_object(row, registry, {"24h": stats_series("24h", counts.get(row.id, []), now)})
                   for row in page.rows]
    data.previous_cursor = page.previous.encode() if page.has_previous else None
    data.next_cursor = page.next.encode() if page.has_next else None
    return data


async def read_issue(conn: AsyncConnection[Any], issue_id: str, now: datetime) -> dict[str, Any]:
    """The §20.10 details of a visible issue, plus `latestEvent` (the latest occurrence's stored event).

    Found and read as the API reads it: unknown and invisible answer the same 404 (spec §10.3.3).
    """
    row = await visible_group(conn, issue_id)
    issue, latest = await issue_details(conn, row, now)
    issue["latestEvent"] = None if latest is None else await queries.event_data(conn, latest.project_id,
                                                                                latest.event_id)
    return issue
