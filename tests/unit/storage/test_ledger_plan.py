"""The ledger's arithmetic (spec §2.4.13): merged ranges, double outcomes, and what an offset without one is."""
from __future__ import annotations

from storage.ledger import offset_ranges
from storage.ledger_plan import LISTED_OFFSETS, audit_partition, gaps, merge


def test_a_batch_records_runs_of_consecutive_offsets_and_keeps_a_repeated_one_apart() -> None:
    records = [("in", 0, 5), ("in", 0, 3), ("in", 0, 4), ("in", 1, 4), ("in", 0, 9), ("in", 0, 9)]
    assert offset_ranges(records) == [("in", 0, 3, 5), ("in", 0, 9, 9), ("in", 0, 9, 9), ("in", 1, 4, 4)]


def test_merging_joins_adjacent_ranges_and_reports_overlaps_as_double_outcomes() -> None:
    covered, doubles = merge([(5, 9), (0, 4), (12, 12), (8, 10), (9, 9), (20, 25)])
    assert covered == [(0, 10), (12, 12), (20, 25)]
    assert doubles == [(8, 9)]
    assert merge([]) == ([], [])


def test_gaps_are_the_offsets_left_out_between_start_and_end() -> None:
    assert gaps([(0, 4), (7, 9), (15, 20)], 2, 17) == [(5, 6), (10, 14)]
    assert gaps([], 3, 6) == [(3, 5)]
    assert gaps([(0, 9)], 0, 10) == []


def test_every_offset_without_an_outcome_is_in_flight_expired_unaccounted_or_parked() -> None:
    audit = audit_partition(topic="in", partition=0, covered=[(0, 9), (12, 19), (25, 29)], doubles=[],
                            start=0, committed=35, log_start=11, settled=27, parked=[22])
    # 10, 11: below settled; 10 deleted by retention (expired), 11 unaccounted. 20-24 below settled:
    # unaccounted but 22 (parked). 30-34 committed past since the settled mark: in flight.
    assert audit.expired_count == 1
    assert (audit.unaccounted, audit.unaccounted_count) == ([11, 20, 21, 23, 24], 5)
    assert audit.in_flight == 5 and audit.parked == [22]
    assert audit.accounted_count == 23 and not audit.ok
    clean = audit_partition(topic="in", partition=0, covered=[(0, 9)], doubles=[], start=0, committed=10,
                            log_start=0, settled=10)
    assert clean.ok and clean.in_flight == 0 and clean.unaccounted_count == 0


def test_a_double_outcome_or_a_lost_offset_fails_the_audit_and_uncommitted_offsets_are_not_looked_at() -> None:
    assert not audit_partition(topic="in", partition=0, covered=[(0, 9)], doubles=[(3, 3)], start=0, committed=10,
                               log_start=0, settled=10).ok
    assert not audit_partition(topic="in", partition=0, covered=[(0, 9)], doubles=[], start=0, committed=10,
                               log_start=0, settled=10, lost=[4]).ok
    assert audit_partition(topic="in", partition=0, covered=[], doubles=[], start=0, committed=None, log_start=0,
                           settled=0).ok


def test_a_huge_gap_is_counted_without_listing_every_offset() -> None:
    audit = audit_partition(topic="in", partition=0, covered=[], doubles=[], start=0, committed=10_000_000,
                            log_start=0, settled=10_000_000)
    assert audit.unaccounted_count == 10_000_000 and len(audit.unaccounted) == LISTED_OFFSETS
