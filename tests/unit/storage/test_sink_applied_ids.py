"""A change id is applied at most once (spec §2.4.7): which changes the sink records, skips and forwards, decided
without Postgres (storage.sink_plan step 1b), and the output id and cause on the group-changes wire."""
from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from storage.changes import (
    Change,
    CountedDrop,
    GrouplessOccurrence,
    IngestDrop,
    QuotaRefusal,
    StatusChange,
    decode_change,
    encode_change,
)
from storage.sink_plan import (
    BatchResult,
    ChangeFailure,
    ChangeRecord,
    contiguous,
    drop_repeated_outputs,
    merged,
    output_ids,
    set_aside,
)
from tests.unit.storage.test_sink_plan import HOUR, KEY, group_change, group_state

FAILURE = ChangeFailure(error="CheckViolation", sqlstate="23514", attempts=2)


def output_id(n: int) -> str:
    return f"{n:032x}"


def identified(change: Change, n: int, cause: tuple[int, int] = (3, 100)) -> Change:
    """`change` as the grouping owner sends it: under its output id, with the grouping message that caused it."""
    return replace(change, change_id=output_id(n), cause=cause)


def duplicate(occurrence_id: str = "o9") -> CountedDrop:
    # No count id: only the change id can tell a copy from a second duplicate.
    return CountedDrop(outcome="duplicate", t=HOUR, group_key=KEY, project_id=1, type_id=2001, id=occurrence_id,
                       count_id=None)


def at(first_offset: int, *changes: Change, partition: int = 0) -> list[ChangeRecord]:
    return [ChangeRecord(partition, first_offset + index, change) for index, change in enumerate(changes)]


def offsets(found: list[ChangeRecord]) -> list[int]:
    return [record.offset for record in found]


def continuing(records: list[ChangeRecord], applied_up_to: int) -> BatchResult:
    return contiguous(records, {0: applied_up_to}, gapless=True)


# ------------------------------------------------------------------------------------------ 1b. which ids

def test_each_id_of_the_continuing_changes_is_recorded_once_with_its_cause() -> None:
    batch = at(5, identified(group_change(), 1, (3, 100)), group_change(occurrence_id="o2"),
               identified(duplicate(), 2, (3, 101)), identified(group_change(), 1, (3, 100)))
    result = continuing(batch, 4)
    assert output_ids(result.applied) == [(output_id(1), 3, 100), (output_id(2), 3, 101)]


def test_a_change_whose_id_was_applied_before_is_skipped_and_its_offset_is_done() -> None:
    first, copy = identified(group_change(), 1), identified(duplicate(), 2)
    result = continuing(at(5, first, copy, group_change(occurrence_id="o2")), 4)
    drop_repeated_outputs(result, recorded_now={output_id(1)})  # id 2 was recorded by an earlier batch
    assert offsets(result.applied) == [5, 7]
    assert offsets(result.skipped) == [6] and offsets(result.repeated) == [6]
    assert result.through == {0: 7}


def test_of_two_copies_of_one_id_in_a_batch_the_first_in_offset_order_is_applied() -> None:
    change = identified(group_change(), 1)
    result = continuing(at(5, change, group_change(occurrence_id="o2"), change), 4)
    drop_repeated_outputs(result, recorded_now={output_id(1)})
    assert offsets(result.applied) == [5, 6]
    assert offsets(result.repeated) == [7]


def test_changes_without_an_id_are_left_to_the_checks_they_always_had() -> None:
    result = continuing(at(5, group_change(), duplicate(), group_change()), 4)
    assert output_ids(result.applied) == []
    drop_repeated_outputs(result, recorded_now=set())
    assert offsets(result.applied) == [5, 6, 7] and result.skipped == [] and result.repeated == []


def test_a_parked_changes_id_is_not_recorded_until_it_is_applied() -> None:
    failing, behind = identified(group_change(), 1), identified(group_change(occurrence_id="o2"), 2)
    other_key = "1:" + "e" * 32
    elsewhere = identified(replace(group_change(other_key), group=group_state(other_key)), 3)
    result = continuing(at(5, failing, elsewhere, behind), 4)
    set_aside(result, {(0, 5): FAILURE}, {})
    assert output_ids(result.applied) == [(output_id(3), 3, 100)]
    assert [parked.row()[-1] for parked in result.parked] == [output_id(1), output_id(2)]  # kept with the row
    # The retry applies the parked ones in offset order (storage.sink_writer.retry_parked): recorded then.
    retried = BatchResult(applied=[parked.record for parked in result.parked])
    assert output_ids(retried.applied) == [(output_id(1), 3, 100), (output_id(2), 3, 100)]


