"""Which changes the sink parks and how a failed batch is cut, decided without Postgres (spec §2.4.12)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import psycopg
import pytest
from psycopg import errors

from storage.changes import IngestDrop, decode_change
from storage.errors import MissingGroupRow, is_change_failure, is_transient
from storage.sink_plan import (
    BatchPlan,
    BatchResult,
    ChangeFailure,
    ChangeRecord,
    Coordinates,
    ParkedChange,
    PersistedGroup,
    contiguous,
    halves,
    merged,
    set_aside,
)
from storage.sink_writer import change_failure, write_or_park
from tests.unit.storage.test_sink_plan import group_change

KEY_A = "1:" + "a" * 32
KEY_B = "1:" + "b" * 32
FAILURE = ChangeFailure(error="CheckViolation: new row violates check constraint", sqlstate="23514", attempts=2)


def change(partition: int, offset: int, key: str = KEY_A) -> ChangeRecord:
    return ChangeRecord(partition, offset, IngestDrop(outcome="ingest_disabled", t=1.0, group_key=key, project_id=1,
                                                       type_id=2001, id=f"{partition}-{offset}"))


def coordinates(found: list[ChangeRecord]) -> list[tuple[int, int]]:
    return [(record.partition, record.offset) for record in found]


def parked(result: BatchResult) -> list[tuple[int, int, int | None, bool]]:
    """(partition, offset, behind, failed itself) of each parked change."""
    return [(p.record.partition, p.record.offset, p.behind, p.failure is not None) for p in result.parked]


def continuing(batch: list[ChangeRecord], applied_up_to: dict[int, int] | None = None) -> BatchResult:
    return contiguous(batch, applied_up_to or {}, gapless=True)


# ---------------------------------------------------------------------------------------------- set_aside

def test_a_change_that_failed_alone_is_parked_and_its_keys_later_changes_wait_behind_it() -> None:
    batch = [change(0, 0, KEY_A), change(0, 1, KEY_A), change(0, 2, KEY_B), change(0, 3, KEY_A), change(0, 4, KEY_B)]
    result = continuing(batch)
    set_aside(result, {(0, 1): FAILURE}, {})
    assert coordinates(result.applied) == [(0, 0), (0, 2), (0, 4)]  # before it, and other keys: applied
    assert parked(result) == [(0, 1, None, True), (0, 3, 1, False)]
    assert result.parked[0].failure == FAILURE
    assert result.through == {0: 4}  # parked offsets are done for the partition: it moves on


def test_the_same_key_in_another_partition_does_not_wait() -> None:
    result = continuing([change(0, 0, KEY_A), change(1, 0, KEY_A), change(0, 1, KEY_A)])
    set_aside(result, {(0, 0): FAILURE}, {})
    assert coordinates(result.applied) == [(1, 0)]
    assert parked(result) == [(0, 0, None, True), (0, 1, 0, False)]


def test_a_key_parked_in_an_earlier_batch_parks_every_change_of_it_behind_its_first_parked_offset() -> None:
    result = continuing([change(0, 10, KEY_A), change(0, 11, KEY_B), change(0, 12, KEY_A)], {0: 9})
    set_aside(result, {}, {(0, KEY_A): 4})
    assert coordinates(result.applied) == [(0, 11)]
    assert parked(result) == [(0, 10, 4, False), (0, 12, 4, False)]


def test_a_parked_change_read_again_is_neither_applied_nor_forwarded_but_one_applied_before_it_is() -> None:
    # Offsets 2 (applied before KEY_A's trouble) and 5 (parked) are read again after a rebalance.
    result = continuing([change(0, 2, KEY_A), change(0, 5, KEY_A), change(0, 6, KEY_B)], {0: 5})
    set_aside(result, {}, {(0, KEY_A): 4})
    assert coordinates(result.skipped) == [(0, 2)]
    assert coordinates(result.still_parked) == [(0, 5)]
    assert coordinates(result.applied) == [(0, 6)]
    assert result.parked == []


def test_nothing_failed_and_nothing_waits_leaves_the_batch_as_it_was() -> None:
    batch = [change(0, 0), change(0, 1, KEY_B)]
    result = continuing(batch)
    set_aside(result, {}, {})
    assert coordinates(result.applied) == [(0, 0), (0, 1)]
    assert result.parked == [] and result.still_parked == []


def test_a_parked_row_keeps_the_changes_wire_form_and_says_what_it_waits_for() -> None:
    failed = ParkedChange(change(3, 7), FAILURE, None)
    waiting = ParkedChange(change(3, 9), None, 7)
    partition, offset, key, wire, behind, error, sqlstate, attempts, change_id = failed.row()
    assert (partition, offset, key, behind, sqlstate, attempts) == (3, 7, KEY_A, None, "23514", 2)
    assert decode_change(wire) == change(3, 7).change
    assert error == FAILURE.error
    assert change_id is None  # a change without an output id (spec §2.4.7)
    assert waiting.row()[4:] == (7, "waits behind the parked change at offset 7", None, 0, None)


# ------------------------------------------------------------------------------------ cutting a failed batch

def test_halves_keep_each_partitions_earlier_offsets_in_the_first_half() -> None:
    batch = [change(1, 5), change(0, 3), change(1, 4), change(0, 2)]  # as a consumer may interleave them
    first, second = halves(batch)
    assert coordinates(first) == [(0, 2), (0, 3)]
    assert coordinates(second) == [(1, 4), (1, 5)]
    assert [coordinates(h) for h in halves([change(0, 1), change(0, 2), change(0, 3)])] == [[(0, 1)], [(0, 2), (0, 3)]]


def test_parts_written_in_turn_merge_into_one_result() -> None:
    first = BatchResult(applied=[change(0, 1)], through={0: 1, 1: 8}, groups={("k", 0): PersistedGroup(1, 1, "p1")})
    second = BatchResult(applied=[change(0, 3)], parked=[ParkedChange(change(0, 2), FAILURE, None)],
                         skipped=[change(1, 8)], through={0: 3}, holes={1: 9}, deferred=[change(1, 10)])
    third = BatchResult(holes={1: 9, 2: 0}, deferred=[change(1, 11), change(2, 4)])
    total = merged([first, second, third])
    assert coordinates(total.applied) == [(0, 1), (0, 3)]
    assert [p.record.offset for p in total.parked] == [2]
    assert coordinates(total.skipped) == [(1, 8)]
    assert total.through == {0: 3, 1: 8}
    assert total.holes == {1: 9, 2: 0}
    assert coordinates(total.deferred) == [(1, 10), (1, 11), (2, 4)]
    assert total.groups == {("k", 0): PersistedGroup(1, 1, "p1")}


class FakeSink:
    """write_batch's decisions over an in-memory partition: a transaction holding a `bad` change fails."""

    def __init__(self, bad: set[Coordinates], *, fails_only_once: bool = False, fail_together: bool = False) -> None:
        self.bad = bad
        self.fails_only_once = fails_only_once
        self.fail_together = fail_together  # the bad changes fail only when written in one transaction
        self.applied_up_to: dict[int, int] = {}
        self.waiting: dict[tuple[int, str], int] = {}
        self.applied: list[tuple[int, int]] = []
        self.parked: list[ParkedChange] = []
        self.transactions: list[list[tuple[int, int]]] = []

    async def write(self, changes: Sequence[ChangeRecord], failed: Mapping[Coordinates, ChangeFailure]) -> BatchResult:
        self.transactions.append(coordinates(list(changes)))
        result = contiguous(changes, self.applied_up_to, gapless=True)
        set_aside(result, failed, self.waiting)
        bad = [c for c in coordinates(result.applied) if c in self.bad]
        if bad and (not self.fail_together or len(bad) == len(self.bad)):
            if self.fails_only_once:
                self.bad -= set(bad)
            raise errors.CheckViolation('new row for relation "groups" violates check constraint')
        for change in result.parked:  # committed
            self.waiting.setdefault((change.record.partition, change.record.change.group_key), change.record.offset)
        self.applied_up_to.update(result.through)
        self.applied += coordinates(result.applied)
        self.parked += result.parked
        return result


