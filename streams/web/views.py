"""The GET endpoints of /api/0/ (spec §20.4), served by every worker's Faust web server.

Views only read the request, call the pure modules of this package and storage/queries.py, and write
JSON. Release flags are read live from the options GlobalTable, so a flag change shows on every worker
within seconds, without a restart (spec §10.4.1).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from aiohttp.web import HTTPRequestEntityTooLarge
from faust.web import Request, Response, View
from psycopg import AsyncConnection
from psycopg_pool import PoolTimeout

from storage import queries
from storage.external_issues import linked_issues
from storage.parked import parked_count
from storage.pool import PoolHolder
from storage.tracker_auto import failed_claims
from storage.tracker_configs import read_tracker_config, write_tracker_config
from streams.app import app
from streams.core.dlq import as_dlq_id
from streams.faust_compat.internals import broker_metadata_round_trip
from streams.ledger import audit_report
from streams.services import registry, trackers
from streams.settings import get_settings
from streams.tables import current_options
from streams.trackers import Tracker, describe_tracker
from streams.web import (
    dlq_replay,
    mutate,
    parked_retry,
    runtime_options,
    tracker_actions,
    tracker_webhook,
)
from streams.web import projects as project_settings
from streams.web.errors import ApiError, not_found, unavailable
from streams.web.group_lookup import visible_group
from streams.web.issues import (
    parse_dlq_filter,
    parse_list_request,
    parse_page_params,
    parse_parked_status,
    searchable_type_ids,
)
from streams.web.metrics import readiness, worker_state
from streams.web.mutations import IDEMPOTENCY_HEADER
from streams.web.pagination import Page, link_header, read_page
from streams.web.serialize import (
    activity_object,
    entry_json,
    flag_list,
    group_type_object,
    important_evidence,
    iso_datetime,
    issue_object,
    occurrence_object,
    option_list,
    parked_json,
    payload_json,
    project_object,
    stats_series,
    stats_start,
)
from streams.web.tracker_config import parse_tracker_config_body, tracker_config_object

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT = 5.0  # seconds to wait for a pooled connection before answering 503
_HEALTH_TIMEOUT = 3.0
MAX_BODY_BYTES = 1024 * 1024  # spec §20.1.1
FAILURES_LIMIT = 1000  # automatic tickets waiting for a person: a list to read, not to page through

# A pool of its own, not the sink's: a burst of reads must never make the sink wait for a connection, since
# the sink's commit is what lets the worker acknowledge its input (spec §2.4.3). Opened on the first request.
_reads = PoolHolder(get_settings().database_url, min_size=1, max_size=4)


class ApiView(View):
    """An API resource: `read` answers GET; errors become the §20.1.3 body."""

    allowed: tuple[str, ...] = ("GET",)  # the methods of the resource, for a 405's `Allow`

    async def read(self, request: Request, **params: Any) -> Response:
        raise NotImplementedError

    async def get(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self.read(request, **params))

    async def answer(self, request: Request, work: Awaitable[Response]) -> Response:
        """`work`'s response, or the §20.1.3 body of the ApiError or Postgres failure it raised."""
        try:
            return await work
        except ApiError as error:
            return self.api_error(error)
        except (psycopg.OperationalError, PoolTimeout) as error:
            log.warning("api: %s %s: postgres unavailable: %s", request.method, request.path, error)
            return self.api_error(unavailable("PostgreSQL is unreachable", checks={"postgres": "unavailable"}))

    # A method the resource does not take is a §20.1.3 405, not aiohttp's text; resources with mutations
    # (spec §20.8, §20.9) override these.
    # The bearer check of §20.1.2 (streams.web.guard) runs before routing: only an authorised mutation gets
    # this 405, or the catch-all's 404; any other one is a 401, or a 403 while no API_TOKEN is configured.
    async def put(self, request: Request, **params: Any) -> Response:
        return self._not_allowed(request)

    async def post(self, request: Request, **params: Any) -> Response:
        return self._not_allowed(request)

    async def delete(self, request: Request, **params: Any) -> Response:
        return self._not_allowed(request)

    async def patch(self, request: Request, **params: Any) -> Response:
        return self._not_allowed(request)

    def _not_allowed(self, request: Request) -> Response:
        error = ApiError(405, "method_not_allowed", f"{request.method} is not allowed here",
                         {"allowed": list(self.allowed)})
        return self.api_error(error, headers={"Allow": ", ".join(self.allowed)})

    def json_body(self, body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return self.bytes(orjson.dumps(body), content_type="application/json", status=status,
                          headers=dict(headers or {}))

    def paged_body(
        self, request: Request, body: list[Any], page: Page, headers: Mapping[str, str] | None = None
    ) -> Response:
        """A page of a list with its §20.2.2 `Link` header, built from the request's own URL and parameters."""
        base_url = str(request.url.with_query(None))  # type: ignore[attr-defined]
        link = link_header(base_url, list(request.query.items()), page)  # type: ignore[attr-defined]
        return self.json_body(body, headers={"Link": link, **(headers or {})})

    def api_error(self, error: ApiError, headers: Mapping[str, str] | None = None) -> Response:
        return self.json_body(error.body(), status=error.status, headers=headers)


async def connection() -> AbstractAsyncContextManager[AsyncConnection[Any]]:
    """A connection of the API's read pool, through which the web UI reads too."""
    pool = await _reads.get()
    return pool.connection(timeout=_CONNECT_TIMEOUT)


async def issue_details(
    conn: AsyncConnection[Any], row: queries.GroupRow, now: datetime
) -> tuple[dict[str, Any], queries.OccurrenceRow | None]:
    """The §20.10 details of a visible issue (the issue object with both stats periods, evidence, latest
    occurrence, environments, the latest 100 activities), and its latest occurrence: the API's and the web UI's."""
    counts = await queries.hourly_counts(conn, [row.id], stats_start("14d", now))
    environments = await queries.group_environments(conn, row.id)
    latest = await queries.latest_occurrence(conn, row.id)
    activities = await queries.fetch_activities(conn, row.id, queries.Keyset(), 100)
    hourly = counts.get(row.id, [])
    issue = issue_object(row, registry, {
        "24h": stats_series("24h", hourly, now), "14d": stats_series("14d", hourly, now),
    })
    evidence = latest.evidence_display if latest is not None else []
    issue.update(
        evidence=evidence,
        importantEvidence=important_evidence(evidence),
        latestOccurrence=None if latest is None else occurrence_object(latest),
        environments=environments,
        activity=[activity_object(activity) for activity in activities],
    )
    return issue, latest


def _project_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= 2**63 - 1:
        raise not_found(f"no project {text}")
    return int(text)


class ProjectsView(ApiView):
    """Every project, by id, in keyset pages (spec §20.4, §20.11.1)."""

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        cursor, limit = parse_page_params(list(request.query.items()), queries.PROJECT_ORDER)  # type: ignore[attr-defined]
        async with await connection() as conn:

            async def fetch(keyset: queries.Keyset, size: int) -> list[queries.ProjectRow]:
                return await queries.fetch_projects(conn, keyset, size)

            page = await read_page(fetch, queries.PROJECT_ORDER, cursor, limit)
            drops = await queries.project_drops(conn, [row.id for row in page.rows])
        body = [project_object(row, drops.get(row.id, {}), registry) for row in page.rows]
        return self.paged_body(request, body, page)


class ProjectView(ApiView):
    """One project (spec §20.11.1); PUT creates it or changes its settings through the options topic (§11.1)."""

    allowed = ("GET", "PUT")

    async def put(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self._write(request, **params))

    async def _write(self, request: Request, project_id: str) -> Response:
        status, body = await project_settings.put_project(connection, _project_id(project_id), await _body(request))
        return self.json_body(body, status=status)

    async def read(self, request: Request, project_id: str) -> Response:  # type: ignore[override]
        project = _project_id(project_id)
        async with await connection() as conn:
            row = await queries.project_by_id(conn, project)
            if row is None:
                raise not_found(f"no project {project_id}")
            drops = await queries.project_drops(conn, [row.id])
        return self.json_body(project_object(row, drops.get(row.id, {}), registry))


class ProjectIssuesView(ApiView):
    """Search a project's issues (spec §20.5): query, sort, keyset pages, `Link` and `X-Hits`; PUT updates and
    DELETE deletes many of them (spec §20.8.3, §20.9) through the stream (streams.web.mutate)."""

    allowed = ("GET", "PUT", "DELETE")

    async def put(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self._update(request, **params))

    async def delete(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self._delete(request, **params))

    async def _update(self, request: Request, project_id: str) -> Response:
        status, body = await mutate.update_many(connection, _project_id(project_id), await _body(request),
                                                list(request.query.items()),  # type: ignore[attr-defined]
                                                request.headers.get(IDEMPOTENCY_HEADER))  # type: ignore[attr-defined]
        return self.json_body(body, status=status)

    async def _delete(self, request: Request, project_id: str) -> Response:
        status, body = await mutate.delete_many(connection, _project_id(project_id),
                                                list(request.query.items()),  # type: ignore[attr-defined]
                                                request.headers.get(IDEMPOTENCY_HEADER))  # type: ignore[attr-defined]
        return self.json_body(body, status=status)

    async def read(self, request: Request, project_id: str) -> Response:  # type: ignore[override]
        now = datetime.now(UTC)  # "now" of a read is the request time (spec §0.2)
        project = _project_id(project_id)
        params = list(request.query.items())  # type: ignore[attr-defined]
        listing = parse_list_request(params, registry, now)
        options = current_options()
        async with await connection() as conn:
            if await queries.project_slug(conn, project) is None:
                raise not_found(f"no project {project}")
            search = listing.search(project, searchable_type_ids(registry, project, options, listing.query))
            order = queries.ISSUE_ORDERS[listing.sort]

            async def fetch(keyset: queries.Keyset, limit: int) -> list[queries.GroupRow]:
                return await queries.fetch_issues(conn, search, order, keyset, limit)

            page = await read_page(fetch, order, listing.cursor, listing.limit)
            hits = await queries.count_issues(conn, search)
            stats: dict[int, dict[str, list[list[int]]]] = {}
            period = listing.group_stats_period
            if period is not None and page.rows:
                counts = await queries.hourly_counts(conn, [row.id for row in page.rows], stats_start(period, now))
                stats = {row.id: {period: stats_series(period, counts.get(row.id, []), now)} for row in page.rows}
        body = [issue_object(row, registry, stats.get(row.id) if period else None) for row in page.rows]
        return self.paged_body(request, body, page, {"X-Hits": str(hits)})


class IssueDetailsView(ApiView):
    """One issue (spec §20.10) by group id or short id; 404 when its type is invisible for its project. PUT
    updates it and DELETE deletes it (spec §20.8, §20.9) through the stream (streams.web.mutate)."""

    allowed = ("GET", "PUT", "DELETE")

    async def put(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self._update(request, **params))

    async def delete(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self._delete(request, **params))

    async def _update(self, request: Request, issue_id: str) -> Response:
        status, body = await mutate.update_one(connection, issue_id, await _body(request),
                                               list(request.query.items()),  # type: ignore[attr-defined]
                                               request.headers.get(IDEMPOTENCY_HEADER))  # type: ignore[attr-defined]
        return self.json_body(body, status=status)

    async def _delete(self, request: Request, issue_id: str) -> Response:
        status, body = await mutate.delete_one(connection, issue_id,
                                               list(request.query.items()),  # type: ignore[attr-defined]
                                               request.headers.get(IDEMPOTENCY_HEADER))  # type: ignore[attr-defined]
        return self.json_body(body, status=status)

    async def read(self, request: Request, issue_id: str) -> Response:  # type: ignore[override]
        async with await connection() as conn:
            row = await visible_group(conn, issue_id)
            issue, _ = await issue_details(conn, row, datetime.now(UTC))
            links = await linked_issues(conn, row.id)
        issue["externalIssues"] = tracker_actions.linked_issue_objects(links)  # spec §24.4
        return self.json_body(issue)


# Reads one page of rows: (connection, keyset, page size) → rows, for a list that needs nothing else.
RowsReader = Callable[[AsyncConnection[Any], queries.Keyset, int], Awaitable[list[Any]]]


async def _list_page(
    view: ApiView, request: Request, order: queries.KeysetOrder, fetch_rows: RowsReader,
    to_object: Callable[[Any], dict[str, Any]], *, params: list[tuple[str, str]] | None = None,
) -> Response:
    """One keyset page of a list (spec §20.2): cursor and limit from the request, rows, the Link header."""
    query = params if params is not None else list(request.query.items())  # type: ignore[attr-defined]
    cursor, limit = parse_page_params(query, order)
    async with await connection() as conn:

        async def fetch(keyset: queries.Keyset, size: int) -> list[Any]:
            return await fetch_rows(conn, keyset, size)

        page = await read_page(fetch, order, cursor, limit)
    return view.paged_body(request, [to_object(item) for item in page.rows], page)


async def _issue_page(
    view: ApiView, request: Request, issue_id: str, order: Any, fetch_rows: Callable[..., Awaitable[list[Any]]],
    to_object: Callable[[Any], dict[str, Any]],
) -> Response:
    """One keyset page of a visible issue's rows (activities, occurrences), newest first (spec §20.2)."""
    cursor, limit = parse_page_params(list(request.query.items()), order)  # type: ignore[attr-defined]
    async with await connection() as conn:
        row = await visible_group(conn, issue_id)

        async def fetch(keyset: queries.Keyset, size: int) -> list[Any]:
            return await fetch_rows(conn, row.id, keyset, size)

        page = await read_page(fetch, order, cursor, limit)
    return view.paged_body(request, [to_object(item) for item in page.rows], page)


class IssueActivitiesView(ApiView):
    """The issue's activities, newest first, in keyset pages (spec §20.4, §20.2)."""

    async def read(self, request: Request, issue_id: str) -> Response:  # type: ignore[override]
        return await _issue_page(self, request, issue_id, queries.ACTIVITY_ORDER, queries.fetch_activities,
                                 activity_object)


class IssueOccurrencesView(ApiView):
    """The issue's occurrences, newest T first, in keyset pages (spec §20.4, §20.2)."""

    async def read(self, request: Request, issue_id: str) -> Response:  # type: ignore[override]
        return await _issue_page(self, request, issue_id, queries.OCCURRENCE_ORDER, queries.fetch_occurrences,
                                 occurrence_object)


class LatestOccurrenceView(ApiView):
    """The issue's newest occurrence with its stored event (spec §20.4); 404 like the details."""

    async def read(self, request: Request, issue_id: str) -> Response:  # type: ignore[override]
        async with await connection() as conn:
            row = await visible_group(conn, issue_id)
            latest = await queries.latest_occurrence(conn, row.id)
            if latest is None:
                raise not_found(f"issue {issue_id} has no stored occurrence")
            event = await queries.event_data(conn, latest.project_id, latest.event_id)
        return self.json_body({**occurrence_object(latest), "event": event})


class GroupTypesView(ApiView):
    """Every registered group type with its flags and drop totals (spec §20.11.2)."""

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        async with await connection() as conn:
            drops = await queries.drop_totals(conn)
        options = current_options()
        return self.json_body([
            group_type_object(group_type, options, drops.get(group_type.type_id, {}))
            for group_type in registry.all()
        ])


class GroupTypeView(ApiView):
    async def read(self, request: Request, id_or_slug: str) -> Response:  # type: ignore[override]
        if id_or_slug.isascii() and id_or_slug.isdigit():
            found = registry.get_by_type_id(int(id_or_slug)) if registry.is_registered(int(id_or_slug)) else None
        else:
            found = registry.get_by_slug(id_or_slug)
        if found is None:
            raise not_found(f"no group type {id_or_slug}")
        async with await connection() as conn:
            drops = await queries.drop_totals(conn, found.type_id)
        return self.json_body(group_type_object(found, current_options(), drops.get(found.type_id, {})))


class FlagsView(ApiView):
    """Every release flag with its stage, read live from the options table (spec §20.11.3)."""

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        return self.json_body(flag_list(registry, current_options()))


class OptionsView(ApiView):
    """Every runtime option with its value and default (spec §20.11.4)."""

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        return self.json_body(option_list(registry, current_options()))


class FlagView(ApiView):
    """One release flag (spec §20.11.3); PUT `{"stage", "projects"}` sets it through the options topic, as
    `issue-platform flag set` does (streams.web.runtime_options)."""

    allowed = ("GET", "PUT")

    async def read(self, request: Request, name: str) -> Response:  # type: ignore[override]
        return self.json_body(runtime_options.flag_object(name))

    async def put(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self._write(request, **params))

    async def _write(self, request: Request, name: str) -> Response:
        status, body = await runtime_options.put_flag(name, await _body(request))
        return self.json_body(body, status=status)


class OptionView(ApiView):
    """One runtime option (spec §20.11.4); PUT `{"value"}` sets it through the options topic, as
    `issue-platform option set` does (streams.web.runtime_options)."""

    allowed = ("GET", "PUT")

    async def read(self, request: Request, name: str) -> Response:  # type: ignore[override]
        return self.json_body(runtime_options.option_object(name))

    async def put(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self._write(request, **params))

    async def _write(self, request: Request, name: str) -> Response:
        status, body = await runtime_options.put_option(name, await _body(request))
        return self.json_body(body, status=status)


class DeadLettersView(ApiView):
    """Dead-letter entries, newest first, in keyset pages, by `reason` and `project_id` (spec §20.11.5)."""

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        params = list(request.query.items())  # type: ignore[attr-defined]
        selection = parse_dlq_filter(params)
        return await _list_page(
            self, request, queries.DLQ_ORDER,
            lambda conn, keyset, size: queries.fetch_dlq_entries(conn, selection.reason, selection.project_id,
                                                                 keyset, size),
            entry_json, params=params)


class CommandView(ApiView):
    """A CLI command over HTTP: POST only, its body handed to `run`."""

    allowed = ("POST",)

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        return self._not_allowed(request)

    async def post(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self._read_and_run(request))

    async def _read_and_run(self, request: Request) -> Response:
        return await self.run(await _body(request))  # inside `answer`: a body too large is its 413

    async def run(self, body: bytes) -> Response:
        raise NotImplementedError


class DeadLetterReplayView(CommandView):
    """`POST /api/0/dlq/replay/` (spec §20.11.5): the CLI's `dlq replay` (streams.web.dlq_replay)."""

    async def run(self, body: bytes) -> Response:
        status, answer = await dlq_replay.replay(connection, body)
        return self.json_body(answer, status=status)


class DeadLetterView(ApiView):
    """One entry with its payload: UTF-8 text, or base64 with `payloadEncoding` (spec §20.11.5)."""

    async def read(self, request: Request, entry_id: str) -> Response:  # type: ignore[override]
        normalised = as_dlq_id(entry_id)
        if normalised is None:
            raise not_found(f"no DLQ entry {entry_id}")
        async with await connection() as conn:
            found = await queries.dlq_entry(conn, normalised)
        if found is None:
            raise not_found(f"no DLQ entry {entry_id}")
        entry, value = found
        return self.json_body({**entry_json(entry), **payload_json(value)})


class ParkedChangesView(ApiView):
    """Sink changes parked for a permanent failure (spec §2.4.12), in the order they were parked, in keyset
    pages; `status` = `parked` (the default), `resolved` or `all`."""

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        params = list(request.query.items())  # type: ignore[attr-defined]
        status = parse_parked_status(params)
        return await _list_page(
            self, request, queries.PARKED_ORDER,
            lambda conn, keyset, size: queries.fetch_parked(conn, status, keyset, size), parked_json, params=params)


class ParkedRetryView(CommandView):
    """`POST /api/0/parked/retry/` (spec §2.4.12): the CLI's `parked retry` (streams.web.parked_retry)."""

    async def run(self, body: bytes) -> Response:
        return self.json_body(await parked_retry.retry(body))


class AuditView(ApiView):
    """The ledger per input partition (spec §2.4.13), as `issue-platform --json audit` prints it; 200 either way,
    `ok` says whether every offset is accounted."""

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        async with await connection() as conn:
            report = await audit_report(conn)
        return self.json_body(report.to_json())


class HealthView(ApiView):
    """200 when Kafka and Postgres answer, else 503 with the failing checks (spec §20.4).

    `checks.parked` is the number of parked sink changes (spec §2.4.12): not a reason for 503, since no restart
    applies them, but the one place a probe sees that someone has to look (`issue-platform parked list`).
    """

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        kafka, (pg, parked) = await asyncio.gather(_check(_kafka_answers()), _postgres_and_parked())
        checks: dict[str, str | int] = {"kafka": kafka, "postgres": pg, "parked": parked}
        healthy = kafka == "ok" and pg == "ok"
        return self.json_body({"status": "ok" if healthy else "unavailable", "checks": checks},
                              status=200 if healthy else 503)


class ReadyView(ApiView):
    """200 only when this worker has its assignment, finished table recovery and reaches Postgres; else 503
    with the checks and the names of those missing (spec §20.4): a load balancer's or orchestrator's probe."""

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        assigned, recovered = worker_state(app)
        status, body = readiness(assigned=assigned, recovered=recovered, postgres=await _check(_postgres_answers()))
        return self.json_body(body, status=status)


async def _postgres_answers() -> None:
    async with await connection() as conn:
        await conn.execute("SELECT 1")


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, _HEALTH_TIMEOUT)
    except Exception as error:  # noqa: BLE001  # any failure is "unavailable"; the log says which
        log.warning("health: %s", error or type(error).__name__)
        return "unavailable"
    return "ok"


