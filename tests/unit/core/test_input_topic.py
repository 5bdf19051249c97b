"""A recreated input topic is told by its end offsets going below the highest seen (spec §2.4.10)."""
from __future__ import annotations

from streams.core.input_topic import (
    Backwards,
    backwards_line,
    parse_recorded_topic,
    raised_marks,
    recorded_topic,
    went_backwards,
)


def test_a_topic_that_only_grew_did_not_go_backwards() -> None:
    assert went_backwards({0: 41, 1: 0, 2: 7}, {0: 41, 1: 3, 2: 9}) == []


def test_an_end_offset_below_its_mark_is_reported_with_both() -> None:
    assert went_backwards({0: 41, 1: 5, 2: 7}, {0: 0, 1: 5, 2: 3}) == [Backwards(0, 0, 41), Backwards(2, 3, 7)]


def test_a_partition_the_topic_no_longer_has_counts_as_empty() -> None:
    assert went_backwards({0: 4, 1: 9}, {0: 4}) == [Backwards(1, 0, 9)]
    assert went_backwards({0: 0}, {}) == []  # nothing was ever written there: nothing to lose


def test_nothing_recorded_yet_and_new_partitions_are_never_backwards() -> None:
    assert went_backwards({}, {0: 0, 1: 12}) == []
    assert went_backwards({0: 3}, {0: 3, 1: 0, 2: 0}) == []


def test_marks_only_go_up() -> None:
    assert raised_marks({0: 41, 1: 5}, {0: 40, 1: 6, 2: 0}) == {0: 41, 1: 6, 2: 0}
    assert raised_marks({}, {0: 3}) == {0: 3}


def test_the_first_incarnation_is_recorded_under_the_topic_itself_and_later_ones_apart() -> None:
    assert recorded_topic("p.ingest-occurrences", 0) == "p.ingest-occurrences"
    assert recorded_topic("p.ingest-occurrences", 2) == "p.ingest-occurrences#2"
    for incarnation in (0, 1, 17):
        assert parse_recorded_topic(recorded_topic("p.ingest-occurrences", incarnation)) == (
            "p.ingest-occurrences", incarnation)
    assert parse_recorded_topic("odd#name") == ("odd#name", 0)  # not ours: taken as it is


def test_the_refusal_is_one_line_naming_the_topic_what_was_found_and_recorded_and_the_way_on() -> None:
    line = backwards_line("p.ingest-occurrences", [Backwards(0, 0, 41), Backwards(3, 2, 7)])
    assert "\n" not in line
    assert line.startswith("the offsets of input topic p.ingest-occurrences went backwards (partition 0 ends at "
                           "offset 0, 41 recorded; partition 3 ends at offset 2, 7 recorded in PostgreSQL)")
    assert "`issue-platform migrate --accept-new-input-topic`" in line


def test_a_refusal_over_many_partitions_names_the_first_few_and_counts_the_rest() -> None:
    line = backwards_line("in", [Backwards(partition, 0, 10) for partition in range(12)])
    assert "partition 5 ends" in line and "partition 6 ends" not in line
    assert "6 more partition(s) likewise" in line
