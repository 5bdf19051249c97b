"""JSON objects of the API (spec §20.3, §20.10, §20.11.2) from stored rows and the group type registry."""
from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from grouptypes import (
    FLAG_OFF,
    GroupType,
    GroupTypeRegistry,
    PriorityLevel,
    flag_names,
    flag_option_name,
    parse_flag_value,
)
from grouptypes.flags import Gate, RolloutStage
from storage.dlq import StoredDeadLetter
from storage.parked import StoredParkedChange
from storage.queries import ActivityRow, GroupRow, OccurrenceRow, ProjectRow
from streams.core.enums import LEVELS, PRIORITY_NAMES, ActivityType
from streams.core.options import INTEGER_OPTIONS
from streams.core.short_id import display_short_id
from streams.core.timestamps import format_datetime
from streams.web.api_names import STATUS_NAMES, SUBSTATUS_NAMES

StatsPeriod = Literal["24h", "14d"]
_LEVEL_NAMES = {value: name for name, value in LEVELS.items()}
_FLAG_KEYS: dict[Gate, str] = {"ingest": "ingest", "post_process": "post_process", "visible": "visible"}  # §20.11.2
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def iso_datetime(value: datetime | None) -> str | None:
    """spec §0.4, or None."""
    return None if value is None else format_datetime(value)


def _name(names: Mapping[int, str], value: int | None) -> str | None:
    # A value outside the spec's tables is shown as its number rather than failing the whole list.
    return None if value is None else names.get(value, str(value))


def issue_object(
    row: GroupRow, registry: GroupTypeRegistry, stats: Mapping[str, list[list[int]]] | None = None
) -> dict[str, Any]:
    """The §20.3 issue object; `stats` only when a stats period was asked for."""
    group_type = registry.get_by_type_id(row.type) if registry.is_registered(row.type) else None
    metadata = row.data.get("metadata", {}) if isinstance(row.data, Mapping) else {}
    issue: dict[str, Any] = {
        "id": str(row.id),
        "shortId": display_short_id(row.project_slug, row.short_id),
        "project": {"id": str(row.project_id), "slug": row.project_slug},
        "title": row.title,
        "subtitle": row.subtitle,
        "culprit": row.culprit,
        "level": _name(_LEVEL_NAMES, row.level),
        "status": _name(STATUS_NAMES, row.status),
        "substatus": _name(SUBSTATUS_NAMES, row.substatus),
        "statusDetails": status_details(row),
        "priority": _name(PRIORITY_NAMES, row.priority),
        "priorityLockedAt": iso_datetime(row.priority_locked_at),
        "issueType": group_type.slug if group_type else None,
        "issueCategory": group_type.category.name if group_type else None,
        "typeId": row.type,
        "count": row.times_seen,
        "firstSeen": iso_datetime(row.first_seen),
        "lastSeen": iso_datetime(row.last_seen),
        "resolvedAt": iso_datetime(row.resolved_at),
        "assignedTo": row.assignee,
        "metadata": {
            "title": metadata.get("title", row.title),
            "value": metadata.get("value", row.subtitle),
            "initial_priority": metadata.get("initial_priority"),
        },
    }
    if stats is not None:
        issue["stats"] = dict(stats)
    return issue


def status_details(row: GroupRow) -> dict[str, Any]:
    """Spec §20.3: the group's snooze (§14.4) as the API names it; `{}` without one."""
    if row.snooze_count is not None:
        return {"ignoreCount": row.snooze_count}
    if row.snooze_until is not None:
        return {"ignoreUntil": iso_datetime(row.snooze_until)}
    return {}


