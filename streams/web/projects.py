"""`PUT /api/0/projects/{project_id}/` (spec §11.1, §20.4, §20.11.1): a settings change through the options topic.

Like a release flag, a settings change is a record on the options topic (`project:{id}`), applied by agent
`options` to the project's row and to every worker's options table (streams.agents.project_settings): grouping
reads the occurrence rate limit from there (§11.2). The handler checks the body (400 `invalid_body`) and the slug
(409 `conflict` when another project holds it), produces the record, and waits until the row has it (at most
10 s): 200 with the project object as it is then. If two PUTs of one slug pass the check at once, the first record
applied takes the slug and the later PUT answers 409 too; a wait that runs out answers 202 saying so.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg_pool import PoolTimeout

from storage import queries
from storage.projects import settings_offset, slug_holder
from streams.core.projects import InvalidSettings, check_patch, project_option_name
from streams.services import registry
from streams.topics import options_topic
from streams.web.errors import ApiError, unavailable
from streams.web.serialize import project_object

log = logging.getLogger(__name__)

WAIT_SECONDS = 10.0
WAIT_POLL_SECONDS = 0.1

Connect = Callable[[], Awaitable[AbstractAsyncContextManager[AsyncConnection[Any]]]]
Answer = tuple[int, Any]


def invalid_settings(errors: list[dict[str, str]]) -> ApiError:
    return ApiError(400, "invalid_body", "The request body is not a valid project settings change: " +
                    "; ".join(f"{error['path'] or 'body'}: {error['message']}" for error in errors),
                    {"errors": errors})


def slug_conflict(slug: str, holder: int) -> ApiError:
    return ApiError(409, "conflict", f"Project {holder} already has slug {slug}",
                    {"slug": slug, "project": str(holder)})


def parse_settings_body(project_id: int, raw: bytes, current: dict[str, Any] | None) -> dict[str, Any]:
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        raise invalid_settings([{"path": "", "message": "The body is not valid JSON"}]) from None
    try:
        return check_patch(project_id, body, current)
    except InvalidSettings as error:
        raise invalid_settings(error.errors) from None


async def put_project(connect: Connect, project_id: int, raw: bytes) -> Answer:
    async with await connect() as conn:
        row = await queries.project_by_id(conn, project_id)
        current = None if row is None else {"slug": row.slug, "resolve_age_hours": row.resolve_age_hours,
                                            "occurrence_rate_limit": row.occurrence_rate_limit}
        # The whole rate limit object goes on the topic, completed from the stored one: applied in any order
        # after another change, it is still a valid limit.
        checked = parse_settings_body(project_id, raw, current)
        if "slug" in checked:
            holder = await slug_holder(conn, checked["slug"])
            if holder is not None and holder != project_id:
                raise slug_conflict(checked["slug"], holder)
    offset = await _produce(project_id, checked)
    try:
        applied = await _applied(connect, project_id, offset)
        if applied:
            async with await connect() as conn:
                row = await queries.project_by_id(conn, project_id)
                drops = await queries.project_drops(conn, [project_id])
    except (psycopg.OperationalError, PoolTimeout) as error:
        # The record is on the topic and will be applied: say so, never 503 as if nothing was sent.
        log.warning("api: project %s settings produced at offset %s; reading them back failed: %s", project_id,
                    offset, error)
        return 202, _pending_body(project_id, checked, offset, "PostgreSQL could not be read after the change was "
                                                               "produced; it will be applied")
    if not applied or row is None:
        return 202, _pending_body(project_id, checked, offset, f"Not applied within {WAIT_SECONDS:.0f} s; it will be "
                                                               "applied in order after the options before it")
    if "slug" in checked and row.slug != checked["slug"]:
        async with await connect() as conn:
            holder = await slug_holder(conn, checked["slug"])
        raise ApiError(409, "conflict", f"Another project took slug {checked['slug']} first; project {project_id} "
                       f"keeps slug {row.slug} and the rest of the settings were applied",
                       {"slug": checked["slug"], "project": str(holder) if holder is not None else None})
    return 200, project_object(row, drops.get(project_id, {}), registry)


def _pending_body(project_id: int, checked: dict[str, Any], offset: int, message: str) -> dict[str, Any]:
    return {"id": str(project_id), "applied": False, "settings": checked, "offset": offset, "message": message}


async def _produce(project_id: int, checked: dict[str, Any]) -> int:
    try:
        delivery = await options_topic.send(key=project_option_name(project_id).encode("utf-8"),
                                            value=orjson.dumps(checked))
        metadata = await delivery
    except Exception as error:  # noqa: BLE001  # any failure to produce: nothing was promised yet
        log.warning("api: producing the settings of project %s failed: %s", project_id, error)
        raise unavailable("Kafka did not accept the change; nothing was applied, send the request again",
                          checks={"kafka": "unavailable"}) from None
    log.info("api: project %s settings %s produced at options offset %s", project_id,
             orjson.dumps(checked).decode(), metadata.offset)
    return int(metadata.offset)


async def _applied(connect: Connect, project_id: int, offset: int) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        async with await connect() as conn:
            stored = await settings_offset(conn, project_id)
        if stored is not None and stored >= offset:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(WAIT_POLL_SECONDS)
