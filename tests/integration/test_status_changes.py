"""Status changes through ingest on the real broker and database, with two workers: an occurrence followed at once
by a status change of its fingerprint is applied in that order (§2.3.3); the §14.3 rows, their activities in
PostgreSQL and on the activity topic (§18.2) under deterministic ids, and the snooze in `statusDetails` (§14.4,
§20.3)."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest

from streams.core.decide import activity_id
from tests.integration.harness import (
    Deployment,
    consume_all,
    json_value,
    make_occurrence,
    produce,
    wait_for,
)
from tests.integration.test_api import api_up, get

pytestmark = pytest.mark.integration

BULK = 9801  # it_bulk: released, no noise, a large quota (tests/integration/plugin_types.py)
KEY = b"lifecycle"  # one input partition, so the owner applies them in this order (spec §2.3.3)
UPDATE_DATE = "2026-01-02T03:04:05.000000Z"
UNTIL = "2030-06-01T12:00:00.000000Z"


def status_change(change_id: str, new_status: int, new_substatus: int | None, **fields: Any) -> bytes:
    return orjson.dumps({"payload_type": "status_change", "fingerprint": ["lifecycle"], "project_id": 1,
                         "id": change_id, "new_status": new_status, "new_substatus": new_substatus, **fields})


def group_row(deployment: Deployment) -> tuple[Any, ...] | None:
    rows = deployment.query("SELECT id, status, substatus, priority, snooze_count, times_seen_at_snooze, "
                            "snooze_until IS NOT NULL FROM groups WHERE project_id = 1")
    return rows[0] if rows else None


def test_status_changes_move_the_group_and_record_their_activities(deployment: Deployment) -> None:
    assert deployment.cli("migrate").returncode == 0
    # Two workers, started together: the group's owner is either, and may change while the test runs.
    deployment.start_worker()
    worker = deployment.start_worker()  # the API is read on the second
    topic = deployment.topic("ingest-occurrences")
    occurrence = {**make_occurrence(1, "lifecycle", type_id=BULK), "priority": 25}
    snooze = status_change("a" * 32, 2, 4, snooze_count=5, activity_data={"by": "detector"}, detector_id=7,
                           update_date=UPDATE_DATE)
    asyncio.run(produce(topic, [(KEY, orjson.dumps(occurrence)), (KEY, snooze)]))

    # The occurrence, then at once the status change (spec §2.3.3): the change found the group the occurrence
    # created (never dead-lettered group_not_found) and counts its snooze from times_seen 1, after it.
    # T4: archived until 5 more occurrences, and shown as the API's statusDetails.
    group_id = wait_for(lambda: (row := group_row(deployment)) and row[1:] == (2, 4, 25, 5, 1, False) and row[0],
                        timeout=120, interval=1, what="the group archived with a count snooze")
    assert deployment.query("SELECT count(*) FROM dlq_entries") == [(0,)]
    wait_for(lambda: api_up(worker), what="the API")
    issue = get(worker, f"issues/{group_id}/")
    assert issue.status == 200 and issue.json["statusDetails"] == {"ignoreCount": 5}
    assert (issue.json["status"], issue.json["substatus"]) == ("ignored", "archived_until_condition_met")

    asyncio.run(produce(topic, [
        (KEY, status_change("b" * 32, 0, 2)),  # T6: escalates, LOW → MEDIUM, snooze cleared
        (KEY, status_change("c" * 32, 0, 2)),  # T1: equal to the current state, nothing recorded
        (KEY, status_change("d" * 32, 0, 3)),  # T8: ongoing, priority back to the initial LOW
        (KEY, status_change("e" * 32, 0, 2)),  # T6b: not IGNORED, counted ignored_escalation
        (KEY, status_change("f" * 32, 0, 3, activity_type=2, activity_data={"note": "still"})),  # T1b
        (KEY, status_change("0" * 32, 2, 4, snooze_until=UNTIL)),  # T4 with a time snooze
    ]))
    wait_for(lambda: group_row(deployment) == (group_id, 2, 4, 25, None, None, True), timeout=120, interval=1,
             what="the group archived again, until a time")
    issue = get(worker, f"issues/{group_id}/")
    assert issue.json["statusDetails"] == {"ignoreUntil": UNTIL}

    stored = deployment.query("SELECT id, type, data, source, cause_id, to_char(datetime AT TIME ZONE 'UTC', "
                              "'YYYY-MM-DD\"T\"HH24:MI:SS') FROM activities WHERE group_id = %s ORDER BY datetime, "
                              "cause_id, id", (group_id,))
    by_cause: dict[str, list[tuple[Any, ...]]] = {}
    for activity_row in stored:
        by_cause.setdefault(activity_row[4], []).append(activity_row)
    assert [row[1] for row in stored if row[3] == "occurrence"] == [9]  # FIRST_SEEN
    status_rows = {cause: rows for cause, rows in by_cause.items() if rows[0][3] == "status_change"}
    expected = {
        "a" * 32: [(3, {"by": "detector", "detector_id": 7, "substatus": "archived_until_condition_met",
                        "snooze": {"count": 5}})],
        "b" * 32: [(25, {}), (26, {"priority": "medium", "reason": "escalating"})],
        "d" * 32: [(24, {}), (26, {"priority": "low", "reason": "ongoing"})],
        "f" * 32: [(2, {"note": "still"})],
        "0" * 32: [(3, {"substatus": "archived_until_condition_met", "snooze": {"until": UNTIL}})],
    }
    assert {cause: sorted((row[1], row[2]) for row in rows) for cause, rows in status_rows.items()} == {
        cause: sorted(pairs) for cause, pairs in expected.items()}
    for cause, rows in status_rows.items():  # deterministic ids (spec §18.2)
        assert {row[0] for row in rows} == {activity_id(cause, position) for position in range(len(rows))}
    assert by_cause["a" * 32][0][5] == "2026-01-02T03:04:05"  # the update_date is the activity's time

    records = asyncio.run(consume_all(deployment.topic("issue-platform-activity"), expected=len(stored)))
    messages = {message["id"]: message for message in map(json_value, records)}  # re-sent ones share an id
    assert set(messages) == {row[0] for row in stored}
    escalated = messages[activity_id("b" * 32, 0)]
    assert (escalated["type"], escalated["type_name"], escalated["source"], escalated["cause_id"]) == (
        25, "set_escalating", "status_change", "b" * 32)
    assert (escalated["group_id"], escalated["status"], escalated["substatus"], escalated["priority"]) == (
        group_id, 0, 2, 50)
    assert messages[activity_id("a" * 32, 0)]["datetime"] == UPDATE_DATE
    # Status changes are never post-processed (spec §14.3.2): only the occurrence's message (sent again after a
    # rebalance, it keeps its id, spec §18.1), with the group's state right after the occurrence: unresolved.
    post_process = asyncio.run(consume_all(deployment.topic("issue-platform-post-process"), expected=1))
    messages = {message["id"]: message for message in map(json_value, post_process)}
    assert [(m["id"], m["times_seen"], m["status"]) for m in messages.values()] == [(uuid.UUID(occurrence["id"]).hex, 1, 0)]