async def _kafka_answers() -> None:
    # A metadata round trip on the worker's own producer connection: the broker answers, not just a socket.
    await broker_metadata_round_trip(app)


async def _postgres_and_parked() -> tuple[str, str | int]:
    """("ok", how many changes are parked), or ("unavailable", "unavailable")."""
    count: list[int] = []

    async def answers() -> None:
        async with await connection() as conn:
            count.append(await parked_count(conn))

    state = await _check(answers())
    return (state, count[0]) if count else (state, "unavailable")


async def _body(request: Request) -> bytes:
    """The request body, or 413 `payload_too_large` over 1 MiB (spec §20.1.1, §20.1.3)."""
    too_large = ApiError(413, "payload_too_large", f"The body is over {MAX_BODY_BYTES} bytes",
                         {"limit": MAX_BODY_BYTES})
    length = request.content_length  # type: ignore[attr-defined]
    if length is not None and length > MAX_BODY_BYTES:
        raise too_large
    try:
        # aiohttp stops reading at its client_max_size, which defaults to the same 1 MiB.
        body: bytes = await request.read()  # type: ignore[attr-defined]
    except HTTPRequestEntityTooLarge:
        raise too_large from None
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    return body


class TrackersView(ApiView):
    """The tracker registry (spec §24.3): every registered tracker with its actions and config fields."""

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        return self.json_body([describe_tracker(tracker) for tracker in trackers.all()])