async def test_a_bad_change_is_found_by_halves_parked_and_everything_else_of_the_batch_applied() -> None:
    keys = [KEY_A, KEY_B, KEY_B, KEY_A, KEY_B, KEY_A, KEY_B, KEY_B]  # offset 3 is bad; 5 is KEY_A too
    batch = [change(0, offset, key) for offset, key in enumerate(keys)]
    sink = FakeSink(bad={(0, 3)})
    result = await write_or_park(sink.write, batch)
    assert sink.applied == [(0, 0), (0, 1), (0, 2), (0, 4), (0, 6), (0, 7)]  # in offset order
    assert parked(result) == [(0, 3, None, True), (0, 5, 3, False)]
    assert result.parked[0].failure is not None and result.parked[0].failure.attempts == 2
    assert result.parked[0].failure.sqlstate == "23514"
    assert result.through == {0: 7}
    assert sink.transactions == [
        [(0, o) for o in range(8)],  # the batch: fails
        [(0, 0), (0, 1), (0, 2), (0, 3)],  # first half: fails
        [(0, 0), (0, 1)],  # applied
        [(0, 2), (0, 3)],  # fails
        [(0, 2)],  # applied
        [(0, 3)],  # fails alone
        [(0, 3)],  # once more alone: fails again
        [(0, 3)],  # parked, with nothing else
        [(0, 4), (0, 5), (0, 6), (0, 7)],  # second half: 5 waits behind 3, the rest applied
    ]


