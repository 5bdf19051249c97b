"""Occurrences on archived issues through ingest on the real broker and database, with two workers (spec §12.7):
a burst above the fallback forecast escalates an issue archived until escalating, counting the hour's occurrences
from before the archive too, and a snooze count expires;
each escalation is in PostgreSQL, on the activity topic (§18.2) and, as `is_escalating`, in post-process
(§18.1)."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.integration.harness import (
    Deployment,
    consume_all,
    json_value,
    make_occurrence,
    produce,
    status_change,
    wait_for,
)

pytestmark = pytest.mark.integration

BULK = 9801  # it_bulk: released, no noise, escalation detection, a large quota (tests/integration/plugin_types.py)
BURST = 21  # above the fallback forecast of 10 (spec §15.5.4) in one UTC hour, even if the burst spans two
SET_ESCALATING, SET_PRIORITY = 25, 26


def occurrence(fingerprint: str, **fields: Any) -> bytes:
    return orjson.dumps({**make_occurrence(1, fingerprint, type_id=BULK, **fields), "priority": 25})


def group_row(deployment: Deployment, fingerprint: str) -> tuple[Any, ...] | None:
    rows = deployment.query(
        "SELECT g.id, g.status, g.substatus, g.priority, g.times_seen, g.snooze_count FROM groups g "
        "JOIN group_hashes h ON h.group_id = g.id WHERE g.project_id = 1 AND h.hash = md5(%s)", (fingerprint,))
    return rows[0] if rows else None


def activities(deployment: Deployment, group_id: int) -> list[tuple[Any, ...]]:
    return deployment.query("SELECT id, type, data, source FROM activities WHERE group_id = %s AND type IN (25, 26) "
                            "ORDER BY type", (group_id,))


def test_archived_issues_escalate_on_a_burst_and_on_an_expired_snooze_count(deployment: Deployment) -> None:
    assert deployment.cli("migrate").returncode == 0
    # Two workers, started together: the groups partitions are split between them (and move once the second
    # joins), so each group's owner is either.
    deployment.start_worker()
    deployment.start_worker()
    topic = deployment.topic("ingest-occurrences")
    # First seen two days ago, so the forecast rule applies (spec §12.7: groups younger than 24 h skip it).
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    asyncio.run(produce(topic, [
        (b"burst", occurrence("burst", detected_at=two_days_ago)),
        (b"burst", status_change(1, "burst", "a" * 32, 2, 1)),  # T3: archived until escalating
        (b"snooze", occurrence("snooze")),
        (b"snooze", status_change(1, "snooze", "b" * 32, 2, 4, snooze_count=3)),  # T4: until 3 more occurrences
        (b"early", occurrence("early", detected_at=two_days_ago)),
    ]))
    burst = wait_for(lambda: (row := group_row(deployment, "burst")) and row[1:3] == (2, 1) and row,
                     timeout=120, interval=1, what="the burst group archived until escalating")
    snoozed = wait_for(lambda: (row := group_row(deployment, "snooze")) and row[1:3] == (2, 4) and row,
                       timeout=60, interval=1, what="the snoozed group archived until 3 more occurrences")

    # Without a priority of their own: an occurrence's priority would set the group's again (spec §12.6), after
    # the escalation's bump.
    snooze_events = [make_occurrence(1, "snooze", type_id=BULK) for _ in range(3)]
    # spec §12.7: the count of hour(T) includes the hour's occurrences from before the archive. Six (the group's
    # first and five more, once it exists: occurrences that come while its creation waits for the quota are
    # counted into it, before any status change held meanwhile), the archive (T3), five more; one key, so
    # applied in this order. The eleventh is above the fallback 10.
    wait_for(lambda: group_row(deployment, "early"), timeout=60, interval=1, what="the early group created")
    early_events = [(b"early", orjson.dumps(make_occurrence(1, "early", type_id=BULK))) for _ in range(10)]
    early_events.insert(5, (b"early", status_change(1, "early", "c" * 32, 2, 1)))
    asyncio.run(produce(topic, [(b"burst", orjson.dumps(make_occurrence(1, "burst", type_id=BULK)))
                                for _ in range(BURST)]
                        + [(b"snooze", orjson.dumps(event)) for event in snooze_events] + early_events))

    # Escalated, LOW raised to MEDIUM (spec §17), every occurrence counted.
    wait_for(lambda: group_row(deployment, "burst") == (burst[0], 0, 2, 50, 1 + BURST, None), timeout=120,
             interval=1, what="the burst group escalated")
    wait_for(lambda: group_row(deployment, "snooze") == (snoozed[0], 0, 2, 50, 4, None), timeout=60, interval=1,
             what="the snoozed group escalated, its snooze cleared")

    early = wait_for(lambda: (row := group_row(deployment, "early")) and row[4] == 11 and row, timeout=60, interval=1,
                     what="the eleven occurrences of the early group")
    # Escalated when all eleven came in one UTC hour (T is ingest's clock); a test that crosses an hour boundary
    # between them sees the count start again in the new hour, and no escalation.
    last_hours = deployment.query(
        "SELECT count(*) FROM occurrences WHERE group_id = %s AND date_trunc('hour', received) = "
        "(SELECT date_trunc('hour', max(received)) FROM occurrences WHERE group_id = %s)", (early[0], early[0]))
    if last_hours == [(11,)]:
        early = wait_for(lambda: (row := group_row(deployment, "early")) and row[1:3] == (0, 2) and row, timeout=30,
                         interval=1, what="the early group escalated")
        escalated = activities(deployment, early[0])[0]  # then SET_PRIORITY (§17)
        assert (escalated[1], escalated[2]["forecast"], escalated[3]) == (SET_ESCALATING, 10, "occurrence")
    else:
        assert early[1:3] == (2, 1) and activities(deployment, early[0]) == []

    burst_rows = activities(deployment, burst[0])
    assert [(row[1], row[3]) for row in burst_rows] == [(SET_ESCALATING, "occurrence"), (SET_PRIORITY, "occurrence")]
    assert set(burst_rows[0][2]) == {"event_id", "forecast"} and burst_rows[0][2]["forecast"] == 10
    assert burst_rows[1][2] == {"priority": "medium", "reason": "escalating"}
    snooze_rows = activities(deployment, snoozed[0])
    assert [(row[1], row[2]) for row in snooze_rows] == [
        (SET_ESCALATING, {"event_id": snooze_events[2]["event"]["event_id"], "snooze": {"count": 3}}),
        (SET_PRIORITY, {"priority": "medium", "reason": "escalating"}),
    ]

    # On the activity topic, with the group's state after the escalation (spec §18.2).
    stored = deployment.query("SELECT count(*) FROM activities")[0][0]
    messages = {message["id"]: message
                for message in map(json_value, asyncio.run(consume_all(deployment.topic("issue-platform-activity"),
                                                                       expected=stored)))}
    for row in (burst_rows[0], snooze_rows[0]):
        message = messages[row[0]]
        assert (message["type_name"], message["source"], message["status"], message["substatus"],
                message["priority"], message["data"]) == ("set_escalating", "occurrence", 0, 2, 50, row[2])

    # Post-process: one message per occurrence, exactly one escalating per group, the one that escalated it.
    post_process = [json_value(record) for record in asyncio.run(
        consume_all(deployment.topic("issue-platform-post-process"), expected=2 + BURST + 3 + 11))]
    by_group: dict[int, list[dict[str, Any]]] = {}
    for message in {message["id"]: message for message in post_process}.values():
        by_group.setdefault(message["group_id"], []).append(message)
    assert len(by_group[burst[0]]) == 1 + BURST and len(by_group[snoozed[0]]) == 4
    for group_id, event_id in ((burst[0], burst_rows[0][2]["event_id"]),
                               (snoozed[0], snooze_events[2]["event"]["event_id"])):
        escalating = [message for message in by_group[group_id] if message["is_escalating"]]
        assert [(m["event_id"], m["status"], m["substatus"], m["priority"]) for m in escalating] == [
            (event_id, 0, 2, 50)]
