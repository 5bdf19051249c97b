"""The mutations of /api/0/ (spec §20.8, §20.9): targets read from PostgreSQL, grouping messages produced, 202.

Never applied here (spec §20.1.4): each change goes to the grouping topic keyed by its group key, and the owner of
the key applies it in order with the key's occurrences; the sink persists it. `?wait=1` waits, at most 10 s, until
the sink has recorded every change's outcome in `api_changes`, and answers 200 with the issues as they are then
(a deleted issue has none: a delete answers its 202 body with 200 and each change's outcome). A change that found
its issue gone (`group_not_found`) is a 404 naming the ids; a wait that runs out is a 202 naming the changes still
pending; PostgreSQL failing once the changes are produced is a 202 saying they were produced, never a 503.
An Idempotency-Key is bound to its request for a day (`api_requests`, as long as `api_changes` keeps outcomes):
another request with the same key is 422 `idempotency_key_reused`, and the same request again produces nothing
when every change of it has an outcome already.
The bearer token was checked before routing (streams.web.guard): an unauthorised mutation never gets here.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import PoolTimeout

from storage import queries
from storage.api_requests import bind_request_key, change_outcomes
from storage.search import IssueSearch
from streams.core.messages import encode
from streams.outbox import Outbox
from streams.services import registry
from streams.tables import current_options
from streams.topics import grouping_topic
from streams.web.errors import ApiError, invalid_parameter, not_found, unavailable
from streams.web.issues import is_visible, parse_issue_ref, searchable_type_ids
from streams.web.mutations import (
    IDEMPOTENCY_HEADER,
    MAX_BULK,
    PlannedChange,
    Target,
    accepted_body,
    numeric_id,
    parse_bulk_delete_ids,
    parse_bulk_update_targets,
    parse_update_body,
    plan_deletes,
    plan_updates,
    request_digest,
    request_key,
)
from streams.web.query import InvalidQuery, parse_query
from streams.web.serialize import issue_object

log = logging.getLogger(__name__)

WAIT_SECONDS = 10.0  # spec §20.8.4 (issue 13): `?wait=1` waits at most this long
WAIT_POLL_SECONDS = 0.1
GROUP_NOT_FOUND = "group_not_found"  # the outcome of a change whose group was gone (api_changes, spec §20.8.4)
_WAIT_VALUES = {"1": True, "true": True, "0": False, "false": False, "": False}

Connect = Callable[[], Awaitable[AbstractAsyncContextManager[AsyncConnection[Any]]]]
Answer = tuple[int, Any]  # (HTTP status, JSON body)
Params = Sequence[tuple[str, str]]


def parse_wait(params: Params) -> bool:
    values = [value for key, value in params if key == "wait"]
    if not values:
        return False
    wait = _WAIT_VALUES.get(values[0].lower())
    if wait is None:
        raise invalid_parameter("wait", "wait must be 1 or 0")
    return wait


async def update_one(connect: Connect, issue_id: str, raw: bytes, params: Params, idempotency: str | None) -> Answer:
    """`PUT /api/0/issues/{id}/` (spec §20.8)."""
    t = time.time()  # T of every message of the request (spec §0.2)
    key, wait, body = request_key(idempotency), parse_wait(params), parse_update_body(raw)
    async with await connect() as conn:
        await _bind_key(conn, idempotency, key, "PUT", f"issues/{issue_id}", params, raw)
        target = await _issue_target(conn, issue_id)
    planned = plan_updates(body, [target], t=t, key=key)
    accepted = accepted_body([target], planned, body.echo)
    return await _carry_out(connect, planned, [target], accepted, wait=wait, retried=idempotency is not None,
                            issues="one")


async def update_many(connect: Connect, project: int, raw: bytes, params: Params, idempotency: str | None) -> Answer:
    """`PUT /api/0/projects/{project_id}/issues/?id=…|?query=…` (spec §20.8.3)."""
    t = time.time()
    key, wait = request_key(idempotency), parse_wait(params)
    selection, body = parse_bulk_update_targets(params), parse_update_body(raw)
    async with await connect() as conn:
        await _bind_key(conn, idempotency, key, "PUT", f"projects/{project}/issues", params, raw)
        await _known_project(conn, project)
        if selection.ids is not None:
            targets = await _project_targets(conn, project, selection.ids)
        else:
            assert selection.query is not None
            targets = await _query_targets(conn, project, selection.query)
    planned = plan_updates(body, targets, t=t, key=key)
    accepted = accepted_body(targets, planned, body.echo)
    return await _carry_out(connect, planned, targets, accepted, wait=wait, retried=idempotency is not None,
                            issues="list")


async def delete_one(connect: Connect, issue_id: str, params: Params, idempotency: str | None) -> Answer:
    """`DELETE /api/0/issues/{id}/` (spec §20.9)."""
    t = time.time()
    key, wait = request_key(idempotency), parse_wait(params)
    async with await connect() as conn:
        await _bind_key(conn, idempotency, key, "DELETE", f"issues/{issue_id}", params, b"")
        target = await _issue_target(conn, issue_id)
    return await _delete([target], t=t, key=key, wait=wait, connect=connect, retried=idempotency is not None)


async def delete_many(connect: Connect, project: int, params: Params, idempotency: str | None) -> Answer:
    """`DELETE /api/0/projects/{project_id}/issues/?id=…&id=…` (spec §20.9): ids only, 1-1000."""
    t = time.time()
    key, wait, ids = request_key(idempotency), parse_wait(params), parse_bulk_delete_ids(params)
    async with await connect() as conn:
        await _bind_key(conn, idempotency, key, "DELETE", f"projects/{project}/issues", params, b"")
        await _known_project(conn, project)
        targets = await _project_targets(conn, project, ids)
    return await _delete(targets, t=t, key=key, wait=wait, connect=connect, retried=idempotency is not None)


async def _delete(targets: Sequence[Target], *, t: float, key: str, wait: bool, connect: Connect,
                  retried: bool) -> Answer:
    planned = plan_deletes(targets, t=t, key=key)
    return await _carry_out(connect, planned, targets, accepted_body(targets, planned), wait=wait, retried=retried,
                            issues=None)


async def _bind_key(conn: AsyncConnection[Any], header: str | None, key: str, method: str, target: str,
                    params: Params, raw: bytes) -> None:
    """A client's Idempotency-Key names one request: sent again with another one, it is 422 (never applied)."""
    if header is None:
        return
    bound = await bind_request_key(conn, key, request_digest(method, target, params, raw))
    if bound != request_digest(method, target, params, raw):
        raise ApiError(422, "idempotency_key_reused", f"{IDEMPOTENCY_HEADER} {key!r} was used with another request "
                       "in the last day; send a new key for a new request", {"header": IDEMPOTENCY_HEADER})


