"""`POST /api/0/dlq/replay/` (spec §20.11.5, §7.3): the CLI's `dlq replay` over HTTP.

The body is `{"ids": [...]}` or `{"reason", "project_id"?, "limit"?}` (limit ≤ 1000). The entries are produced to
the input topic with their original key and bytes and the replay headers, every one acknowledged by the broker
before any is marked replayed; the answer is 202 `{"replayed": n, "ids": [...]}`. By ids it is all or nothing:
an unknown id is 404 `not_found` naming every missing id, and nothing is replayed.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import PoolTimeout

from storage.dlq import ReplayableEntry, mark_replayed, replayable_by_ids, replayable_by_reason
from streams.core.dlq import ReplaySelection, replay_headers, replay_selection
from streams.core.rejection import Reason
from streams.topics import ingest_topic
from streams.web.errors import ApiError, json_object, not_found, unavailable

log = logging.getLogger(__name__)

FIELDS = ("ids", "reason", "project_id", "limit")
REASONS = frozenset(str(reason) for reason in Reason)

Connect = Callable[[], Awaitable[AbstractAsyncContextManager[AsyncConnection[Any]]]]


def invalid_body(path: str, message: str) -> ApiError:
    return ApiError(400, "invalid_body", f"The request body is not a valid replay: {path or 'body'}: {message}",
                    {"errors": [{"path": path, "message": message}]})


def parse_replay_body(raw: bytes) -> ReplaySelection:
    body = json_object(raw, invalid_body, '{"ids": [...]} or {"reason", "project_id"?, "limit"?}')
    for key in body:
        if key not in FIELDS:
            raise invalid_body(key, f"Unknown field; a replay takes {', '.join(FIELDS)}")
    ids = body.get("ids", [])
    if not isinstance(ids, list) or not all(isinstance(value, str) for value in ids):
        raise invalid_body("ids", "ids must be a list of DLQ ids")
    reason = body.get("reason")
    if reason is not None and reason not in REASONS:
        raise invalid_body("reason", f"reason must be one of {', '.join(sorted(REASONS))}")
    for key in ("project_id", "limit"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise invalid_body(key, f"{key} must be an integer")
    if "ids" in body and not ids:
        raise invalid_body("ids", "ids must name at least one entry")
    try:
        return replay_selection(ids=ids, reason=reason, project_id=body.get("project_id"), limit=body.get("limit"))
    except ValueError as error:
        path = "ids" if ids else ("limit" if "limit" in str(error) else "reason")
        raise invalid_body(path, str(error)) from None


async def replay(connect: Connect, raw: bytes) -> tuple[int, dict[str, Any]]:
    selection = parse_replay_body(raw)
    async with await connect() as conn:
        entries = await _select(conn, selection)
    if not entries:
        return 202, {"replayed": 0, "ids": []}
    await _produce(entries)
    ids = [entry.id for entry in entries]
    try:
        async with await connect() as conn, conn.transaction():
            await mark_replayed(conn, ids, datetime.now(UTC))
    except (psycopg.OperationalError, PoolTimeout) as error:
        # They are on the input topic: say so, never 503 as if nothing had been sent.
        log.warning("api: replayed %d DLQ entries but could not record it: %s", len(ids), error)
        return 202, {"replayed": len(ids), "ids": ids, "recorded": False,
                     "message": "The entries were produced; PostgreSQL could not record the replay"}
    log.info("api: replayed %d DLQ entries", len(ids))
    return 202, {"replayed": len(ids), "ids": ids}


async def _select(conn: AsyncConnection[Any], selection: ReplaySelection) -> list[ReplayableEntry]:
    if not selection.by_ids:
        assert selection.reason is not None
        return await replayable_by_reason(conn, reason=selection.reason, project_id=selection.project_id,
                                          limit=selection.limit)
    entries = await replayable_by_ids(conn, selection.ids)
    found = {entry.id for entry in entries}
    missing = [dlq_id for dlq_id in selection.ids if dlq_id not in found]
    if missing:  # all or nothing, as the CLI
        raise not_found(f"no DLQ entry {', '.join(missing)}; nothing replayed", ids=missing)
    return entries


async def _produce(entries: Sequence[ReplayableEntry]) -> None:
    try:
        pending = [await ingest_topic.send(key=entry.key, value=entry.value, headers=replay_headers(entry.id))
                   for entry in entries]
        await asyncio.gather(*pending)
    except Exception as error:  # noqa: BLE001  # any failure to produce: none is marked replayed
        log.warning("api: producing %d DLQ entries failed: %s", len(entries), error)
        raise unavailable("Kafka did not accept the entries; none was marked replayed, send the request again",
                          checks={"kafka": "unavailable"}) from None