def stats_start(period: StatsPeriod, now: datetime) -> datetime:
    """The first hour counted by `period`: 24 hours or 14 days, ending with the current hour or day."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    if period == "24h":
        return hour - 23 * _HOUR
    return hour.replace(hour=0) - 13 * _DAY


def stats_series(period: StatsPeriod, hourly: Sequence[tuple[datetime, int]], now: datetime) -> list[list[int]]:
    """`[[epoch_s, n], …]`: 24 hourly or 14 daily buckets from hourly counts, oldest first (spec §20.3)."""
    start = stats_start(period, now)
    step, size = (_HOUR, 24) if period == "24h" else (_DAY, 14)
    buckets = [0] * size
    for hour, count in hourly:
        index = (hour - start) // step
        if 0 <= index < size:
            buckets[index] += count
    return [[int((start + index * step).timestamp()), buckets[index]] for index in range(size)]


def occurrence_object(row: OccurrenceRow) -> dict[str, Any]:
    """The §20.10 occurrence object."""
    return {
        "id": row.id,
        "projectId": row.project_id,
        "groupId": None if row.group_id is None else str(row.group_id),
        "eventId": row.event_id,
        "fingerprint": list(row.fingerprint),
        "issueTitle": row.issue_title,
        "subtitle": row.subtitle,
        "culprit": row.culprit,
        "level": _name(_LEVEL_NAMES, row.level),
        "typeId": row.type,
        "detectionTime": iso_datetime(row.detection_time),
        "evidenceDisplay": row.evidence_display,
        "evidenceData": row.evidence_data,
        "resourceId": row.resource_id,
        "priority": _name(PRIORITY_NAMES, row.priority),
        "assignee": row.assignee,
        "outcome": row.outcome,
        "receivedAt": iso_datetime(row.received),
    }


def important_evidence(evidence: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next((entry for entry in evidence if entry.get("important") is True), None)


def activity_object(row: ActivityRow) -> dict[str, Any]:
    try:
        type_name = ActivityType(row.type).name
    except ValueError:
        type_name = None
    return {
        "id": row.id,
        "type": row.type,
        "typeName": type_name,
        "data": row.data,
        "dateCreated": iso_datetime(row.datetime),
        "actor": row.actor,
    }


def flag_object(name: str, stored: object | None) -> dict[str, Any]:
    """A flag's current state; unset or unreadable is off, as the gates read it (spec §10.2)."""
    try:
        value = None if stored is None else parse_flag_value(stored)
    except ValueError:
        value = None
    if value is None:
        return {"name": name, "stage": RolloutStage.OFF.value, "projects": []}
    return {"name": name, "stage": value.stage.value, "projects": sorted(value.projects)}


def group_type_object(
    group_type: type[GroupType], options: Mapping[str, object], drops: Mapping[str, int]
) -> dict[str, Any]:
    """The §20.11.2 group type: §9.2 attributes, flags (null when released) and drop totals."""
    noise = group_type.noise_config
    quota = group_type.creation_quota
    names = flag_names(group_type)
    return {
        "type_id": group_type.type_id,
        "slug": group_type.slug,
        "description": group_type.description,
        "category": group_type.category.value,
        "categoryName": group_type.category.name,
        "noise_config": None if noise is None else {
            "ignore_limit": noise.ignore_limit, "expiry_seconds": noise.expiry_seconds,
        },
        "default_priority": PriorityLevel(group_type.default_priority).api_name,
        "released": group_type.released,
        "in_default_search": group_type.in_default_search,
        "enable_auto_resolve": group_type.enable_auto_resolve,
        "enable_escalation_detection": group_type.enable_escalation_detection,
        "creation_quota": {
            "window_seconds": quota.window_seconds,
            "granularity_seconds": quota.granularity_seconds,
            "limit": quota.limit,
        },
        "flags": None if not names else {
            _FLAG_KEYS[gate]: flag_object(name, options.get(flag_option_name(name))) for gate, name in names.items()
        },
        "drops": dict(sorted(drops.items())),
    }


def project_object(
    row: ProjectRow, drops: Mapping[str, Mapping[int, int]], registry: GroupTypeRegistry
) -> dict[str, Any]:
    """The §20.11.1 project: settings (§11.1), creation time and drop counters by outcome and type slug.

    Drops of unreleased types are shown too: an operator reads their `ingest_disabled` counts to decide a
    rollout. A type no longer registered is named by its id.
    """

    def slug(type_id: int) -> str:
        return registry.get_by_type_id(type_id).slug if registry.is_registered(type_id) else str(type_id)

    return {
        "id": str(row.id),
        "slug": row.slug,
        "settings": {
            "slug": row.slug,
            "resolve_age_hours": row.resolve_age_hours,
            "occurrence_rate_limit": row.occurrence_rate_limit,
        },
        "createdAt": format_datetime(row.created_at),
        "drops": {
            outcome: {slug(type_id): count for type_id, count in sorted(by_type.items())}
            for outcome, by_type in sorted(drops.items())
        },
    }


