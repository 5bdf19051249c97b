"""Which delivery leaves a hole (spec §2.4.9): baseline after a seek, gaps, redeliveries, revocation."""
from __future__ import annotations

from streams.core.contiguity import ContiguityTracker, GapPolicy, Hole, Unanchored

GROUPING = "p.issue-platform-grouping"
INGEST = "p.ingest-occurrences"
P0, P1 = (GROUPING, 0), (GROUPING, 1)


def tracker() -> ContiguityTracker:
    return ContiguityTracker({GROUPING: GapPolicy.STRICT, INGEST: GapPolicy.MARKERS})


def deliver(guard: ContiguityTracker, tp: tuple[str, int], offsets: list[int]) -> list[Hole | Unanchored | None]:
    return [guard.delivered(tp, offset) for offset in offsets]


def test_deliveries_from_the_position_sought_without_a_gap_find_nothing() -> None:
    guard = tracker()
    guard.sought({P0: 10, P1: 0})
    assert deliver(guard, P0, [10, 11, 12, 13]) == [None] * 4
    assert deliver(guard, P1, [0, 1, 2]) == [None] * 3
    assert guard.expected(P0) == 14


def test_a_first_delivery_past_the_position_sought_is_a_hole_after_the_seek() -> None:
    guard = tracker()
    guard.sought({P0: 10})
    assert deliver(guard, P0, [13, 14]) == [
        Hole(GROUPING, 0, expected=10, got=13, after_seek=True, policy=GapPolicy.STRICT), None]


def test_a_skipped_offset_mid_stream_is_a_hole_once_and_the_partition_continues_after_it() -> None:
    guard = tracker()
    guard.sought({P0: 0})
    assert deliver(guard, P0, [0, 1, 3, 4, 5, 9]) == [
        None, None,
        Hole(GROUPING, 0, expected=2, got=3, after_seek=False, policy=GapPolicy.STRICT),
        None, None,
        Hole(GROUPING, 0, expected=6, got=9, after_seek=False, policy=GapPolicy.STRICT),
    ]


def test_the_policy_of_the_topic_travels_with_the_hole() -> None:
    guard = tracker()
    guard.sought({(INGEST, 2): 5})
    [hole] = [h for h in deliver(guard, (INGEST, 2), [5, 7]) if h is not None]
    assert hole == Hole(INGEST, 2, expected=6, got=7, after_seek=False, policy=GapPolicy.MARKERS)
    assert hole.describe() == f"hole in {INGEST} partition 2: expected offset 6, got offset 7"


def test_a_redelivery_at_or_below_the_last_offset_restarts_the_expectation_without_a_hole() -> None:
    guard = tracker()
    guard.sought({P0: 0})
    # Faust seeks back and hands 3 and 4 again: then 5 follows, 6 would be a hole.
    assert deliver(guard, P0, [0, 1, 2, 3, 4, 3, 4, 5]) == [None] * 8
    assert deliver(guard, P0, [1, 2]) == [None, None]
    assert guard.delivered(P0, 4) == Hole(GROUPING, 0, expected=3, got=4, after_seek=False, policy=GapPolicy.STRICT)


def test_a_new_seek_replaces_the_running_expectation() -> None:
    guard = tracker()
    guard.sought({P0: 0})
    assert deliver(guard, P0, [0, 1, 2, 3]) == [None] * 4
    guard.sought({P0: 2})  # a seek back to the committed offset: 2 is next, not 4
    assert deliver(guard, P0, [2, 3, 4]) == [None] * 3
    guard.sought({P0: 20})  # committed ahead by another worker meanwhile
    assert guard.delivered(P0, 21) == Hole(GROUPING, 0, expected=20, got=21, after_seek=True,
                                            policy=GapPolicy.STRICT)


def test_a_revoked_partition_assigned_again_starts_from_its_new_baseline() -> None:
    guard = tracker()
    guard.sought({P0: 0, P1: 0})
    assert deliver(guard, P0, [0, 1, 2]) == [None] * 3
    guard.revoke([P0, P1])
    assert guard.expected(P0) is None and guard.expected(P1) is None
    guard.sought({P0: 40})  # another worker processed 3-39 meanwhile
    assert deliver(guard, P0, [40, 41]) == [None, None]


def test_a_partition_revoked_before_its_seek_was_delivered_from_forgets_the_position() -> None:
    guard = tracker()
    guard.sought({P0: 7})
    guard.revoke([P0])
    assert guard.delivered(P0, 9) == Unanchored(GROUPING, 0, 9)


def test_without_a_recorded_seek_the_first_delivery_is_taken_as_the_baseline_and_said_so() -> None:
    guard = tracker()
    assert deliver(guard, P0, [5, 6, 8]) == [
        Unanchored(GROUPING, 0, 5), None,
        Hole(GROUPING, 0, expected=7, got=8, after_seek=False, policy=GapPolicy.STRICT)]


def test_topics_without_a_policy_are_not_guarded() -> None:
    guard = tracker()
    other = ("p.issue-platform-options", 0)
    guard.sought({other: 0})  # the seek covers every input partition; unguarded ones are ignored
    assert deliver(guard, other, [3, 9, 2]) == [None] * 3
    assert guard.expected(other) is None
