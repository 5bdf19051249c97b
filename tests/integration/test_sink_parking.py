"""Parking against the real PostgreSQL (spec §2.4.12): a change Postgres refuses for good is parked with the
later changes of its key, everything else is applied, `retry_parked` applies them in order once the cause is
fixed, and a transient error is retried, never parked. Last, the same through a worker, its API and the CLI:
the refused change is sent straight to the group-changes topic, since ingest's validation (spec §3.2, §4)
turns away what Postgres could refuse; a rewound short-id counter is the cause, fixed by setting it right."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson
import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from bench.workload import group_changes
from storage.changes import Change, OccurrenceChange, encode_change
from storage.sink_plan import BatchResult, ChangeFailure, ChangeRecord, Coordinates
from storage.sink_writer import retry_parked, write_batch, write_or_park
from streams.agents.failure import retry_transient
from tests.integration.harness import (
    BROKER,
    Deployment,
    consume_all,
    json_value,
    wait_for,
)
from tests.integration.test_api import api_up, get
from tests.integration.test_api_auth_trackers import call

TOKEN = "parked-token-41c9"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RETRY = "/api/0/parked/retry/"

pytestmark = pytest.mark.integration

TOPIC = "issue-platform-group-changes"
PROJECT = 5


def once(database_url: str, *, lock_timeout: str | None = None) -> Any:
    """One transaction per call, committed: what the sink agent hands `write_or_park`."""

    async def write(changes: Sequence[ChangeRecord], failed: Mapping[Coordinates, ChangeFailure]) -> BatchResult:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            if lock_timeout is not None:
                await conn.execute(f"SET lock_timeout = '{lock_timeout}'")
            async with conn.transaction():
                return await write_batch(conn, TOPIC, changes, failed=failed)

    return write


async def sink(database_url: str, records: list[ChangeRecord]) -> BatchResult:
    return await write_or_park(once(database_url), records)


async def retry(database_url: str, key: str) -> BatchResult | ChangeFailure:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        return await retry_parked(conn, TOPIC, 0, key)


def query(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def at(first_offset: int, changes: list[Change]) -> list[ChangeRecord]:
    return [ChangeRecord(0, first_offset + index, change) for index, change in enumerate(changes)]


def too_high_level(change: Change) -> Change:
    """The group's level does not fit its smallint column: a data exception (22003)."""
    assert isinstance(change, OccurrenceChange)
    return replace(change, group=replace(change.group, level=70_000))


def never_seen(change: Change) -> Change:
    """times_seen 0 breaks the groups CHECK constraint: a constraint violation (23514)."""
    assert isinstance(change, OccurrenceChange)
    return replace(change, group=replace(change.group, times_seen=0))


def parked_rows(database_url: str) -> list[tuple[Any, ...]]:
    return query(database_url, 'SELECT "offset", behind, sqlstate, attempts, resolved_at IS NOT NULL FROM sink_parked'
                               ' ORDER BY "offset"')


def sink_offset(database_url: str) -> int:
    return query(database_url, 'SELECT "offset" FROM sink_offsets WHERE topic = %s AND partition = 0', (TOPIC,))[0][0]