def test_a_copy_under_an_id_applied_before_is_not_forwarded_but_a_change_read_again_is() -> None:
    result = continuing(at(4, group_change(), identified(group_change(occurrence_id="o2"), 1),
                           group_change(occurrence_id="o3")), 4)  # offset 4 was applied by an earlier batch
    drop_repeated_outputs(result, recorded_now=set())
    assert offsets(result.skipped) == [4, 5]
    # Read again at its own offset: forwarded again with the same ids (spec §2.3.4); the copy: its original was.
    assert offsets(result.forwarded()) == [4, 6]


def test_repeated_changes_of_parts_written_in_turn_are_merged() -> None:
    first = BatchResult(applied=at(1, group_change()), skipped=at(2, group_change()), repeated=at(2, group_change()))
    second = BatchResult(skipped=at(3, group_change()), repeated=at(3, group_change()))
    total = merged([first, second])
    assert offsets(total.repeated) == [2, 3] and offsets(total.skipped) == [2, 3]
    assert offsets(total.forwarded()) == [1]


# ------------------------------------------------------------------------------------------ the wire form

def every_kind() -> list[Change]:
    return [
        group_change(),
        StatusChange(outcome="resolved", t=HOUR, group_key=KEY, project_id=1, group=group_state(), cause_id="c"),
        GrouplessOccurrence(outcome="held_back", t=HOUR, group_key=KEY, project_id=1, type_id=1008, id="h",
                            occurrence={"project_id": 1, "id": "h"}, replay=True),
        replace(duplicate(), count_id="duplicate:k@7"),
        IngestDrop(outcome="ingest_disabled", t=HOUR, group_key=KEY, project_id=1, type_id=2001, id="9" * 32),
        QuotaRefusal(t=HOUR, group_key=KEY, project_id=1, type_id=2001, ids=("w",)),
    ]


@pytest.mark.parametrize("change", every_kind(), ids=lambda change: type(change).__name__)
def test_an_output_id_and_its_cause_come_back_from_the_wire_and_are_its_last_keys(change: Change) -> None:
    sent = identified(change, 0xABC, (7, 12_345))
    wire = encode_change(sent)
    assert decode_change(wire) == sent
    assert encode_change(decode_change(wire)) == wire
    keys = list(orjson.loads(wire))
    assert keys[-2:] == ["change_id", "cause"]
    assert orjson.loads(wire)["cause"] == [7, 12_345]
    assert orjson.loads(wire)["change_id"] == output_id(0xABC)
    if isinstance(change, (GrouplessOccurrence, CountedDrop, IngestDrop)):
        assert orjson.loads(wire)["id"] == change.id  # the occurrence or drop id stays as it was


@pytest.mark.parametrize("change", every_kind(), ids=lambda change: type(change).__name__)
def test_a_change_without_an_output_id_keeps_its_wire_form(change: Change) -> None:
    wire = change.to_wire()
    assert "change_id" not in wire and "cause" not in wire
    decoded = decode_change(orjson.dumps(wire))
    assert decoded.change_id is None and decoded.cause is None
    assert encode_change(decoded) == orjson.dumps(wire)


@pytest.mark.parametrize(("change_id", "cause"), [
    (output_id(1), None),  # an id the sink could never prune
    (None, (0, 1)),
    ("ABC" + "0" * 29, (0, 1)),  # not lowercase hex
    (output_id(1) + "0", (0, 1)),
    ("uuid5-" + "0" * 26, (0, 1)),
])
def test_an_output_id_is_32_lowercase_hex_and_comes_with_its_cause(change_id: str | None,
                                                                    cause: tuple[int, int] | None) -> None:
    with pytest.raises(ValueError):
        replace(duplicate(), change_id=change_id, cause=cause)


def test_a_wire_id_without_its_cause_is_refused() -> None:
    wire = identified(duplicate(), 1).to_wire()
    del wire["cause"]
    with pytest.raises(ValueError):
        decode_change(orjson.dumps(wire))