async def _carry_out(connect: Connect, planned: Sequence[PlannedChange], targets: Sequence[Target],
                     accepted: dict[str, Any], *, wait: bool, retried: bool, issues: str | None) -> Answer:
    """Produce the changes (unless a retry of a request whose changes are all recorded already), then 202, or with
    `?wait=1` what became of them: 200 with the issues (`issues` "one" or "list"; a delete's 202 body with each
    change's outcome); 404 `not_found` when an issue was gone by the time its change reached the owner; 202 saying
    which are still pending after WAIT_SECONDS, or that PostgreSQL could not be read after the produce."""
    recorded: dict[str, str] = {}
    if retried and planned:
        async with await connect() as conn:
            recorded = await change_outcomes(conn, [change.id for change in planned])
    if len(recorded) < len(planned):
        await _produce(planned)  # a change produced twice is applied once: its id is deterministic (§2.4.7)
    if not wait:
        return 202, accepted
    try:
        outcomes = await _outcomes(connect, planned)
        pending = [change.id for change in planned if change.id not in outcomes]
        if pending:
            return 202, {**accepted, "applied": False, "pending": pending,
                         "message": f"{len(pending)} of {len(planned)} changes were not applied within "
                                    f"{WAIT_SECONDS:.0f} s; they are on the grouping topic and will be applied"}
        changes = [{**change.summary(), "outcome": outcomes[change.id]} for change in planned]
        gone = [str(change.target.group_id) for change in planned if outcomes[change.id] == GROUP_NOT_FOUND]
        if gone and issues is not None:
            raise not_found(f"{len(set(gone))} of the issues no longer existed when the change reached them",
                            ids=sorted(set(gone), key=gone.index), changes=changes)
        if issues is None:
            return 200, {**accepted, "changes": changes}
        async with await connect() as conn:
            rows = await queries.groups_by_ids(conn, [target.group_id for target in targets])
    except (psycopg.OperationalError, PoolTimeout) as error:
        log.warning("api: %d changes produced; waiting for them failed: %s", len(planned), error)
        return 202, {**accepted, "applied": None, "message": "The changes were produced and will be applied; "
                                                             "PostgreSQL could not be read to wait for them"}
    by_id = {row.id: row for row in rows}
    missing = [str(target.group_id) for target in targets if target.group_id not in by_id]
    if missing:  # deleted after the change was applied
        raise not_found(f"{len(missing)} of the issues no longer exist", ids=missing, changes=changes)
    objects = [issue_object(by_id[target.group_id], registry) for target in targets]
    return 200, objects[0] if issues == "one" else objects