def times_seen(database_url: str) -> dict[str, int]:
    return dict(query(database_url, "SELECT group_key, times_seen FROM groups"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("spoil", "sqlstate"), [(too_high_level, "22003"), (never_seen, "23514")])
async def test_a_refused_change_is_parked_with_its_keys_later_changes_and_the_rest_is_applied(
    database: str, spoil: Any, sqlstate: str
) -> None:
    good_a = group_changes(PROJECT, ["a"])  # groupless pending, created, applied: times_seen 2
    bad = group_changes(PROJECT, ["x"], occurrences_each=3)  # … and one more applied change
    good_b = group_changes(PROJECT, ["b"])
    # From its creation on, x's group holds a value Postgres refuses (each change carries the whole group, and
    # the newest version in a batch is the one upserted, so one spoiled version alone could pass unseen).
    bad = [bad[0], *map(spoil, bad[1:])]
    key_x = bad[0].group_key
    # Offsets 0-2: a; 3-5: x (4 refused, 5 behind it); 6-8: b. Offset 9, x's last change, comes a batch later.
    result = await sink(database, at(0, good_a + bad[:3] + good_b))

    assert [(p.record.offset, p.behind, p.failure is not None) for p in result.parked] == [(4, None, True), (5, 4, False)]
    assert [r.offset for r in result.applied] == [0, 1, 2, 3, 6, 7, 8]
    assert parked_rows(database) == [(4, None, sqlstate, 2, False), (5, 4, None, 0, False)]
    assert sink_offset(database) == 8  # the partition moved past the parked changes
    assert times_seen(database) == {good_a[0].group_key: 2, good_b[0].group_key: 2}
    # x's groupless occurrence, written before the refused change, is stored; nothing after it is.
    assert query(database, "SELECT outcome FROM occurrences WHERE group_key = %s", (key_x,)) == [("pending_quota",)]

    # A later batch: x's next change waits behind offset 4; another key's change is applied.
    good_c = group_changes(PROJECT, ["c"])
    result = await sink(database, at(9, bad[3:] + good_c))
    assert [(p.record.offset, p.behind) for p in result.parked] == [(9, 4)]
    assert [r.offset for r in result.applied] == [10, 11, 12]
    assert sink_offset(database) == 12
    assert key_x not in times_seen(database)

    # The first batch read again (a redelivery): nothing applied twice, the parked ones are not forwarded.
    before = times_seen(database), parked_rows(database)
    again = await sink(database, at(0, good_a + bad[:3] + good_b))
    assert again.applied == [] and [r.offset for r in again.still_parked] == [4, 5]
    assert (times_seen(database), parked_rows(database)) == before


async def test_retry_after_the_fix_applies_a_keys_parked_changes_in_offset_order(database: str) -> None:
    await sink(database, at(0, group_changes(PROJECT, ["a"])))  # group a takes short id 1
    # The project's short-id counter is rewound (say, restored from an old backup): the next new group of the
    # project draws short id 1 again, which group a holds, a unique violation (23505) until someone fixes it.
    query(database, "UPDATE projects SET next_short_id = 1 WHERE id = %s RETURNING id", (PROJECT,))
    x = group_changes(PROJECT, ["x"], occurrences_each=4)  # pending, created (v1), applied v2, v3, v4
    key_x = x[0].group_key
    later_a = group_changes(PROJECT, ["a"], occurrences_each=3)[-1]  # a's group exists: no short id drawn
    await sink(database, at(3, x[:4]))
    result = await sink(database, at(7, [x[4], later_a]))
    assert [r.offset for r in result.applied] == [8]
    assert [row[:3] for row in parked_rows(database)] == [(4, None, "23505"), (5, 4, None), (6, 4, None), (7, 4, None)]

    # Before the fix: still refused; nothing applied, every change of the key stays parked one attempt later.
    failure = await retry(database, key_x)
    assert isinstance(failure, ChangeFailure) and failure.sqlstate == "23505"
    assert [row[3:] for row in parked_rows(database)] == [(3, False), (1, False), (1, False), (1, False)]
    assert key_x not in times_seen(database)

    # The fix; then the retry applies all four in one transaction, in offset order.
    query(database, "UPDATE projects SET next_short_id = 2 WHERE id = %s RETURNING id", (PROJECT,))
    result = await retry(database, key_x)
    assert isinstance(result, BatchResult)
    assert [r.offset for r in result.applied] == [4, 5, 6, 7]
    assert query(database, "SELECT times_seen, version, short_id FROM groups WHERE group_key = %s", (key_x,)) == [
        (4, x[-1].group.version, 2)  # type: ignore[union-attr]
    ]
    assert query(database, "SELECT count(*) FROM occurrences WHERE group_key = %s AND group_id IS NOT NULL",
                 (key_x,)) == [(4,)]
    assert query(database, "SELECT sum(count) FROM hourly_counts h JOIN groups g ON g.id = h.group_id"
                           " WHERE g.group_key = %s", (key_x,)) == [(4,)]
    assert [row[4] for row in parked_rows(database)] == [True] * 4  # resolved, kept as the record

    # The key no longer waits: its next change is applied by the sink directly.
    more = group_changes(PROJECT, ["x"], occurrences_each=5)[-1]
    result = await sink(database, at(9, [more]))
    assert [r.offset for r in result.applied] == [9] and result.parked == []
    assert await retry(database, key_x) == BatchResult()  # nothing left to retry


async def test_a_transient_error_is_retried_with_backoff_and_never_parked(database: str) -> None:
    changes = at(0, group_changes(PROJECT, ["t"]))
    attempts: list[str] = []
    write = once(database, lock_timeout="200ms")

    async def counted(records: Sequence[ChangeRecord], failed: Mapping[Coordinates, ChangeFailure]) -> BatchResult:
        try:
            return await write(records, failed)
        except psycopg.Error as error:
            attempts.append(type(error).__name__)
            raise

    async def retried(records: Sequence[ChangeRecord], failed: Mapping[Coordinates, ChangeFailure]) -> BatchResult:
        return await retry_transient(lambda: counted(records, failed), what="test batch",
                                     log=logging.getLogger(__name__), first_delay=0.1)

    # Another sink holds partition 0 (the writer's advisory lock) for a while: lock_timeout fails each attempt.
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as holder:
        await holder.execute("SELECT pg_advisory_lock(hashtext(%s), 0)", (TOPIC,))
        writing = asyncio.create_task(write_or_park(retried, changes))
        await asyncio.sleep(1.0)
        await holder.execute("SELECT pg_advisory_unlock(hashtext(%s), 0)", (TOPIC,))
        result = await asyncio.wait_for(writing, timeout=30)

    assert attempts and set(attempts) == {"LockNotAvailable"}
    assert [r.offset for r in result.applied] == [0, 1, 2] and result.parked == []
    assert parked_rows(database) == []
    assert times_seen(database) == {changes[0].change.group_key: 2}


async def produce_to_partition_0(topic: str, changes: list[Change]) -> None:
    """As the grouping owner sends them, but all to partition 0, so the partition's order is the test's."""
    producer = AIOKafkaProducer(bootstrap_servers=BROKER)
    await producer.start()
    try:
        for change in changes:
            # The key as the owner's topic serialises it (JSON); the value the change's wire form.
            await producer.send(topic, key=orjson.dumps(change.group_key), value=encode_change(change), partition=0)
        await producer.flush()
    finally:
        await producer.stop()


@pytest.mark.parametrize("via", ["cli", "api"])
async def test_a_worker_parks_a_refused_change_goes_on_and_a_retry_applies_it_after_the_fix(
    deployment: Deployment, via: str,
) -> None:
    if via == "api":
        deployment.extra_env["ISSUE_PLATFORM_API_TOKEN"] = TOKEN
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    wait_for(lambda: api_up(worker) and "[^Worker]: Ready" in worker.log(), timeout=120, what="the worker")
    changes_topic = deployment.topic(TOPIC)
    await produce_to_partition_0(changes_topic, group_changes(1, ["a"]))  # offsets 0-2: group a, short id 1
    wait_for(lambda: deployment.query("SELECT times_seen FROM groups") == [(2,)], timeout=120, what="group a")

    # The counter rewound: x's creation (offset 4) collides with a's short id; offsets 5, 6 are x's later
    # changes, offset 7 a change of group a, which needs no short id.
    deployment.query("UPDATE projects SET next_short_id = 1 RETURNING id")
    x = group_changes(1, ["x"], occurrences_each=3)
    key_x = x[0].group_key
    await produce_to_partition_0(changes_topic, [*x, group_changes(1, ["a"], occurrences_each=3)[-1]])
    wait_for(lambda: deployment.query("SELECT times_seen FROM groups") == [(3,)], timeout=60,
             what="group a's later change, applied past the parked ones")
    assert deployment.query('SELECT "offset", behind, sqlstate FROM sink_parked ORDER BY "offset"') == [
        (4, None, "23505"), (5, 4, None), (6, 4, None)]
    assert worker.process.poll() is None  # parked, not crash-looping
    assert "sink: parked the change at partition 0 offset 4" in worker.log()

    listed = get(worker, "parked/")
    assert [(entry["source"]["offset"], entry["behind"]) for entry in listed.json] == [(4, None), (5, 4), (6, 4)]
    assert listed.json[0]["change"]["group_key"] == key_x and "UniqueViolation" in listed.json[0]["error"]
    health = get(worker, "health/")
    assert (health.status, health.json["checks"]["parked"]) == (200, 3)
    shown = deployment.cli("parked", "list")
    assert shown.returncode == 0 and shown.stdout.startswith("3 changes parked"), shown.stderr

    # Before the fix a retry fails again: exit 1 (409 over HTTP), nothing applied, one more attempt recorded.
    if via == "cli":
        again = deployment.cli("parked", "retry", "--all")
        assert again.returncode == 1 and "failed again, still parked" in again.stderr, again.stdout + again.stderr
    else:
        assert call(worker, "POST", RETRY, {"all": True}).status == 401  # a mutation: the token (§20.1.2)
        too_large = call(worker, "POST", RETRY, b" " * (1024 * 1024 + 1), AUTH)
        assert (too_large.status, too_large.json["code"]) == (413, "payload_too_large")  # §20.1.1
        unknown = call(worker, "POST", RETRY, {"ids": [listed.json[0]["id"], "999999"]}, AUTH)
        assert (unknown.status, unknown.json["code"], unknown.json["details"]) == (404, "not_found",
                                                                                   {"missing": ["999999"]})
        assert deployment.query('SELECT attempts FROM sink_parked ORDER BY "offset"') == [(2,), (0,), (0,)]
        again = call(worker, "POST", RETRY, {"all": True}, AUTH)
        assert (again.status, again.json["code"]) == (409, "retry_failed"), again.json
        [failure] = again.json["details"].pop("failed")
        assert again.json["details"] == {"retried": 1, "applied": 0}
        assert failure["groupKey"] == key_x and failure["source"] == {"topic": changes_topic, "partition": 0}
        assert "UniqueViolation" in failure["error"]
    assert deployment.query('SELECT attempts FROM sink_parked ORDER BY "offset"') == [(3,), (1,), (1,)]

    deployment.query("UPDATE projects SET next_short_id = 2 RETURNING id")
    if via == "cli":
        retried = deployment.cli("parked", "retry", "--id", listed.json[1]["id"])  # any row of the key takes it
        assert retried.returncode == 0, retried.stderr
        assert "applied 3 changes" in retried.stdout
    else:
        answer = call(worker, "POST", RETRY, {"ids": [listed.json[1]["id"]]}, AUTH)
        assert (answer.status, answer.json) == (200, {"retried": 1, "applied": 3, "failed": []})
    assert deployment.query("SELECT short_id, times_seen FROM groups WHERE group_key = %s", (key_x,)) == [(2, 3)]
    assert get(worker, "health/").json["checks"]["parked"] == 0
    assert get(worker, "parked/").json == [] and len(get(worker, "parked/", status="resolved").json) == 3
    # The retry forwarded what the sink would have: x's post-process messages, one per occurrence.
    messages = [json_value(r) for r in await consume_all(deployment.topic("issue-platform-post-process"), expected=5)]
    assert sorted(m["times_seen"] for m in messages if m["group_key"] == key_x) == [1, 2, 3]
    assert worker.process.poll() is None