class TrackerFailuresView(ApiView):
    """`GET /api/0/trackers/failures/` (spec §24.5): the automatic tickets waiting for a person, `failed` (retried for
    24 h, never made) and `in_doubt` (may exist; the tracker cannot search for it), the latest first."""

    async def read(self, request: Request) -> Response:  # type: ignore[override]
        async with await connection() as conn:
            claims = await failed_claims(conn, FAILURES_LIMIT)
        return self.json_body([{**claim.as_dict(), "created_at": iso_datetime(claim.created_at),
                                "updated_at": iso_datetime(claim.updated_at)} for claim in claims])


class ProjectTrackerView(ApiView):
    """A project's config of one tracker (spec §24.3, §24.3.1): GET with secrets masked, PUT (with the token,
    checked before routing by streams.web.guard) to replace it. Stored in Postgres by this handler: a config
    is not group state, so it does not go through the stream (§20.1.4 is about groups)."""

    allowed = ("GET", "PUT")

    async def read(self, request: Request, project_id: str, slug: str) -> Response:  # type: ignore[override]
        project, tracker = _project_id(project_id), _tracker(slug)
        async with await connection() as conn:
            await _known_project(conn, project)
            row = await read_tracker_config(conn, project, tracker.slug)
        if row is None:
            return self.json_body(tracker_config_object(project, tracker.slug, tracker.config_fields, {}, None, None))
        return self.json_body(tracker_config_object(project, tracker.slug, tracker.config_fields, row.config,
                                                    row.auto_create, row.updated_at))

    async def put(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self.write(request, **params))

    async def write(self, request: Request, project_id: str, slug: str) -> Response:
        project, tracker = _project_id(project_id), _tracker(slug)
        raw = await _body(request)
        async with await connection() as conn:
            await _known_project(conn, project)
            stored = await read_tracker_config(conn, project, tracker.slug, for_update=True)
            update = parse_tracker_config_body(tracker.config_fields, raw, {} if stored is None else stored.config)
            row = await write_tracker_config(conn, project, tracker.slug, update.config, update.auto_create)
        # Names only: the config holds secrets (§24.3.1).
        log.info("api: tracker %s configured for project %s (fields: %s)", tracker.slug, project,
                 ", ".join(sorted(row.config)))
        return self.json_body(tracker_config_object(project, tracker.slug, tracker.config_fields, row.config,
                                                    row.auto_create, row.updated_at))