# ------------------------------------------------------------------------------------------------ targets

async def _issue_target(conn: AsyncConnection[Any], issue_id: str) -> Target:
    """The group a path names (group id or short id, spec §20.1.1); 404 when missing or invisible (§10.3.3)."""
    ref = parse_issue_ref(issue_id)
    if ref.group_id is not None:
        rows = await queries.target_rows(conn, [ref.group_id])
        row = rows[0] if rows else None
    else:
        assert ref.slug is not None and ref.short_id is not None
        row = await queries.target_row_by_short_id(conn, ref.slug, ref.short_id)
    if row is None or not is_visible(registry, row.project_id, row.type, current_options()):
        raise not_found(f"no issue {issue_id}")
    return Target(row.id, row.group_key, row.generation)


async def _known_project(conn: AsyncConnection[Any], project: int) -> None:
    if await queries.project_slug(conn, project) is None:
        raise not_found(f"no project {project}")


async def _project_targets(conn: AsyncConnection[Any], project: int, ids: Sequence[str]) -> list[Target]:
    """The groups `?id=` names, in its order; 404 with `details.ids` naming every id that is not a visible issue
    of the project (spec §20.8.3)."""
    numeric = {text: numeric_id(text) for text in ids}
    rows = await queries.target_rows(conn, [value for value in numeric.values() if value is not None])
    options = current_options()
    found = {row.id: row for row in rows
             if row.project_id == project and is_visible(registry, row.project_id, row.type, options)}
    missing = [text for text, value in numeric.items() if value not in found]
    if missing:
        raise not_found(f"{len(missing)} of the ids are no issues of project {project}", ids=missing)
    ordered = dict.fromkeys(value for value in numeric.values() if value is not None)  # "7" and "07" are one
    return [Target(row.id, row.group_key, row.generation) for row in (found[value] for value in ordered)]


async def _query_targets(conn: AsyncConnection[Any], project: int, text: str) -> list[Target]:
    """The groups a §20.6 query matches at request time; more than 1000 is 400 `too_many_matches`."""
    try:
        query = parse_query(text, registry, datetime.now(UTC))
    except InvalidQuery as error:
        raise ApiError(400, "invalid_query", error.message,
                       {"token": error.token, "position": error.position}) from None
    search = IssueSearch(project, searchable_type_ids(registry, project, current_options(), query), query, None,
                         None, ())
    rows = await queries.search_targets(conn, search, MAX_BULK + 1)
    if len(rows) > MAX_BULK:
        count = await queries.count_issues(conn, search)
        raise ApiError(400, "too_many_matches", f"The query matches {count} issues; a bulk update takes at most "
                       f"{MAX_BULK}: narrow the query or name the ids", {"count": count})
    return [Target(row.id, row.group_key, row.generation) for row in rows]


# ------------------------------------------------------------------------------------------- produce, wait

async def _produce(planned: Sequence[PlannedChange]) -> None:
    """Every message acknowledged by the broker, in order per group key (one partition each), or 503."""
    if not planned:
        return
    outbox = Outbox()
    for change in planned:
        outbox.add(grouping_topic, change.target.group_key, encode(change.message), timestamp=change.message["t"])
    try:
        await outbox.send()
    except Exception as error:  # noqa: BLE001  # any failure to produce: nothing was promised yet
        log.warning("api: producing %d changes failed: %s", len(planned), error)
        raise unavailable("Kafka did not accept the changes; nothing was applied, send the request again",
                          checks={"kafka": "unavailable"}) from None
    log.info("api: produced %d changes (%s)", len(planned), ", ".join(sorted({change.kind for change in planned})))


async def _outcomes(connect: Connect, planned: Sequence[PlannedChange]) -> dict[str, str]:
    """change id → the outcome the sink committed for it, for those committed within WAIT_SECONDS."""
    waiting = [change.id for change in planned]
    outcomes: dict[str, str] = {}
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        async with await connect() as conn:
            outcomes.update(await change_outcomes(conn, waiting))
        waiting = [change_id for change_id in waiting if change_id not in outcomes]
        if not waiting:
            return outcomes
        if time.monotonic() >= deadline:
            log.info("api: %d of %d changes not applied after %.0f s: answering 202", len(waiting), len(planned),
                     WAIT_SECONDS)
            return outcomes
        await asyncio.sleep(WAIT_POLL_SECONDS)
