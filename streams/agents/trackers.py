"""Agent `trackers`: claims automatic tickets for the activities that ask for one (spec §24.5); calls no tracker.

It reads the activity topic (§18.2) and, for a new, regression or escalating activity matching a project's
`auto_create`, inserts a claim (storage.tracker_auto) and nothing else; the `tracker_tickets` timer makes the
ticket. So a slow or absent tracker never holds this agent, let alone the grouping and sink agents, and a
redelivered activity finds its claim already there. Most activities are of no other type and cost no query;
the others cost one query per batch.
"""
from __future__ import annotations

import logging
from typing import Any

import orjson
from faust import StreamT

from storage.tracker_auto import auto_create_configs_of, insert_claim
from streams.agents.failure import retry_transient
from streams.core.tracker_auto import claim_id, matching_trigger, trigger_of
from streams.services import postgres, trackers

log = logging.getLogger(__name__)

BATCH_SIZE = 500
BATCH_SECONDS = 0.5


async def auto_tickets(stream: StreamT[bytes]) -> None:
    # A batch at a time: one query for the configs of every project in it, not one per activity (a burst of
    # new issues is a burst of FIRST_SEEN activities).
    async for events in stream.take_events(BATCH_SIZE, within=BATCH_SECONDS):
        asking = [activity for event in events
                  if (activity := asking_activity(event.message.value, offset=event.message.offset)) is not None]
        if not asking:
            continue
        try:
            await retry_transient(lambda batch=asking: _claim(batch), what="trackers: claiming", log=log)
        except Exception:  # transient errors were retried in place (retry_transient)
            # Not a reason to stop the worker and everything it runs: at worst these activities claim no ticket.
            log.exception("trackers: %d activities up to offset %s claimed no ticket", len(asking),
                          events[-1].message.offset)


def asking_activity(value: bytes | None, *, offset: int) -> dict[str, Any] | None:
    """The activity message if it is of a kind that can ask for a ticket (new, regression, escalating)."""
    try:
        activity = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        log.error("trackers: ignored the activity at offset %s: not JSON", offset)
        return None
    if not isinstance(activity, dict) or trigger_of(activity) is None:
        return None
    if not isinstance(activity.get("group_id"), int) or not isinstance(activity.get("project_id"), int):
        log.error("trackers: ignored the activity at offset %s: no group_id or project_id", offset)
        return None
    return activity


async def _claim(activities: list[dict[str, Any]]) -> int:
    claimed = 0
    pool = await postgres.get()
    async with pool.connection() as conn:
        configs = await auto_create_configs_of(conn, sorted({activity["project_id"] for activity in activities}))
        for activity in activities:
            group_id, project_id = activity["group_id"], activity["project_id"]
            for row in configs.get(project_id, ()):
                trigger = matching_trigger(row.auto_create, activity)
                cls = trackers.get(row.tracker)
                if trigger is None or cls is None or "create" not in cls.allowed_actions \
                        or not cls.implements("create"):
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