def _tracker(slug: str) -> type[Tracker]:
    found = trackers.get(slug)
    if found is None:
        raise not_found(f"no tracker {slug}")
    return found


async def _known_project(conn: AsyncConnection[Any], project_id: int) -> None:
    if await queries.project_slug(conn, project_id) is None:
        raise not_found(f"no project {project_id}")


def _base_url(request: Request) -> str:
    """The worker's own origin: an issue's page, as a ticket links it (spec §24.1)."""
    return str(request.url.origin())  # type: ignore[attr-defined]


class IssueTrackersView(ApiView):
    """`GET /api/0/issues/{id}/trackers/` (spec §24.3): the trackers configured for the issue's project."""

    async def read(self, request: Request, issue_id: str) -> Response:  # type: ignore[override]
        status, body = await tracker_actions.issue_trackers(connection, issue_id, _base_url(request))
        return self.json_body(body, status=status)


class IssueTrackerActionView(ApiView):
    """`…/trackers/{slug}/create/`, `link/` (GET: the form's fields; POST) and `unlink/` (POST), spec §24.3, §24.4.
    POST needs the token, checked before routing (streams.web.guard)."""

    allowed = ("GET", "POST")

    async def read(self, request: Request, issue_id: str, slug: str, action: str) -> Response:  # type: ignore[override]
        if action not in ("create", "link"):
            raise not_found(f"no form {action}")
        status, body = await tracker_actions.form_fields(connection, issue_id, slug, action, _base_url(request))
        return self.json_body(body, status=status)

    async def post(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self._act(request, **params))

    async def _act(self, request: Request, issue_id: str, slug: str, action: str) -> Response:
        if action not in ("create", "link", "unlink"):
            raise not_found(f"no action {action}")
        status, body = await tracker_actions.act(connection, issue_id, slug, action, await _body(request),
                                                 _base_url(request))
        return self.json_body(body, status=status)


