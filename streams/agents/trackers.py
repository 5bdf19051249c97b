"""Agent `trackers`: claims automatic tickets for the activities that ask for one (spec §24.5); calls no tracker.

It reads the activity topic (§18.2) and, for a new, regression or escalating activity matching a project's
`auto_create`, inserts a claim (storage.tracker_auto) and nothing else; the `tracker_tickets` timer makes the
ticket. So a slow or absent tracker never holds this agent, let alone the grouping and sink agents, and a
redelivered activity finds its claim already there. Most activities are of no other type and cost no query.
"""
from __future__ import annotations

import logging
from typing import Any

import orjson
from faust import StreamT

from storage.tracker_auto import auto_create_configs, insert_claim
from streams.agents.failure import retry_transient
from streams.core.tracker_auto import claim_id, matching_trigger, trigger_of
from streams.services import postgres, trackers

log = logging.getLogger(__name__)


async def auto_tickets(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        message = event.message
        try:
            await claim_tickets(message.value, offset=message.offset)
        except Exception:  # transient errors were retried in place (retry_transient)
            # Not a reason to stop the worker and everything it runs: at worst this activity claims no ticket.
            log.exception("trackers: the activity at offset %s claimed no ticket", message.offset)


async def claim_tickets(value: bytes | None, *, offset: int) -> int:
    """Insert the claims the activity asks for; returns how many were new."""
    try:
        activity = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        log.error("trackers: ignored the activity at offset %s: not JSON", offset)
        return 0
    if not isinstance(activity, dict) or trigger_of(activity) is None:
        return 0
    group_id, project_id = activity.get("group_id"), activity.get("project_id")
    if not isinstance(group_id, int) or not isinstance(project_id, int):
        log.error("trackers: ignored the activity at offset %s: no group_id or project_id", offset)
        return 0
    return await retry_transient(lambda: _claim(activity, group_id, project_id), what="trackers: claiming", log=log)


async def _claim(activity: dict[str, Any], group_id: int, project_id: int) -> int:
    claimed = 0
    pool = await postgres.get()
    async with pool.connection() as conn:
        for row in await auto_create_configs(conn, project_id):
            trigger = matching_trigger(row.auto_create, activity)
            cls = trackers.get(row.tracker)
            if trigger is None or cls is None or "create" not in cls.allowed_actions or not cls.implements("create"):
                continue
            if not await cls().is_configured(row.config):
                continue
            new = await insert_claim(conn, claim_id=claim_id(group_id, row.tracker), group_id=group_id,
                                     project_id=project_id, tracker=row.tracker, trigger=trigger,
                                     cause_id=str(activity.get("id") or ""))
            if new:
                claimed += 1
                log.info("trackers: group %s gets an automatic %s ticket (%s)", group_id, row.tracker, trigger)
    return claimed