def flag_list(registry: GroupTypeRegistry, options: Mapping[str, object]) -> list[dict[str, Any]]:
    """Every flag of every registered unreleased type, with its current state (spec §20.11.3)."""
    flags = []
    for group_type in registry.all():
        for gate, name in flag_names(group_type).items():
            state = flag_object(name, options.get(flag_option_name(name)))
            flags.append({"name": name, "type_slug": group_type.slug, "gate": gate,
                          "stage": state["stage"], "projects": state["projects"]})
    return flags


def option_list(registry: GroupTypeRegistry, options: Mapping[str, object]) -> list[dict[str, Any]]:
    """Every runtime option of spec §10.4 with its current value and default (spec §20.11.4)."""
    listed: list[dict[str, Any]] = [
        {"name": option.name, "value": options.get(option.name, option.default), "default": option.default,
         "type": "integer", "description": option.description}
        for option in INTEGER_OPTIONS.values()
    ]
    for flag in flag_list(registry, options):
        name = flag_option_name(flag["name"])
        listed.append({
            "name": name, "value": options.get(name, FLAG_OFF.to_dict()), "default": FLAG_OFF.to_dict(),
            "type": "flag", "description": f"release flag: the {flag['gate']} gate of {flag['type_slug']} (spec §10.1)",
        })
    return listed


def text_or_base64(value: bytes, field: str) -> dict[str, Any]:
    """`{field: text}` for UTF-8 bytes, else `{field: base64, fieldEncoding: "base64"}` (spec §20.11.5)."""
    try:
        return {field: value.decode("utf-8")}
    except UnicodeDecodeError:
        return {field: base64.b64encode(value).decode("ascii"), f"{field}Encoding": "base64"}


def payload_json(value: bytes) -> dict[str, Any]:
    """A dead-letter payload as UTF-8 text, or base64 with `payloadEncoding` (spec §20.11.5)."""
    return text_or_base64(value, "payload")


def key_json(key: bytes | None) -> dict[str, Any]:
    """The key as UTF-8 text, or base64 with `keyEncoding`, as §20.11.5 shows a payload."""
    return {"key": None} if key is None else text_or_base64(key, "key")


def entry_json(entry: StoredDeadLetter) -> dict[str, Any]:
    """The entry as the API shows it (spec §20.11.5)."""
    return {
        "id": entry.id,
        "reason": entry.reason,
        "message": entry.message,
        "field": entry.field,
        "stage": entry.stage,
        "source": {"topic": entry.source_topic, "partition": entry.source_partition, "offset": entry.source_offset},
        **key_json(entry.key),
        "size": entry.size,
        "projectId": entry.project_id,
        "createdAt": iso_datetime(entry.created_at),
        "replayedAt": iso_datetime(entry.replayed_at),
        "replayCount": entry.replay_count,
    }


def parked_json(row: StoredParkedChange) -> dict[str, Any]:
    """A parked sink change as the API and `parked list --json` show it (spec §2.4.12): the change as the JSON
    object it travels as (text, or base64 with `changeEncoding`, should it not be JSON)."""
    try:
        change: dict[str, Any] = {"change": orjson.loads(row.change)}
    except orjson.JSONDecodeError:
        change = text_or_base64(row.change, "change")
    return {
        "id": str(row.id),
        "source": {"topic": row.topic, "partition": row.partition, "offset": row.offset},
        "groupKey": row.group_key,
        "status": "parked" if row.resolved_at is None else "resolved",
        # The offset of the parked change of the same key this one waits behind; null: it failed itself.
        "behind": row.behind,
        "error": row.error,
        "sqlstate": row.sqlstate,
        "attempts": row.attempts,
        "firstAttempt": iso_datetime(row.first_attempt),
        "lastAttempt": iso_datetime(row.last_attempt),
        "resolvedAt": iso_datetime(row.resolved_at),
        **change,
    }
