"""`make chaos`'s pure parts: the truth read from the input topic, the loss and double-count accounting, the fault schedule."""
from __future__ import annotations

import dataclasses
import itertools
import zlib
from collections import Counter
from collections.abc import Iterable

import pytest

from bench.chaos import Action, Sample, fault_schedule, moved_after, plan_status_changes
from bench.chaos_accounting import (
    Expected,
    FoundGroup,
    InputRecord,
    Snapshot,
    account,
    expected_from_topic,
    unaccounted_offsets,
)
from bench.firehose import Firehose, FirehoseConfig, InputMessage, Kind, generate
from streams.core.enums import GroupStatus, GroupSubStatus

TOPIC = "chaos.ingest-occurrences"
PARTITIONS = 4


@pytest.fixture(scope="module")
def firehose() -> Firehose:
    return generate(FirehoseConfig(occurrences=800, projects=6, status_changes=8, seed=3))


def as_records(messages: Iterable[InputMessage]) -> list[InputRecord]:
    """The messages as a topic holds them: partitioned by key, offsets in send order per partition."""
    offsets: Counter[int] = Counter()
    records = []
    for message in messages:
        partition = zlib.crc32(message.key) % PARTITIONS
        records.append(InputRecord(partition, offsets[partition], message.value))
        offsets[partition] += 1
    return records


def perfect_snapshot(expected: Expected) -> Snapshot:
    """What Postgres holds when every input had exactly its outcome."""
    return Snapshot(
        groups={key: FoundGroup(group.project_id, group.type_id, group.times_seen, group.status, group.substatus,
                                hourly=group.times_seen, linked=group.times_seen)
                for key, group in expected.truth.groups.items()},
        occurrences=frozenset(expected.occurrences),
        drops=dict(expected.drops),
        dlq={(TOPIC, partition, offset): reason for (partition, offset), reason in expected.dlq.items()},
    )


# --- the truth, from the topic --------------------------------------------------------------------------------


def test_the_topic_holding_exactly_the_firehose_gives_the_firehose_truth(firehose: Firehose) -> None:
    expected = expected_from_topic(as_records(firehose.messages), firehose)
    assert expected.truth == firehose.truth
    assert expected.records == len(firehose.messages)
    assert expected.order_violations == []
    assert sum(expected.drops.values()) == firehose.truth.held_back + firehose.truth.duplicates


def test_a_valid_occurrence_written_twice_by_a_producer_retry_is_one_more_duplicate(firehose: Firehose) -> None:
    valid = next(message for message in firehose.messages if message.kind is Kind.OCCURRENCE)
    expected = expected_from_topic(as_records([*firehose.occurrence_messages, valid,
                                               *firehose.status_change_messages]), firehose)
    assert expected.truth.duplicates == firehose.truth.duplicates + 1
    assert expected.truth.stored_occurrences == firehose.truth.stored_occurrences
    assert expected.truth.groups == firehose.truth.groups


def test_an_invalid_message_written_twice_is_two_dlq_entries(firehose: Firehose) -> None:
    invalid = next(message for message in firehose.messages if message.kind is Kind.INVALID)
    expected = expected_from_topic(as_records([*firehose.messages, invalid]), firehose)
    assert expected.truth.dlq_entries == firehose.truth.dlq_entries + 1
    assert expected.truth.dlq_by_reason[str(invalid.reason)] == firehose.truth.dlq_by_reason[str(invalid.reason)] + 1


def test_records_that_are_not_the_firehose_are_foreign_and_change_nothing(firehose: Firehose) -> None:
    records = as_records(firehose.messages) + [InputRecord(0, 10_000, b'{"warm": "up"}')]
    expected = expected_from_topic(records, firehose)
    assert expected.foreign == 1
    assert expected.truth == firehose.truth


def test_an_occurrence_after_its_keys_status_change_is_an_order_violation(firehose: Firehose) -> None:
    copies = Counter(message.value for message in firehose.messages)
    change, later = next((change, message) for change in firehose.status_change_messages
                         for message in firehose.occurrence_messages  # one without a detector duplicate
                         if message.kind is Kind.OCCURRENCE and message.key == change.key
                         and copies[message.value] == 1)
    reordered = [message for message in firehose.messages if message is not later]
    reordered.insert(reordered.index(change) + 1, later)
    assert expected_from_topic(as_records(reordered), firehose).order_violations


# --- the accounting ---------------------------------------------------------------------------------------------


