"""The post-process message of one applied occurrence (spec §18.1), built from what the sink persisted."""
from __future__ import annotations

from typing import Any

from streams.core.dlq import format_timestamp
from streams.core.short_id import display_short_id

POST_PROCESS_VERSION = 1


def post_process_message(
    *,
    change: dict[str, Any],
    group_id: int,
    short_id: int,
    project_slug: str,
    type_slug: str,
    category: int,
) -> dict[str, Any]:
    group = change["group"]
    occurrence = dict(change["occurrence"])
    occurrence.pop("evidence_data", None)  # spec §18.1: the occurrence without evidence_data
    event_timestamp = change.get("event_timestamp")
    return {
        "id": occurrence["id"],
        "version": POST_PROCESS_VERSION,
        "project_id": group["project_id"],
        "group_id": group_id,
        "short_id": display_short_id(project_slug, short_id),
        "group_key": group["group_key"],
        "type_id": group["type_id"],
        "type_slug": type_slug,
        "category": category,
        "status": group["status"],
        "substatus": group["substatus"],
        "priority": group["priority"],
        "times_seen": group["times_seen"],
        "is_new": change["is_new"],
        "is_regression": change.get("is_regression", False),
        "is_escalating": change.get("is_escalating", False),
        "is_new_group_environment": change["is_new_group_environment"],
        "event_id": occurrence["event_id"],
        "environment": change.get("environment") or "",
        "first_seen": format_timestamp(group["first_seen"]),
        "last_seen": format_timestamp(group["last_seen"]),
        "event_timestamp": format_timestamp(event_timestamp) if event_timestamp is not None else None,
        "received": format_timestamp(change["t"]),
        "occurrence": occurrence,
    }
