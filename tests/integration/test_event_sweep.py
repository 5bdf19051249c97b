"""The events a group deletion leaves unreferenced (spec §19), against a real worker, Kafka and PostgreSQL: the delete
keeps them for an occurrence that names one by event_id only (§5.5) and may still be on its way; the housekeeping
sweep (storage.events.sweep_orphan_events) marks an unreferenced one, which ingest then no longer finds, and
deletes it only after the grace, unless an occurrence stored meanwhile references it or a change is parked."""
from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta
from typing import Any

import orjson
import psycopg
import pytest

from storage.events import SweptEvents, find_event, sweep_orphan_events
from tests.integration.harness import Deployment, make_occurrence, produce, wait_for
from tests.integration.test_api_auth_trackers import api_up, call

pytestmark = pytest.mark.integration

TOKEN = "event-sweep-token-41c9"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BULK = 9801  # it_bulk: released, no noise, a large quota (tests/integration/plugin_types.py)


def group_key(project_id: int, fingerprint: str) -> str:
    return f"{project_id}:{hashlib.md5(fingerprint.encode()).hexdigest()}"  # spec §1.2


def naming(event_id: str, fingerprint: str) -> dict[str, Any]:
    """An occurrence that names a stored event by event_id only, without embedding it (spec §5.5)."""
    occurrence = make_occurrence(1, fingerprint, type_id=BULK)
    del occurrence["event"]
    return {**occurrence, "event_id": event_id}


async def sweep(database_url: str, grace: timedelta = timedelta(0)) -> SweptEvents:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        swept = await sweep_orphan_events(conn, grace)
        # Committed step by step: nothing is left open for the pool's connection to commit or roll back.
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        return swept


async def found(database_url: str, event_id: str) -> bool:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        return await find_event(conn, 1, event_id) is not None


def test_a_deleted_issues_event_stays_for_an_occurrence_naming_it_and_goes_once_unreferenced(
    deployment: Deployment,
) -> None:
    assert deployment.cli("migrate").returncode == 0
    deployment.extra_env["ISSUE_PLATFORM_API_TOKEN"] = TOKEN
    worker = deployment.start_worker()
    wait_for(lambda: api_up(worker), timeout=90, what="the API")
    topic = deployment.topic("ingest-occurrences")
    shared, lonely = make_occurrence(1, "doomed-shared", type_id=BULK), make_occurrence(1, "doomed-lonely", type_id=BULK)
    shared_event, lonely_event = shared["event"]["event_id"], lonely["event"]["event_id"]
    asyncio.run(produce(topic, [(None, orjson.dumps(shared)), (None, orjson.dumps(lonely))]))

    def group_id(fingerprint: str) -> int | None:
        rows = deployment.query("SELECT id FROM groups WHERE group_key = %s", (group_key(1, fingerprint),))
        return rows[0][0] if rows else None

    doomed = [wait_for(lambda name=name: group_id(name), what=name) for name in ("doomed-shared", "doomed-lonely")]
    for issue in doomed:
        deleted = call(worker, "DELETE", f"/api/0/issues/{issue}/?wait=1", None, AUTH)
        assert deleted.status == 200, deleted.json
    assert deployment.query("SELECT count(*) FROM groups WHERE id = ANY(%s)", (doomed,)) == [(0,)]
    # The delete removed the occurrences but only queued their events (spec §19 through the sweep).
    assert deployment.query("SELECT event_id, orphaned_at FROM events ORDER BY event_id") == sorted(
        [(shared_event, None), (lonely_event, None)])
    assert sorted(deployment.query("SELECT event_id FROM event_sweep")) == sorted([(shared_event,), (lonely_event,)])

    # An occurrence naming the deleted issue's event by event_id only finds it and is stored with it.
    asyncio.run(produce(topic, [(None, orjson.dumps(naming(shared_event, "survivor")))]))
    survivor = wait_for(lambda: group_id("survivor"), what="the survivor's issue")
    assert deployment.query("SELECT event_id, outcome FROM occurrences WHERE group_id = %s", (survivor,)) == [
        (shared_event, "created")]
    latest = call(worker, "GET", f"/api/0/issues/{survivor}/occurrences/latest/")
    assert latest.status == 200, latest.json
    assert latest.json["eventId"] == shared_event
    assert latest.json["event"] == deployment.query("SELECT data FROM events WHERE event_id = %s", (shared_event,))[0][0]
    assert latest.json["event"] is not None

    # The sweep: the referenced event leaves the queue untouched; the unreferenced one is marked, not deleted yet.
    assert asyncio.run(sweep(deployment.database_url)) == SweptEvents(deleted=0, kept=0, marked=1)
    assert deployment.query("SELECT event_id FROM event_sweep") == [(lonely_event,)]
    assert deployment.query("SELECT orphaned_at IS NULL FROM events WHERE event_id = %s", (shared_event,)) == [(True,)]
    # Marked, it is as good as gone for ingest: an occurrence naming it now is dead-lettered (spec §5.5).
    asyncio.run(produce(topic, [(None, orjson.dumps(naming(lonely_event, "too-late")))]))
    wait_for(lambda: deployment.query("SELECT reason FROM dlq_entries") == [("event_not_found",)],
             what="the occurrence naming a marked event dead-lettered")
    assert group_id("too-late") is None

    assert asyncio.run(sweep(deployment.database_url, timedelta(hours=1))) == SweptEvents(deleted=0, kept=0, marked=0)
    assert asyncio.run(sweep(deployment.database_url)) == SweptEvents(deleted=1, kept=0, marked=0)
    assert deployment.query("SELECT event_id FROM events") == [(shared_event,)]
    assert deployment.query("SELECT count(*) FROM event_sweep") == [(0,)]


