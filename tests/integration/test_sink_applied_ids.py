"""The sink applies a change id at most once, against the real PostgreSQL (spec §2.4.7): the grouping owner that
crashed after its outputs were acknowledged but before its state was written sends the same changes again, under
the same ids, at new group-changes offsets. Through parking and retry too (§2.4.12), and ids are pruned once the
grouping consumer group has committed past their cause, never by age."""
from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from bench.workload import group_changes
from storage.changes import ActivityRecord, Change, CountedDrop, OccurrenceChange
from storage.sink_plan import BatchResult
from storage.sink_writer import prune_applied_changes
from tests.integration.test_sink_parking import (
    PROJECT,
    TOPIC,
    at,
    query,
    retry,
    sink,
    sink_offset,
)

pytestmark = pytest.mark.integration


def identified(change: Change, cause_offset: int) -> Change:
    """`change` as the grouping owner sends it: a fresh output id, caused by grouping partition 0 at `cause_offset`."""
    return replace(change, change_id=uuid.uuid4().hex, cause=(0, cause_offset))


def counts(database_url: str, key: str) -> dict[str, Any]:
    """What a second application of a change would add to, for the group of `key`."""
    def one(sql: str) -> Any:
        return query(database_url, sql, (key,))[0][0]

    return {
        "times_seen": one("SELECT times_seen FROM groups WHERE group_key = %s"),
        "hourly": one("SELECT sum(count) FROM hourly_counts h JOIN groups g ON g.id = h.group_id"
                      " WHERE g.group_key = %s"),
        "activities": one("SELECT count(*) FROM activities a JOIN groups g ON g.id = a.group_id"
                          " WHERE g.group_key = %s"),
        "linked": one("SELECT count(*) FROM occurrences WHERE group_key = %s AND group_id IS NOT NULL"),
        "duplicates": query(database_url, "SELECT coalesce(sum(count), 0) FROM drop_counters"
                                          " WHERE project_id = %s AND outcome = 'duplicate'", (PROJECT,))[0][0],
    }


def applied_ids(database_url: str) -> dict[str, tuple[int, int]]:
    rows = query(database_url, "SELECT change_id, cause_partition, cause_offset FROM sink_applied_changes")
    return {change_id: (partition, offset) for change_id, partition, offset in rows}


async def test_changes_sent_again_under_their_ids_at_new_offsets_are_applied_once(database: str) -> None:
    pending, created, applied, later = group_changes(PROJECT, ["a"], occurrences_each=3)
    key = created.group_key
    assert isinstance(applied, OccurrenceChange)
    activity = ActivityRecord(id=uuid.uuid4().hex, type=26, data={}, datetime=applied.t, source="occurrence")
    first = identified(replace(applied, activities=(*applied.activities, activity)), 12)
    # No count id: the change id alone must keep the copy from counting a second duplicate.
    dropped = identified(CountedDrop(outcome="duplicate", t=applied.t, group_key=key, project_id=PROJECT,
                                     type_id=2001, id=uuid.uuid4().hex, count_id=None), 13)
    await sink(database, at(0, [pending, created, first, dropped]))
    before = counts(database, key)
    assert before == {"times_seen": 2, "hourly": 2, "linked": 2, "duplicates": 1,
                      "activities": len(created.activities) + len(first.activities)}  # type: ignore[union-attr]

    # The owner crashed before writing its state: it decides grouping offsets 12 and 13 again and sends the same
    # two changes at new offsets, then goes on with the next message.
    new = identified(later, 14)
    result = await sink(database, at(4, [first, dropped, new]))

    assert [r.offset for r in result.applied] == [6]
    assert [r.offset for r in result.repeated] == [4, 5] and [r.offset for r in result.skipped] == [4, 5]
    assert [r.offset for r in result.forwarded()] == [6]  # the originals were forwarded with the first batch
    after = {**before, "times_seen": 3, "hourly": 3, "linked": 3,
             "activities": before["activities"] + len(new.activities)}  # type: ignore[union-attr]
    assert counts(database, key) == after
    assert sink_offset(database) == 6  # the copies' offsets are done all the same
    assert applied_ids(database) == {first.change_id: (0, 12), dropped.change_id: (0, 13), new.change_id: (0, 14)}

    # The same batch read again (a redelivery): skipped by offset, nothing more applied.
    again = await sink(database, at(4, [first, dropped, new]))
    assert again.applied == [] and counts(database, key) == after