class TrackerWebhookView(ApiView):
    """`POST /api/0/projects/{id}/trackers/{slug}/webhook/` (spec §24.6): signed by the tracker, no bearer token."""

    allowed = ("POST",)

    async def read(self, request: Request, project_id: str, slug: str) -> Response:  # type: ignore[override]
        return self._not_allowed(request)

    async def post(self, request: Request, **params: Any) -> Response:
        return await self.answer(request, self._receive(request, **params))

    async def _receive(self, request: Request, project_id: str, slug: str) -> Response:
        headers = request.headers  # type: ignore[attr-defined]
        status, body = await tracker_webhook.receive(connection, _project_id(project_id), slug, headers.get,
                                                     await _body(request))
        return self.json_body(body, status=status)


# Registered last by streams.worker, so it matches only paths no resource above took (aiohttp tries routes in order).
class UnknownResourceView(ApiView):
    """Any other path under /api/0/ is a §20.1.3 404, whatever the method (paths end with a slash)."""

    async def read(self, request: Request, path: str) -> Response:  # type: ignore[override]
        raise not_found(f"no resource /api/0/{path}", path=f"/api/0/{path}")

    async def put(self, request: Request, **params: Any) -> Response:
        return await self.get(request, **params)

    async def post(self, request: Request, **params: Any) -> Response:
        return await self.get(request, **params)

    async def delete(self, request: Request, **params: Any) -> Response:
        return await self.get(request, **params)

    async def patch(self, request: Request, **params: Any) -> Response:
        return await self.get(request, **params)