async def test_a_change_that_fails_alone_once_but_not_twice_is_applied_not_parked() -> None:
    sink = FakeSink(bad={(0, 1)}, fails_only_once=True)
    result = await write_or_park(sink.write, [change(0, 0), change(0, 1)])
    assert sink.applied == [(0, 0), (0, 1)]
    assert result.parked == []


async def test_a_single_change_batch_is_tried_alone_twice_then_parked() -> None:
    sink = FakeSink(bad={(0, 0)})
    result = await write_or_park(sink.write, [change(0, 0)])
    assert sink.transactions == [[(0, 0)]] * 3
    assert parked(result) == [(0, 0, None, True)]


async def test_changes_that_fail_only_together_are_applied_in_parts_and_nothing_is_parked() -> None:
    sink = FakeSink(bad={(0, 0), (0, 3)}, fail_together=True)
    result = await write_or_park(sink.write, [change(0, o, KEY_A if o % 2 else KEY_B) for o in range(4)])
    assert sink.applied == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert result.parked == []


async def test_changes_of_a_key_waiting_since_an_earlier_batch_are_parked_without_a_failure() -> None:
    sink = FakeSink(bad=set())
    sink.waiting = {(0, KEY_A): 2}
    sink.applied_up_to = {0: 4}
    result = await write_or_park(sink.write, [change(0, 5, KEY_A), change(0, 6, KEY_B)])
    assert sink.transactions == [[(0, 5), (0, 6)]]
    assert parked(result) == [(0, 5, 2, False)]
    assert sink.applied == [(0, 6)]


async def test_a_transient_failure_is_not_split_but_left_to_the_callers_retry() -> None:
    async def lost_connection(changes: Sequence[ChangeRecord], failed: Mapping[Coordinates, ChangeFailure]) -> BatchResult:
        raise errors.AdminShutdown("terminating connection due to administrator command")

    with pytest.raises(errors.AdminShutdown):
        await write_or_park(lost_connection, [change(0, 0), change(0, 1)])


def test_a_group_without_a_row_after_the_upsert_is_named() -> None:
    plan = BatchPlan([ChangeRecord(0, 0, group_change(KEY_A)), ChangeRecord(0, 1, group_change(KEY_B))])
    assert plan.missing_groups({(KEY_A, 0): PersistedGroup(1, 1, "p1")}) == [(KEY_B, 0)]


# ------------------------------------------------------------------------------------ which failures park

@pytest.mark.parametrize("error", [
    errors.CheckViolation("new row violates check constraint"),  # 23: constraint violation
    errors.ForeignKeyViolation("violates foreign key constraint"),
    errors.UniqueViolation("duplicate key value"),
    errors.UntranslatableCharacter("unsupported Unicode escape sequence"),  # 22: data exception
    errors.NumericValueOutOfRange("integer out of range"),
    errors.ProgramLimitExceeded("total size of jsonb array elements exceeds the maximum"),  # 54
    MissingGroupRow("no group row for 1:aaaa generation 0"),
    psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),  # psycopg's own
])
def test_a_failure_of_the_changes_themselves_parks(error: BaseException) -> None:
    assert is_change_failure(error)


@pytest.mark.parametrize("error", [
    errors.SerializationFailure("could not serialize access"),  # transient: retried with backoff
    errors.DeadlockDetected("deadlock detected"),
    errors.AdminShutdown("terminating connection due to administrator command"),
    errors.LockNotAvailable("could not obtain lock"),
    psycopg.OperationalError("connection lost"),
    errors.UndefinedColumn('column "x" does not exist'),  # the sink's own SQL: every change would fail
    errors.InsufficientPrivilege("permission denied for table groups"),
    errors.InternalError_("cache lookup failed"),
    KeyError("project_id"),  # a bug in our code, not a database refusal
])
def test_transient_failures_and_the_sinks_own_faults_never_park(error: BaseException) -> None:
    assert not is_change_failure(error)


@pytest.mark.parametrize("error", [
    errors.InvalidPassword("password authentication failed"),  # 28: waiting will not fix it
    errors.InvalidAuthorizationSpecification("role does not exist"),
    errors.UndefinedTable('relation "groups" does not exist'),
    errors.CheckViolation("new row violates check constraint"),
    errors.QueryCanceled("canceling statement due to statement timeout"),  # 57014 stays transient: below
])
def test_only_transient_failures_are_retried_in_place(error: BaseException) -> None:
    """The one rule of storage.errors: what retry_transient retries is exactly what the sink never parks."""
    expected = type(error) is errors.QueryCanceled
    assert is_transient(error) is expected


def test_a_failure_is_kept_as_one_bounded_line_with_its_sqlstate() -> None:
    failure = change_failure(errors.CheckViolation("new row violates\ncheck constraint\x00" + "x" * 5000), 2)
    assert failure.sqlstate == "23514" and failure.attempts == 2
    assert failure.error.startswith("CheckViolation: new row violates check constraint\\0")
    assert "\n" not in failure.error and "\x00" not in failure.error
    assert len(failure.error) == 2000