async def test_a_parked_changes_id_is_recorded_when_a_retry_applies_it_and_kept_while_a_copy_waits(
    database: str,
) -> None:
    await sink(database, at(0, group_changes(PROJECT, ["a"])))  # group a takes short id 1
    # A rewound short-id counter makes x's creation collide with a's short id (23505) until it is set right.
    query(database, "UPDATE projects SET next_short_id = 1 WHERE id = %s RETURNING id", (PROJECT,))
    pending, created, applied = (identified(change, 20 + index)
                                 for index, change in enumerate(group_changes(PROJECT, ["x"])))
    key = created.group_key
    # x's groupless occurrence is applied; its creation is parked, and behind it x's next change and a copy of
    # the groupless occurrence (the owner sent it again).
    result = await sink(database, at(3, [pending, created, applied, pending]))
    assert [r.offset for r in result.applied] == [3]
    assert [(p.record.offset, p.behind) for p in result.parked] == [(4, None), (5, 4), (6, 4)]
    assert applied_ids(database) == {pending.change_id: (0, 20)}  # parked ones are not applied: not recorded
    assert query(database, 'SELECT "offset", change_id FROM sink_parked ORDER BY "offset"') == [
        (4, created.change_id), (5, applied.change_id), (6, pending.change_id)]

    # The grouping group has committed past every cause, but a copy of the applied change waits: its id stays.
    assert await prune(database, {0: 100}) == 0

    query(database, "UPDATE projects SET next_short_id = 2 WHERE id = %s RETURNING id", (PROJECT,))
    retried = await retry(database, key)
    assert isinstance(retried, BatchResult)
    assert [r.offset for r in retried.applied] == [4, 5]
    assert [r.offset for r in retried.repeated] == [6] and [r.offset for r in retried.forwarded()] == [4, 5]
    assert applied_ids(database) == {pending.change_id: (0, 20), created.change_id: (0, 21),
                                     applied.change_id: (0, 22)}
    assert query(database, "SELECT outcome, group_id IS NOT NULL FROM occurrences WHERE group_key = %s"
                           " ORDER BY outcome", (key,)) == [("applied", True), ("created", True)]
    assert counts(database, key)["hourly"] == 2

    assert await prune(database, {0: 100}) == 3  # resolved now: nothing waits for them any more
    assert applied_ids(database) == {}


async def prune(database_url: str, committed: dict[int, int]) -> int:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        return await prune_applied_changes(conn, committed)


async def test_ids_are_pruned_once_the_grouping_group_committed_past_their_cause_never_by_age(database: str) -> None:
    causes = {"a" * 32: (0, 5), "b" * 32: (0, 10), "c" * 32: (1, 2), "d" * 32: (1, 3), "e" * 32: (2, 0)}
    with psycopg.connect(database) as conn:
        conn.execute(
            "INSERT INTO sink_applied_changes (change_id, cause_partition, cause_offset, applied_at)"
            " SELECT id, p, o, now() - interval '30 days' FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS r(id, p, o)",
            (list(causes), [p for p, _ in causes.values()], [o for _, o in causes.values()]),
        )
    # Committed offsets are the next offsets the group reads: offset 10 of partition 0 is not past yet. Partition 2
    # has no committed offset: nothing of it goes, however old.
    assert await prune(database, {0: 10, 1: 3}) == 2
    assert applied_ids(database) == {"b" * 32: (0, 10), "d" * 32: (1, 3), "e" * 32: (2, 0)}
    assert await prune(database, {}) == 0
    assert await prune(database, {0: 11, 1: 3}) == 1
    assert applied_ids(database) == {"d" * 32: (1, 3), "e" * 32: (2, 0)}
    assert query(database, "SELECT count(*) FROM sink_offsets WHERE topic = %s", (TOPIC,)) == [(0,)]
