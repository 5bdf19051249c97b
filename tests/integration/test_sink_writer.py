"""The sink's batch writer against the real PostgreSQL (spec §2.4.3, §13.4, §19)."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.workload import BASE_T, RULES, group_changes, occurrence_json
from storage.changes import Change, IngestDrop
from storage.migrate import migrate
from storage.sink_plan import BatchResult, ChangeRecord
from storage.sink_writer import prune_answered_waiters, prune_counted_drops, write_batch
from streams.core.decide import IncomingOccurrence, decide_occurrence, decide_quota_answer
from streams.core.fingerprint import group_key, hash_fingerprint
from streams.core.group_state import MAX_WAITING_IDS, KeyState, SeenRecord
from streams.core.grouping import OccurrenceFacts
from streams.core.postprocess import waiter_entries
from tests.integration.harness import Deployment

pytestmark = pytest.mark.integration

TOPIC = "issue-platform-group-changes"


async def write(database_url: str, records: list[ChangeRecord]) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        async with conn.transaction():
            await write_batch(conn, TOPIC, records)


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    tables = {
        "groups": "SELECT id, group_key, short_id, times_seen, status, version FROM groups ORDER BY id",
        "occurrences": "SELECT project_id, id, group_id, outcome FROM occurrences ORDER BY 1, 2",
        "activities": "SELECT id, group_id, type FROM activities ORDER BY id",
        "hourly_counts": "SELECT group_id, hour, count FROM hourly_counts ORDER BY 1, 2",
        "drop_counters": "SELECT * FROM drop_counters ORDER BY 1, 2, 3",
        "projects": "SELECT id, next_short_id FROM projects ORDER BY id",
        "sink_offsets": 'SELECT topic, partition, "offset" FROM sink_offsets ORDER BY 1, 2',
    }
    with psycopg.connect(database_url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in tables.items()}  # type: ignore[arg-type]


async def test_replaying_the_same_batch_leaves_postgres_identical(database: str) -> None:  # spec §2.4.3
    records = [ChangeRecord(0, offset, body) for offset, body in enumerate(group_changes(1, ["a", "b", "c"]))]
    await write(database, records)
    first = snapshot(database)
    assert [row[3] for row in first["groups"]] == [2, 2, 2]
    assert sum(row[2] for row in first["hourly_counts"]) == 6
    await write(database, records)  # the whole batch re-read after a crash before the ack
    await write(database, records[2:5])  # and a partial overlap
    assert snapshot(database) == first


async def test_two_sinks_writing_one_projects_groups_concurrently_never_deadlock(database: str) -> None:
    # Two partitions of the same project, each written by its own sink, with rows in opposite orders.
    left = [ChangeRecord(0, o, b) for o, b in enumerate(group_changes(5, [f"l{i}" for i in range(150)]))]
    right = [ChangeRecord(1, o, b) for o, b in enumerate(group_changes(5, [f"r{i}" for i in range(150)]))]
    third = len(left) // 3
    for start in (0, third, 2 * third):
        end = start + third if start < 2 * third else len(left)
        batches = [left[start:end], list(reversed(right[start:end]))]
        await asyncio.wait_for(asyncio.gather(*(write(database, batch) for batch in batches)), timeout=60)
    with psycopg.connect(database) as conn:
        short_ids = [row[0] for row in conn.execute("SELECT short_id FROM groups WHERE project_id = 5").fetchall()]
    assert len(short_ids) == 300
    assert len(set(short_ids)) == 300  # unique per project (spec §13.4.1)


def ingest_drop(drop_id: str) -> IngestDrop:
    return IngestDrop(outcome="ingest_disabled", t=1_700_000_000.0, group_key="9:" + "a" * 32, project_id=9,
                      type_id=5001, id=drop_id)


async def test_an_ingest_drop_re_produced_after_a_restart_is_counted_once(database: str) -> None:  # §2.4.1
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    await write(database, [ChangeRecord(0, 0, ingest_drop(first)), ChangeRecord(0, 1, ingest_drop(second))])
    # The input of `first` was read again after a restart: same derived id, new group-changes offset.
    await write(database, [ChangeRecord(0, 2, ingest_drop(first))])
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count FROM drop_counters WHERE outcome = 'ingest_disabled'").fetchall() == [(2,)]


class KeyRun:
    """Drives the real grouping decisions for one key: each message's changes, and the copies marked `replay`
    that the version before issue 11 sent when the message was read again (such copies may still be in the
    group-changes topic after an upgrade, so the sink keeps handling them)."""

    def __init__(self, project_id: int, fingerprint: str) -> None:
        self.project_id = project_id
        self.fingerprint = fingerprint
        self.key = group_key(project_id, hash_fingerprint([fingerprint]))
        self.state = KeyState()

    def incoming(self, occurrence_id: str) -> IncomingOccurrence:
        facts = OccurrenceFacts(
            id=occurrence_id, project_id=self.project_id, type_id=2001, title="t", subtitle="s", culprit="c",
            level=30, event_id="e" * 32, event_timestamp=BASE_T, platform="python", environment="prod",
            priority=None, assignee=None,
        )
        return IncomingOccurrence(facts, occurrence_json(self.project_id, self.fingerprint, occurrence_id), None)

    def occur(self, occurrence_id: str, *, seen: SeenRecord | None = None) -> tuple[list[Change], list[Change]]:
        """(changes, the changes sent if the same message is read again)."""
        offset = self.state.offset + 1
        arguments = dict(group_key=self.key, offset=offset, t=BASE_T + offset, rules=RULES, noise_before=None,
                         seen=seen, dedupe_seconds=3600)
        decision = decide_occurrence(self.state, self.incoming(occurrence_id), **arguments)  # type: ignore[arg-type]
        self.state = decision.state
        return list(decision.changes), _replays(decision.changes)

    def answer(self, request_id: str, granted: bool) -> tuple[list[Change], list[Change]]:
        offset = self.state.offset + 1
        arguments = dict(request_id=request_id, granted=granted, group_key=self.key, offset=offset,
                         t=BASE_T + offset, rules=RULES)
        decision = decide_quota_answer(self.state, **arguments)  # type: ignore[arg-type]
        self.state = decision.state
        return list(decision.changes), _replays(decision.changes)


def _replays(changes: tuple[Change, ...]) -> list[Change]:
    return [replace(change, replay=True) for change in changes]  # type: ignore[type-var]


def records(bodies: list[Change], first_offset: int) -> list[ChangeRecord]:
    return [ChangeRecord(0, first_offset + index, body) for index, body in enumerate(bodies)]


async def test_replayed_changes_whose_effects_are_stored_change_nothing(database: str) -> None:  # §2.4
    run = KeyRun(3, "replayed")
    creator, waiting, later = (uuid.uuid4().hex for _ in range(3))
    sent: list[Change] = []
    replays: list[Change] = []
    for changes, again in (run.occur(creator), run.occur(waiting), run.answer(creator, True), run.occur(later)):
        sent += changes
        replays += again
    assert replays and all(change.replay for change in replays)  # type: ignore[union-attr]
    await write(database, records(sent, 0))
    first = snapshot(database)
    assert first["groups"][0][3] == 3 and sum(row[2] for row in first["hourly_counts"]) == 3
    await write(database, records(replays, len(sent)))
    after = snapshot(database)
    assert {name: rows for name, rows in after.items() if name != "sink_offsets"} == \
           {name: rows for name, rows in first.items() if name != "sink_offsets"}


async def test_a_replay_stands_in_for_a_change_lost_in_a_crash(database: str) -> None:  # §2.4
    run = KeyRun(4, "lost")
    creator, later = uuid.uuid4().hex, uuid.uuid4().hex
    sent = run.occur(creator)[0] + run.answer(creator, True)[0]
    lost, replay = run.occur(later)  # its state was published, its change was not
    await write(database, records(sent + replay, 0))
    with_replay = snapshot(database)
    other = await _fresh_database_snapshot(database, sent + lost)
    linked = lambda rows: [(row[0], row[1], row[2] is not None, row[3]) for row in rows]  # noqa: E731
    assert linked(with_replay["occurrences"]) == linked(other["occurrences"])
    assert len(with_replay["occurrences"]) == 2
    assert [row[1:] for row in with_replay["hourly_counts"]] == [row[1:] for row in other["hourly_counts"]]
    assert with_replay["groups"][0][3] == 2


async def _fresh_database_snapshot(database: str, bodies: list[Change]) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(database) as conn:
        conn.execute("TRUNCATE groups, occurrences, hourly_counts, activities, group_hashes, drop_counters,"
                      " sink_offsets, group_environments, counted_drops CASCADE")
    await write(database, records(bodies, 0))
    return snapshot(database)


async def test_a_refusal_and_a_duplicate_sent_twice_are_counted_once(database: str) -> None:  # §7.4
    refused_run = KeyRun(5, "refused")
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    sent = refused_run.occur(first)[0] + refused_run.occur(second)[0]
    refusal, refusal_again = refused_run.answer(first, False)
    duplicate_run = KeyRun(5, "duplicated")
    original = uuid.uuid4().hex
    created = duplicate_run.occur(original)[0] + duplicate_run.answer(original, True)[0]
    duplicate, duplicate_again = duplicate_run.occur(original, seen=SeenRecord(t=BASE_T, offset=0))
    await write(database, records(sent + refusal + created + duplicate, 0))
    await write(database, records(refusal_again + duplicate_again, 100))
    with psycopg.connect(database) as conn:
        counts = dict(conn.execute("SELECT outcome, count FROM drop_counters WHERE project_id = 5").fetchall())
    assert counts == {"quota_refused": 2, "duplicate": 1}


async def test_an_original_and_its_replay_in_one_batch_count_once(database: str) -> None:  # §2.4
    run = KeyRun(6, "same-batch")
    creator, later = uuid.uuid4().hex, uuid.uuid4().hex
    sent = run.occur(creator)[0] + run.answer(creator, True)[0]
    applied, replay = run.occur(later)
    await write(database, records(sent + applied + replay + replay, 0))
    after = snapshot(database)
    assert after["groups"][0][3] == 2
    assert sum(row[2] for row in after["hourly_counts"]) == 2
    assert len(after["occurrences"]) == 2


async def test_pruning_forgets_only_count_ids_older_than_the_retention(database: str) -> None:  # spec §2.4.1
    with psycopg.connect(database) as conn:
        conn.execute(
            "INSERT INTO counted_drops (id, counted_at) VALUES ('old-1', now() - interval '8 days'),"
            " ('old-2', now() - interval '169 hours'), ('recent', now() - interval '167 hours'), ('new', now())"
        )
    async with await psycopg.AsyncConnection.connect(database) as conn:
        removed = await prune_counted_drops(conn, timedelta(hours=168))
    assert removed == 2
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT id FROM counted_drops ORDER BY id").fetchall() == [("new",), ("recent",)]


async def assert_same_as_one_ordered_write(database_url: str, tmp_path: Path, records: list[ChangeRecord]) -> None:
    """Postgres holds exactly what writing `records` once, in order, into a fresh database gives."""
    reference = Deployment(root=tmp_path / "reference")
    reference.create_database()
    try:
        migrate(reference.database_url)
        await write(reference.database_url, records)
        assert snapshot(database_url) == snapshot(reference.database_url)
    finally:
        reference.drop_database()


async def test_a_partition_with_missing_offsets_is_applied_up_to_the_hole_then_read_again(
    database: str, tmp_path: Path
) -> None:  # spec §2.4.3: sink_offsets means "everything up to here is applied"
    records = [ChangeRecord(0, offset, body) for offset, body in enumerate(group_changes(1, ["a", "b", "c", "d"]))]
    assert len(records) >= 8
    with_hole = records[:3] + records[5:]
    async with await psycopg.AsyncConnection.connect(database) as conn:
        async with conn.transaction():
            result = await write_batch(conn, TOPIC, with_hole)
    assert [c.offset for c in result.applied] == [0, 1, 2]
    assert result.holes == {0: 3}
    assert [c.offset for c in result.deferred] == [c.offset for c in records[5:]]
    assert snapshot(database)["sink_offsets"] == [(TOPIC, 0, 2)]
    # Read again from the hole, as the sink agent's seek makes the consumer do.
    await write(database, records[3:])
    await assert_same_as_one_ordered_write(database, tmp_path, records)


async def test_changes_repeated_or_out_of_order_in_one_batch_apply_once_in_offset_order(
    database: str, tmp_path: Path
) -> None:  # a redelivery around a rebalance can hand the same records over twice
    records = [ChangeRecord(0, offset, body) for offset, body in enumerate(group_changes(1, ["a", "b"]))]
    scrambled = records[:2] + records[:3] + [records[4], records[3]] + records[5:] + records[-2:]
    result = await _write_returning(database, scrambled)
    assert [c.offset for c in result.applied] == [c.offset for c in records]
    assert not result.holes
    await assert_same_as_one_ordered_write(database, tmp_path, records)


async def _write_returning(database_url: str, records: list[ChangeRecord]) -> Any:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        async with conn.transaction():
            return await write_batch(conn, TOPIC, records)


async def test_two_sinks_on_a_partition_never_written_before_apply_it_once(database: str, tmp_path: Path) -> None:
    # After a rebalance the old owner may still commit a batch the new owner is writing too (spec §2.4.3).
    records = [ChangeRecord(0, offset, body) for offset, body in enumerate(group_changes(1, ["a", "b"]))]
    async with await psycopg.AsyncConnection.connect(database) as first:
        async with first.transaction():
            await write_batch(first, TOPIC, records)
            second = asyncio.create_task(write(database, records))
            await asyncio.sleep(1.0)
            assert not second.done(), "the second sink must wait for the first one's transaction"
        await asyncio.wait_for(second, timeout=30)
    await assert_same_as_one_ordered_write(database, tmp_path, records)


async def write_result(database_url: str, records: list[ChangeRecord]) -> BatchResult:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        async with conn.transaction():
            return await write_batch(conn, TOPIC, records)


def waiting_run(project_id: int, waiters: int) -> tuple[KeyRun, list[Change], list[str]]:
    """A key whose creation request is answered only after `waiters` occurrences (the creator first) waited."""
    run = KeyRun(project_id, f"waits-{waiters}")
    ids = [uuid.uuid4().hex for _ in range(waiters)]
    sent = [change for occurrence_id in ids for change in run.occur(occurrence_id)[0]]
    return run, sent, ids


async def test_a_grant_links_every_waiter_past_the_bound_and_forwards_each(database: str) -> None:  # §2.4.11
    run, sent, ids = waiting_run(8, MAX_WAITING_IDS + 200)
    assert run.state.pending is not None and len(run.state.pending.waiting_ids) == MAX_WAITING_IDS
    await write(database, records(sent, 0))
    creation = records(run.answer(ids[0], True)[0], len(sent))
    result = await write_result(database, creation)
    with psycopg.connect(database) as conn:
        group_id, times_seen = conn.execute("SELECT id, times_seen FROM groups WHERE project_id = 8").fetchone()
        outcomes = dict(conn.execute("SELECT outcome, count(*) FROM occurrences WHERE project_id = 8"
                                     " AND group_id = %s GROUP BY outcome", (group_id,)).fetchall())
        hourly = conn.execute("SELECT sum(count) FROM hourly_counts WHERE group_id = %s", (group_id,)).fetchone()[0]
    assert times_seen == len(ids) and outcomes == {"created": 1, "applied": len(ids) - 1} and hourly == len(ids)
    # One post-process entry per waiter, in arrival order, times_seen counting up to the group's (spec §18.1).
    entries = waiter_entries(times_seen, result.waiters[(0, len(sent))])
    assert [entry["occurrence"]["id"] for entry in entries] == ids
    assert [entry["times_seen"] for entry in entries] == list(range(1, len(ids) + 1))
    assert [entry["is_new"] for entry in entries[:2]] == [True, False]
    # The creation read again (a crash before the sink's commit) is forwarded again, to the same entries.
    again = await write_result(database, creation)
    assert again.applied == [] and again.waiters == result.waiters
    # Once the sink's consumer group commits past the answer, its waiters go; not before.
    async with await psycopg.AsyncConnection.connect(database) as conn:
        assert await prune_answered_waiters(conn, {0: len(sent)}) == 0
        assert await prune_answered_waiters(conn, {0: len(sent) + 1}) == len(ids)


async def test_a_refusal_refuses_every_waiter_past_the_bound_and_counts_each_once(database: str) -> None:  # §2.4.11
    run, sent, ids = waiting_run(9, MAX_WAITING_IDS + 50)
    await write(database, records(sent, 0))
    refusal, refusal_again = run.answer(ids[0], False)
    await write(database, records(refusal, len(sent)))
    await write(database, records(refusal_again, len(sent) + 1))
    with psycopg.connect(database) as conn:
        outcomes = dict(conn.execute("SELECT outcome, count(*) FROM occurrences WHERE project_id = 9"
                                     " GROUP BY outcome").fetchall())
        counts = dict(conn.execute("SELECT outcome, count FROM drop_counters WHERE project_id = 9").fetchall())
    assert outcomes == {"quota_refused": len(ids)}
    assert counts == {"quota_refused": len(ids)}
