"""The post-process message of one applied occurrence (spec §18.1), built from what the sink persisted."""
from __future__ import annotations

from typing import Any

from streams.core.enums import ActivityType
from streams.core.short_id import display_short_id
from streams.core.timestamps import format_epoch

POST_PROCESS_VERSION = 1


def post_process_entries(change: dict[str, Any]) -> list[dict[str, Any]]:
    """The occurrences a group change applied, each with the group's times_seen right after it."""
    if change.get("post_process") is not None:  # a creation applies everything counted (spec §13.2.5)
        return change["post_process"]
    if change["kind"] != "occurrence" or change.get("occurrence") is None:
        return []
    return [{
        "occurrence": change["occurrence"],
        "event_timestamp": change.get("event_timestamp"),
        "environment": change.get("environment"),
        "times_seen": change["group"]["times_seen"],
        "is_new": change["is_new"],
        "is_new_group_environment": change["is_new_group_environment"],
    }]


def waiter_entries(times_seen: int, waiters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per occurrence a creation applied from its quota wait (spec §13.2.5 step 4, §2.4.11): the
    creator, then those that waited, in arrival order. `times_seen` is the new group's: the last waiter's."""
    entries = []
    first_times_seen = times_seen - len(waiters) + 1
    environments: set[str] = set()
    for position, waiter in enumerate(waiters):
        environment = waiter.get("environment") or ""
        entries.append({
            "occurrence": waiter["occurrence"],
            "event_timestamp": waiter.get("event_timestamp"),
            "environment": environment,
            "times_seen": first_times_seen + position,
            "is_new": position == 0,
            "is_new_group_environment": environment not in environments,
        })
        environments.add(environment)
    return entries


def post_process_message(
    *,
    change: dict[str, Any],
    entry: dict[str, Any],
    group_id: int,
    short_id: int,
    project_slug: str,
    type_slug: str,
    category: int,
) -> dict[str, Any]:
    group = change["group"]
    occurrence = dict(entry["occurrence"])
    occurrence.pop("evidence_data", None)  # spec §18.1: the occurrence without evidence_data
    occurrence.pop("environment", None)
    event_timestamp = entry.get("event_timestamp")
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
        "times_seen": entry["times_seen"],
        "is_new": entry["is_new"],
        "is_regression": change.get("is_regression", False),
        "is_escalating": change.get("is_escalating", False),
        "is_new_group_environment": entry["is_new_group_environment"],
        "event_id": occurrence["event_id"],
        "environment": entry.get("environment") or "",
        "first_seen": format_epoch(group["first_seen"]),
        "last_seen": format_epoch(group["last_seen"]),
        "event_timestamp": format_epoch(event_timestamp) if event_timestamp is not None else None,
        "received": format_epoch(change["t"]),
        "occurrence": occurrence,
    }


def activity_message(
    *, change: dict[str, Any], activity: dict[str, Any], group_id: int, short_id: int, project_slug: str
) -> dict[str, Any]:
    """One recorded activity for integrations (spec §18.2), whatever the type's flags."""
    group = change["group"]
    return {
        "id": activity["id"],
        "group_id": group_id,
        "project_id": group["project_id"],
        "type_id": group["type_id"],  # spec §18.2: what the `trackers` agent filters automatic tickets by (§24.5)
        "short_id": display_short_id(project_slug, short_id),
        "type": activity["type"],
        "type_name": ActivityType(activity["type"]).name.lower(),
        "data": activity["data"],
        "datetime": format_epoch(activity["datetime"]),
        "actor": activity.get("actor"),
        "source": activity["source"],
        "cause_id": change["cause_id"],
        "status": group["status"],
        "substatus": group["substatus"],
        "priority": group["priority"],
    }