def test_a_perfect_postgres_has_nothing_lost_double_wrong_or_unaccounted(firehose: Firehose) -> None:
    expected = expected_from_topic(as_records(firehose.messages), firehose)
    snapshot = perfect_snapshot(expected)
    accounting = account(expected, snapshot, TOPIC)
    assert (accounting.lost, accounting.double_counted, accounting.wrong) == (0, 0, 0)
    assert all(check.ok for check in accounting.checks.values())
    assert unaccounted_offsets(expected, snapshot, TOPIC) == []


def test_missing_and_extra_counts_are_lost_and_double_counted_per_check(firehose: Firehose) -> None:
    expected = expected_from_topic(as_records(firehose.messages), firehose)
    snapshot = perfect_snapshot(expected)
    hot_key, hot = max(snapshot.groups.items(), key=lambda item: item[1].times_seen)
    groups = dict(snapshot.groups)
    groups[hot_key] = dataclasses.replace(hot, times_seen=hot.times_seen - 2, hourly=hot.hourly + 1)
    groups["unexpected-key"] = FoundGroup(1, 2001, 3, 0, 0, hourly=3, linked=3)
    drop_key = next(key for key in snapshot.drops if key[2] == "duplicate")
    drops = {**snapshot.drops, drop_key: snapshot.drops[drop_key] + 4}
    accounting = account(expected, dataclasses.replace(snapshot, groups=groups, drops=drops), TOPIC)
    assert (accounting.checks["times_seen"].lost, accounting.checks["times_seen"].double) == (2, 3)
    assert (accounting.checks["hourly_counts"].lost, accounting.checks["hourly_counts"].double) == (0, 1 + 3)
    assert accounting.checks["linked_occurrences"].double == 3
    assert accounting.checks["groups"].double == 1
    assert accounting.checks["drop_counters"].double == 4
    assert accounting.lost == 2
    assert accounting.double_counted == 3 + 4 + 3 + 1 + 4


def test_a_missing_occurrence_row_and_dlq_entry_are_lost_and_unaccounted_at_their_offsets(firehose: Firehose) -> None:
    expected = expected_from_topic(as_records(firehose.messages), firehose)
    snapshot = perfect_snapshot(expected)
    ident, coordinates = next(iter(expected.occurrences.items()))
    invalid_at, _ = next(iter(expected.dlq.items()))
    dlq = {source: reason for source, reason in snapshot.dlq.items() if source != (TOPIC, *invalid_at)}
    broken = dataclasses.replace(snapshot, occurrences=snapshot.occurrences - {ident}, dlq=dlq)
    accounting = account(expected, broken, TOPIC)
    assert accounting.checks["occurrence_rows"].lost == 1
    assert accounting.checks["dlq_entries"].lost == 1
    assert unaccounted_offsets(expected, broken, TOPIC) == sorted([(*coordinates, "occurrence"),
                                                                   (*invalid_at, "invalid")])


def test_a_dlq_entry_at_an_occurrences_offset_accounts_for_it_but_is_double(firehose: Firehose) -> None:
    expected = expected_from_topic(as_records(firehose.messages), firehose)
    snapshot = perfect_snapshot(expected)
    ident, coordinates = next(iter(expected.occurrences.items()))
    broken = dataclasses.replace(snapshot, occurrences=snapshot.occurrences - {ident},
                                 dlq={**snapshot.dlq, (TOPIC, *coordinates): "group_not_found"})
    accounting = account(expected, broken, TOPIC)
    assert accounting.checks["dlq_entries"].double == 1
    assert accounting.checks["occurrence_rows"].lost == 1
    assert unaccounted_offsets(expected, broken, TOPIC) == []


def test_a_dlq_entry_of_another_topic_or_reason_is_not_the_expected_one(firehose: Firehose) -> None:
    expected = expected_from_topic(as_records(firehose.messages), firehose)
    snapshot = perfect_snapshot(expected)
    (partition, offset), reason = next(iter(expected.dlq.items()))
    other_reason = "invalid_json" if reason != "invalid_json" else "invalid_field"
    dlq = {**snapshot.dlq, (TOPIC, partition, offset): other_reason, ("api", None, None): "group_not_found"}
    accounting = account(expected, dataclasses.replace(snapshot, dlq=dlq), TOPIC)
    assert (accounting.checks["dlq_entries"].wrong, accounting.checks["dlq_entries"].double) == (1, 1)


def test_duplicates_short_of_their_counter_leave_the_last_copies_unaccounted(firehose: Firehose) -> None:
    expected = expected_from_topic(as_records(firehose.messages), firehose)
    snapshot = perfect_snapshot(expected)
    bucket, copies = max(expected.duplicates.items(), key=lambda item: len(item[1]))
    assert len(copies) >= 2
    drop_key = (*bucket, "duplicate")
    broken = dataclasses.replace(snapshot, drops={**snapshot.drops, drop_key: len(copies) - 2})
    assert account(expected, broken, TOPIC).checks["drop_counters"].lost == 2
    assert unaccounted_offsets(expected, broken, TOPIC) == sorted((*at, "duplicate") for at in copies[-2:])