EVENT_ROW = ("INSERT INTO events (project_id, event_id, platform, timestamp, received, data)"
             " VALUES (1, %s, 'python', now(), now(), '{}')")
OCCURRENCE_ROW = (
    "INSERT INTO occurrences (project_id, id, group_key, outcome, received, event_id, fingerprint, type, issue_title,"
    " subtitle, culprit, level, detection_time, evidence_display, evidence_data)"
    " VALUES (1, %s, '1:k', 'held_back', now(), %s, '{f}', 9801, 't', 's', 'c', 30, now(), '[]', '{}')"
)


def test_the_sweep_keeps_an_event_referenced_after_its_mark_and_deletes_nothing_while_a_change_is_parked(
    database: str,
) -> None:
    event_id = uuid.uuid4().hex

    def execute(sql: str, params: tuple[Any, ...] = ()) -> None:
        with psycopg.connect(database) as conn:
            conn.execute(sql, params)

    execute(EVENT_ROW, (event_id,))
    execute("INSERT INTO event_sweep (project_id, event_id) VALUES (1, %s)", (event_id,))
    assert asyncio.run(sweep(database)) == SweptEvents(deleted=0, kept=0, marked=1)
    assert not asyncio.run(found(database, event_id))

    # An occurrence that looked the event up before the mark, stored now (within the grace): the event stays.
    occurrence_id = uuid.uuid4().hex
    execute(OCCURRENCE_ROW, (occurrence_id, event_id))
    assert asyncio.run(sweep(database)) == SweptEvents(deleted=0, kept=1, marked=0)
    assert asyncio.run(found(database, event_id))
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM event_sweep").fetchall() == [(0,)]

    # Orphaned again by another deletion, while a change waits parked: marked, but not deleted until it is resolved.
    execute("DELETE FROM occurrences WHERE id = %s", (occurrence_id,))
    execute("INSERT INTO event_sweep (project_id, event_id) VALUES (1, %s)", (event_id,))
    execute("INSERT INTO sink_parked (topic, partition, \"offset\", group_key, change, error, attempts)"
            " VALUES ('changes', 0, 7, '1:k', '\\x7b7d', 'boom', 1)")
    assert asyncio.run(sweep(database)) == SweptEvents(deleted=0, kept=0, marked=1)
    assert asyncio.run(sweep(database)) == SweptEvents(deleted=0, kept=0, marked=0)
    execute("UPDATE sink_parked SET resolved_at = now()")
    assert asyncio.run(sweep(database)) == SweptEvents(deleted=1, kept=0, marked=0)
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
        assert conn.execute("SELECT count(*) FROM event_sweep").fetchall() == [(0,)]
