"""API objects (spec §20.3, §20.10, §20.11.2): issue, stats series, occurrence, activity, group type."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from grouptypes import load_group_types
from storage.queries import ActivityRow, GroupRow, OccurrenceRow, ProjectRow
from streams.web.serialize import (
    activity_object,
    flag_list,
    group_type_object,
    important_evidence,
    issue_object,
    occurrence_object,
    option_list,
    payload_json,
    project_object,
    stats_series,
    stats_start,
)

REGISTRY = load_group_types([])
NOW = datetime(2026, 11, 25, 12, 34, 56, tzinfo=UTC)
HOUR = timedelta(hours=1)


def row(**changes: object) -> GroupRow:
    values: dict[str, object] = dict(
        id=42, project_id=7, project_slug="checkout", type=5001, status=2, substatus=5, priority=75,
        priority_locked_at=datetime(2026, 11, 24, tzinfo=UTC), short_id=42, assignee="team:3",
        first_seen=datetime(2026, 11, 20, 1, 2, 3, 4, tzinfo=UTC), last_seen=datetime(2026, 11, 25, 9, tzinfo=UTC),
        times_seen=12, level=40, title="Dead Click", subtitle="button.checkout", culprit="/checkout",
        resolved_at=None, data={"metadata": {"title": "Dead Click", "value": "button.checkout", "initial_priority": 50}},
    )
    values.update(changes)
    return GroupRow(**values)  # type: ignore[arg-type]


def test_issue_object_has_every_field_of_20_3() -> None:
    assert issue_object(row(), REGISTRY) == {
        "id": "42",
        "shortId": "CHECKOUT-1A",
        "project": {"id": "7", "slug": "checkout"},
        "title": "Dead Click",
        "subtitle": "button.checkout",
        "culprit": "/checkout",
        "level": "error",
        "status": "ignored",
        "substatus": "archived_forever",
        "statusDetails": {},
        "priority": "high",
        "priorityLockedAt": "2026-11-24T00:00:00.000000Z",
        "issueType": "replay_click_dead",
        "issueCategory": "replay",
        "typeId": 5001,
        "count": 12,
        "firstSeen": "2026-11-20T01:02:03.000004Z",
        "lastSeen": "2026-11-25T09:00:00.000000Z",
        "resolvedAt": None,
        "assignedTo": "team:3",
        "metadata": {"title": "Dead Click", "value": "button.checkout", "initial_priority": 50},
    }


def test_issue_object_nulls_and_stats() -> None:
    issue = issue_object(row(substatus=None, status=1, priority_locked_at=None, assignee=None,
                             resolved_at=datetime(2026, 11, 25, tzinfo=UTC)), REGISTRY, {"24h": [[1, 2]]})
    assert (issue["status"], issue["substatus"], issue["priorityLockedAt"], issue["assignedTo"]) == (
        "resolved", None, None, None
    )
    assert issue["resolvedAt"] == "2026-11-25T00:00:00.000000Z"
    assert issue["stats"] == {"24h": [[1, 2]]}
    assert "stats" not in issue_object(row(), REGISTRY)


def test_status_details_show_the_stored_snooze() -> None:  # spec §20.3, §14.4
    snoozed = {"status": 2, "substatus": 4}
    assert issue_object(row(**snoozed, snooze_count=5), REGISTRY)["statusDetails"] == {"ignoreCount": 5}
    until = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    assert issue_object(row(**snoozed, snooze_until=until), REGISTRY)["statusDetails"] == {
        "ignoreUntil": "2026-12-01T08:30:00.000000Z"}
    assert issue_object(row(**snoozed), REGISTRY)["statusDetails"] == {}


def test_stats_24h_are_hourly_and_end_with_the_current_hour() -> None:
    current_hour = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert stats_start("24h", NOW) == current_hour - 23 * HOUR
    series = stats_series("24h", [(current_hour, 3), (current_hour - 23 * HOUR, 1), (current_hour - 24 * HOUR, 99)], NOW)
    assert len(series) == 24
    assert series[0] == [int((current_hour - 23 * HOUR).timestamp()), 1]
    assert series[-1] == [int(current_hour.timestamp()), 3]
    assert sum(count for _, count in series) == 4  # the hour before the window is left out


def test_stats_14d_sum_hours_into_utc_days_ending_today() -> None:
    today = datetime(2026, 11, 25, tzinfo=UTC)
    assert stats_start("14d", NOW) == today - timedelta(days=13)
    series = stats_series("14d", [(today + 3 * HOUR, 2), (today + 11 * HOUR, 5), (today - HOUR, 1)], NOW)
    assert len(series) == 14
    assert series[-1] == [int(today.timestamp()), 7]
    assert series[-2] == [int((today - timedelta(days=1)).timestamp()), 1]


def test_occurrence_activity_and_evidence_objects() -> None:
    evidence = [{"name": "A", "value": "1", "important": False}, {"name": "B", "value": "2", "important": True}]
    occurrence = OccurrenceRow(
        id="ab" * 16, project_id=7, group_id=42, event_id="cd" * 16, fingerprint=["ef" * 16], issue_title="Dead Click",
        subtitle="s", culprit="c", level=30, type=5001, detection_time=datetime(2026, 11, 25, tzinfo=UTC),
        evidence_display=evidence, evidence_data={"x": 1}, resource_id=None, priority=None, assignee=None,
        outcome="created", received=datetime(2026, 11, 25, 0, 0, 1, tzinfo=UTC),
    )
    body = occurrence_object(occurrence)
    assert body["groupId"] == "42" and body["level"] == "warning" and body["priority"] is None
    assert body["evidenceData"] == {"x": 1} and body["receivedAt"] == "2026-11-25T00:00:01.000000Z"
    assert important_evidence(evidence) == evidence[1]
    assert important_evidence(evidence[:1]) is None
    activity = activity_object(ActivityRow(id="a" * 32, type=9, data={"priority": "high"},
                                           datetime=datetime(2026, 11, 25, tzinfo=UTC), actor=None))
    assert activity == {"id": "a" * 32, "type": 9, "typeName": "FIRST_SEEN", "data": {"priority": "high"},
                        "dateCreated": "2026-11-25T00:00:00.000000Z", "actor": None}


def test_group_type_object_of_an_unreleased_type_has_its_flags() -> None:
    dead_click = REGISTRY.get_by_type_id(5001)
    options = {"flag:replay-click-dead-visible": {"stage": "la", "projects": [3, 1]},
               "flag:replay-click-dead-ingest": {"stage": "ga"}}
    body = group_type_object(dead_click, options, {"ingest_disabled": 4})
    assert body["flags"] == {
        "ingest": {"name": "replay-click-dead-ingest", "stage": "ga", "projects": []},
        "post_process": {"name": "replay-click-dead-post-process-group", "stage": "off", "projects": []},
        "visible": {"name": "replay-click-dead-visible", "stage": "la", "projects": [1, 3]},
    }
    assert body["drops"] == {"ingest_disabled": 4}
    assert (body["category"], body["categoryName"], body["default_priority"]) == (5, "replay", "medium")


def test_group_type_object_of_a_released_type_has_no_flags() -> None:
    body = group_type_object(REGISTRY.get_by_type_id(1001), {}, {})
    assert body["flags"] is None and body["released"] is True
    assert body["noise_config"] == {"ignore_limit": 100, "expiry_seconds": 86_400}
    assert body["creation_quota"] == {"window_seconds": 3600, "granularity_seconds": 60, "limit": 5}


def test_project_object_has_settings_and_drops_by_type_slug() -> None:
    project = ProjectRow(id=7, slug="checkout", resolve_age_hours=None,
                         occurrence_rate_limit={"enabled": False, "limit": 1000},
                         created_at=datetime(2026, 11, 1, tzinfo=UTC))
    body = project_object(project, {"ingest_disabled": {5001: 4, 424242: 1}, "duplicate": {2001: 2}}, REGISTRY)
    assert body == {
        "id": "7",
        "slug": "checkout",
        "settings": {"slug": "checkout", "resolve_age_hours": None,
                     "occurrence_rate_limit": {"enabled": False, "limit": 1000}},
        "createdAt": "2026-11-01T00:00:00.000000Z",
        # unreleased types' drops are shown: they are what an operator reads before a rollout
        "drops": {"duplicate": {"profile_file_io_main_thread": 2},
                  "ingest_disabled": {"replay_click_dead": 4, "424242": 1}},
    }


def test_flag_list_has_three_gates_per_unreleased_type_with_their_state() -> None:
    flags = flag_list(REGISTRY, {"flag:replay-click-dead-visible": {"stage": "la", "projects": [2]}})
    dead_click = [flag for flag in flags if flag["type_slug"] == "replay_click_dead"]
    assert dead_click == [
        {"name": "replay-click-dead-ingest", "type_slug": "replay_click_dead", "gate": "ingest",
         "stage": "off", "projects": []},
        {"name": "replay-click-dead-post-process-group", "type_slug": "replay_click_dead", "gate": "post_process",
         "stage": "off", "projects": []},
        {"name": "replay-click-dead-visible", "type_slug": "replay_click_dead", "gate": "visible",
         "stage": "la", "projects": [2]},
    ]
    assert {flag["type_slug"] for flag in flags} == {
        group_type.slug for group_type in REGISTRY.all() if not group_type.released
    }


def test_option_list_shows_values_with_their_defaults() -> None:
    options = option_list(REGISTRY, {"timers.scan_interval_seconds": 30, "flag:replay-click-dead-ingest": {"stage": "ga"}})
    by_name = {option["name"]: option for option in options}
    assert by_name["timers.scan_interval_seconds"] == {
        "name": "timers.scan_interval_seconds", "value": 30, "default": 60, "type": "integer",
        "description": by_name["timers.scan_interval_seconds"]["description"],
    }
    assert by_name["flag:replay-click-dead-ingest"]["value"] == {"stage": "ga"}
    assert by_name["flag:replay-click-dead-visible"]["value"] == {"stage": "off"}
    assert by_name["flag:replay-click-dead-visible"]["type"] == "flag"


def test_payloads_are_text_or_base64() -> None:
    assert payload_json(b'{"a": 1}') == {"payload": '{"a": 1}'}
    assert payload_json(b"\xff\x00") == {"payload": "/wA=", "payloadEncoding": "base64"}