def test_a_status_change_without_effect_is_lost_and_its_offset_unaccounted(firehose: Firehose) -> None:
    expected = expected_from_topic(as_records(firehose.messages), firehose)
    snapshot = perfect_snapshot(expected)
    coordinates, target = next(iter(expected.status_changes.items()))
    groups = {**snapshot.groups, target.group_key: dataclasses.replace(
        snapshot.groups[target.group_key], status=int(GroupStatus.UNRESOLVED), substatus=int(GroupSubStatus.NEW))}
    broken = dataclasses.replace(snapshot, groups=groups)
    assert account(expected, broken, TOPIC).checks["statuses"].lost == 1
    assert unaccounted_offsets(expected, broken, TOPIC) == [(*coordinates, "status_change")]


def test_a_missing_group_loses_its_whole_times_seen(firehose: Firehose) -> None:
    expected = expected_from_topic(as_records(firehose.messages), firehose)
    snapshot = perfect_snapshot(expected)
    key, group = next((key, group) for key, group in expected.truth.groups.items() if group.times_seen > 1)
    groups = {k: v for k, v in snapshot.groups.items() if k != key}
    accounting = account(expected, dataclasses.replace(snapshot, groups=groups), TOPIC)
    assert accounting.checks["groups"].lost == 1
    assert accounting.checks["times_seen"].lost == group.times_seen


# --- the status changes' place, the fault schedule, recovery ----------------------------------------------------


def test_a_status_change_may_go_only_after_every_message_of_its_key_and_the_lag(firehose: Firehose) -> None:
    plan = plan_status_changes(firehose, lag_messages=50)
    assert len(plan.status_changes) == len(firehose.status_change_messages)
    for after, change in plan.status_changes:
        last = max(index for index, message in enumerate(plan.messages) if message.key == change.key)
        assert after == min(len(plan.messages), last + 1 + 50)


def test_the_default_schedule_kills_every_20_s_and_stops_each_service_once_between_kills() -> None:
    schedule = fault_schedule(seconds=300, workers=3, kill_every=20, restart_after=5, seed=15)
    kills = [fault for fault in schedule if fault.action is Action.KILL]
    assert [fault.at for fault in kills] == [20.0 * k for k in range(1, 15)]
    assert {fault.worker for fault in kills} <= {0, 1, 2}
    assert [(fault.at, fault.action) for fault in schedule if fault.action is not Action.KILL] == [
        (110.0, Action.POSTGRES_STOP), (210.0, Action.BROKER_RESTART)]
    assert schedule == fault_schedule(seconds=300, workers=3, kill_every=20, restart_after=5, seed=15)
    assert schedule != fault_schedule(seconds=300, workers=3, kill_every=20, restart_after=5, seed=16)


def test_a_worker_still_down_is_never_the_next_victim() -> None:
    schedule = fault_schedule(seconds=600, workers=2, kill_every=10, restart_after=15, seed=1)
    kills = [fault for fault in schedule if fault.action is Action.KILL]
    assert all(first.worker != second.worker for first, second in itertools.pairwise(kills))


def test_without_kills_the_services_fail_at_a_third_and_two_thirds_and_can_be_left_alone() -> None:
    schedule = fault_schedule(seconds=120, workers=3, kill_every=0, restart_after=5, seed=1)
    assert [(fault.at, fault.action) for fault in schedule] == [(40.0, Action.POSTGRES_STOP),
                                                               (80.0, Action.BROKER_RESTART)]
    assert fault_schedule(seconds=120, workers=3, kill_every=0, restart_after=5, seed=1, postgres=False,
                          broker=False) == []


def test_the_pipeline_moved_again_at_the_first_commit_or_new_row_after_the_fault() -> None:
    samples = [Sample(9.0, 100, 8.5), Sample(10.0, 110, 9.9), Sample(11.0, None, None), Sample(12.0, 110, 9.9),
               Sample(13.0, 110, 12.5), Sample(14.0, 120, 13.9)]
    assert moved_after(10.5, samples) == 2.5  # the commit at 12.5 s, seen in the sample at 13 s
    assert moved_after(14.5, samples) is None
    assert moved_after(9.5, [Sample(9.0, 100, 8.0), Sample(10.0, 101, 8.0)]) == 0.5
