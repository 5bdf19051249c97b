"""What the sink writes for a batch, decided without Postgres (storage.sink_plan; spec §2.4.3, §7.4, §15.5.3)."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from storage.changes import (
    Change,
    CountedDrop,
    GrouplessOccurrence,
    GroupState,
    IngestDrop,
    OccurrenceChange,
    QuotaRefusal,
)
from storage.sink_plan import (
    BatchPlan,
    BatchResult,
    ChangeRecord,
    PersistedGroup,
    ShortIdRequest,
    assign_short_ids,
    contiguous,
    drop_stored_replays,
    merged,
    replays_to_check,
)
from streams.core.decide import decide_occurrence
from streams.core.group_state import KeyState
from tests.unit.storage.test_change_wire import incoming
from tests.unit.core.test_decide import KEY, NO_NOISE, created_state, facts, grant, occur

HOUR = 1_700_002_800.0  # a whole hour, epoch seconds


def group_state(key: str = KEY, *, project_id: int = 1, version: int = 1, times_seen: int = 1) -> GroupState:
    return GroupState(
        group_key=key, project_id=project_id, type_id=2001, generation=0, status=0, substatus=None,
        substatus_since=HOUR, priority=25, initial_priority=25, priority_locked_at=None, assignee=None,
        first_seen=HOUR, last_seen=HOUR, times_seen=times_seen, level=40, culprit="c", title="t", subtitle="s",
        message="t s c", platform="python", created_at=HOUR, version=version,
    )


def group_change(key: str = KEY, *, is_new: bool = False, t: float = HOUR, version: int = 1,
                 environment: str = "prod", occurrence_id: str = "o1") -> OccurrenceChange:
    return OccurrenceChange(
        outcome="created" if is_new else "applied", t=t, group_key=key, project_id=1,
        group=group_state(key, version=version), cause_id=occurrence_id, is_new=is_new,
        occurrence=None if is_new else {"project_id": 1, "id": occurrence_id}, occurrence_stored=is_new,
        environment=environment,
    )


def drop(n: int) -> IngestDrop:
    return IngestDrop(outcome="ingest_disabled", t=HOUR, group_key=KEY, project_id=1, type_id=2001, id=f"in-{n}")


def records(partition: int, offsets: list[int]) -> list[ChangeRecord]:
    return [ChangeRecord(partition, offset, drop(offset)) for offset in offsets]


def offsets(found: list[ChangeRecord]) -> list[tuple[int, int]]:
    return [(record.partition, record.offset) for record in found]


# ------------------------------------------------------------------------------------- 1. contiguity

def test_changes_that_continue_their_partition_are_applied_in_offset_order() -> None:
    result = contiguous(records(0, [7, 5, 6]), {0: 4}, gapless=True)
    assert offsets(result.applied) == [(0, 5), (0, 6), (0, 7)]
    assert result.through == {0: 7} and not result.holes and not result.deferred and not result.skipped


def test_a_missing_offset_defers_the_rest_of_its_partition_and_names_the_hole() -> None:
    result = contiguous(records(0, [5, 7, 8]) + records(1, [0, 1]), {0: 4}, gapless=True)
    assert offsets(result.applied) == [(0, 5), (1, 0), (1, 1)]
    assert result.holes == {0: 6}
    assert offsets(result.deferred) == [(0, 7), (0, 8)]
    assert result.through == {0: 5, 1: 1}  # the hole holds back its own partition only


def test_a_partition_never_written_starts_at_offset_zero() -> None:
    result = contiguous(records(3, [1, 2]), {}, gapless=True)
    assert result.applied == [] and result.holes == {3: 0} and result.through == {}


def test_a_gap_in_a_transactional_topic_is_no_hole() -> None:  # commit markers take offsets (exactly_once)
    result = contiguous(records(0, [5, 9]) + records(1, [40]), {0: 2}, gapless=False)
    assert offsets(result.applied) == [(0, 5), (0, 9), (1, 40)]
    assert not result.holes and result.through == {0: 9, 1: 40}


def test_a_repeated_change_and_one_applied_before_are_skipped() -> None:  # redelivery around a rebalance
    result = contiguous(records(0, [4, 5, 5, 6]), {0: 4}, gapless=True)
    assert offsets(result.applied) == [(0, 5), (0, 6)]
    assert offsets(result.skipped) == [(0, 4), (0, 5)]


# ------------------------------------------------------------------------------------------ 1. replays

def _applied_and_replay() -> tuple[Change, Change]:
    """An occurrence applied to a live group, and the same change marked `replay`, as the version before
    issue 11 sent it again when its message was read again (such changes may still be in the topic)."""
    applied = decide_occurrence(created_state(), incoming(2), group_key=KEY, offset=5, t=5_000.0, rules=NO_NOISE,
                                noise_before=None, seen=None, dedupe_seconds=3600)
    (change,) = applied.changes
    return change, replace(change, replay=True)  # type: ignore[type-var]


def test_a_replay_whose_occurrence_is_stored_is_skipped() -> None:  # spec §2.4
    _, replay = _applied_and_replay()
    result = contiguous([ChangeRecord(0, 9, replay)], {0: 8}, gapless=True)
    assert replays_to_check(result.applied) == [(1, facts(2).id)]
    drop_stored_replays(result, {(1, facts(2).id)})
    assert result.applied == [] and offsets(result.skipped) == [(0, 9)]
    assert result.through == {0: 9}  # its offset is done all the same


def test_a_replay_stands_in_for_an_original_that_was_lost() -> None:
    _, replay = _applied_and_replay()
    result = contiguous([ChangeRecord(0, 9, replay)], {0: 8}, gapless=True)
    drop_stored_replays(result, set())
    assert offsets(result.applied) == [(0, 9)]


def test_an_original_ahead_of_its_replay_in_the_batch_is_the_one_applied() -> None:
    original, replay = _applied_and_replay()
    result = contiguous([ChangeRecord(0, 9, original), ChangeRecord(0, 10, replay)], {0: 8}, gapless=True)
    assert replays_to_check(result.applied) == [(1, facts(2).id)]
    drop_stored_replays(result, set())
    assert offsets(result.applied) == [(0, 9)] and offsets(result.skipped) == [(0, 10)]


def test_only_replays_that_store_an_occurrence_are_looked_up() -> None:
    replayed_drop = CountedDrop(outcome="duplicate", t=HOUR, group_key=KEY, project_id=1, type_id=2001, id="d",
                                count_id="duplicate:k@1", replay=True)
    original, _ = _applied_and_replay()
    assert replays_to_check([ChangeRecord(0, 0, replayed_drop), ChangeRecord(0, 1, original)]) == []


# ------------------------------------------------------------------------------------------- 2-12. rows

PERSISTED = {(KEY, 0): PersistedGroup(id=70, short_id=3, project_slug="p1"),
             ("1:" + "e" * 32, 0): PersistedGroup(id=71, short_id=4, project_slug="p1")}


def plan(*changes: Change) -> BatchPlan:
    return BatchPlan([ChangeRecord(0, offset, change) for offset, change in enumerate(changes)])


def test_each_group_is_upserted_once_at_its_newest_version() -> None:  # step 4
    batch = plan(group_change(version=3), group_change(version=5, occurrence_id="o2"), group_change(version=4))
    assert {identity: group.version for identity, group in batch.newest.items()} == {(KEY, 0): 5}


def test_short_ids_are_drawn_only_for_groups_without_a_row_in_blocks_per_project() -> None:  # §13.4.1
    other = "2:" + "f" * 32
    batch = plan(group_change(KEY), group_change("1:" + "e" * 32),
                 replace(group_change(other), project_id=2, group=group_state(other, project_id=2)))
    requests = batch.short_id_requests(existing={(KEY, 0)})
    assert requests == [ShortIdRequest(1, (("1:" + "e" * 32, 0),)), ShortIdRequest(2, ((other, 0),))]
    # The counters after taking the blocks: each block ends just below its project's new value.
    assert assign_short_ids(requests, {1: 10, 2: 1}) == {("1:" + "e" * 32, 0): 9, (other, 0): 0}


def test_applied_occurrences_count_in_the_hour_of_their_t_and_linked_ones_in_their_own() -> None:  # §15.5.3
    batch = plan(group_change(t=HOUR + 10), group_change(t=HOUR + 3599, occurrence_id="o2", environment="staging"),
                 group_change(t=HOUR + 3600, occurrence_id="o3"),
                 group_change(is_new=True, t=HOUR + 20))  # a creation: its occurrences come back linked
    linked_at = datetime.fromtimestamp(HOUR - 5, UTC)
    hourly, environments = batch.hourly_counts(PERSISTED, [(70, linked_at, "prod")])
    at = lambda epoch: datetime.fromtimestamp(epoch, UTC)  # noqa: E731
    assert hourly == [(70, at(HOUR - 3600), 1), (70, at(HOUR), 2), (70, at(HOUR + 3600), 1)]
    # The first occurrence of each environment names when it was first seen; applied ones come first.
    assert environments == [(70, "prod", at(HOUR + 10)), (70, "staging", at(HOUR + 3599))]


def test_a_drop_with_a_count_id_counts_only_the_first_time_and_refusals_by_the_rows_marked() -> None:  # §7.4
    duplicate = CountedDrop(outcome="duplicate", t=HOUR, group_key=KEY, project_id=1, type_id=2001, id="o",
                            count_id="duplicate:k@7")
    held = GrouplessOccurrence(outcome="held_back", t=HOUR, group_key=KEY, project_id=1, type_id=1008, id="h",
                               occurrence={"project_id": 1, "id": "h"})
    waiting = replace(held, outcome="pending_quota", id="w")
    refusal = QuotaRefusal(t=HOUR, group_key=KEY, project_id=1, type_id=2001, ids=("w",))
    batch = plan(duplicate, drop(1), drop(2), held, held, waiting, refusal)
    assert batch.count_ids == ["duplicate:k@7", "in-1", "in-2"]
    assert batch.refusals == [refusal]
    rows = batch.drop_rows(first_time={"duplicate:k@7", "in-2"}, refused={(1, 2001): 1})
    assert rows == [(1, 1008, "held_back", 2), (1, 2001, "duplicate", 1), (1, 2001, "ingest_disabled", 1),
                    (1, 2001, "quota_refused", 1)]


def test_a_creation_links_what_waited_and_its_noise_window() -> None:  # step 7, spec §13.1.5, §13.2.5
    waited = occur(occur(KeyState(), 1, 0).state, 2, 1).state
    (creation,) = grant(waited, facts(1).id, 2).changes
    assert isinstance(creation, OccurrenceChange)
    by_id, by_window, by_request = plan(creation).link_rows(PERSISTED)
    assert by_id == [(1, facts(1).id, 70, facts(1).id), (1, facts(2).id, 70, facts(1).id)]
    assert by_window == []  # no noise gate for this type
    # Every waiter kept under the request id, past the ids named too (spec §2.4.11); answered at offset 0.
    assert by_request == [(creation.group_key, facts(1).id, 70, facts(1).id, 0, 0)]
    assert plan(creation).occurrence_rows(PERSISTED) == []  # stored already, groupless: linked, not rewritten


def test_a_batch_written_in_parts_keeps_every_part_s_waiters() -> None:  # write_or_park's halves (§2.4.11)
    first, second = BatchResult(), BatchResult()
    first.waiters[(0, 5)] = [{"occurrence": {"id": "a"}}]
    second.waiters[(1, 9)] = [{"occurrence": {"id": "b"}}]
    assert merged([first, second]).waiters == {(0, 5): [{"occurrence": {"id": "a"}}], (1, 9): [{"occurrence": {"id": "b"}}]}


def test_an_ingest_drop_sent_again_records_its_input_once() -> None:  # spec §2.4.13
    copy = replace(drop(1), input=("in", 0, 7))
    batch = BatchPlan([ChangeRecord(0, 1, copy), ChangeRecord(0, 2, copy)])
    assert batch.ledger_inputs(first_time={"in-1"}) == [(("in", 0, 7), False)]  # two copies in one batch: once
    # Counted before (a copy after a crash): its input was recorded with the first copy.
    assert batch.ledger_inputs(first_time=set()) == []
