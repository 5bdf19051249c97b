"""Whether an input topic's offsets went backwards (a recreated topic), and the name its inputs are recorded under.

Spec §2.4.10: every key state remembers, per input partition ("topic:partition"), the highest input offset
it applied, so a topic deleted and created again, whose offsets start at 0 again, would have its records
skipped as read before. A worker refuses to start instead. The highest end offset seen per partition (a
"mark") is compared with the partition's end offset now: while the topic is the same, an end offset never
goes down (retention removes records from the start, never the offsets), so an end below its mark means
another topic of the same name.

An operator who recreated the topic on purpose accepts it (`issue-platform migrate
--accept-new-input-topic`): the topic's incarnation goes up, and its inputs are recorded under
"{topic}#{incarnation}". The old watermarks then match nothing, and the ids derived from the coordinates
(spec §2.4.1: DLQ ids, counted drops, status-change ids) differ from the old topic's. Kafka topic names never
hold '#', so the name cannot be taken for a real topic's.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ACCEPT_OPTION = "--accept-new-input-topic"
INCARNATION_SEPARATOR = "#"
# Partitions named in one line before the rest are only counted: a refusal stays one readable line.
LISTED_PARTITIONS = 6


@dataclass(frozen=True, order=True)
class Backwards:
    """A partition whose end offset is below the highest one seen on it."""

    partition: int
    end: int  # the end offset now (0 for a partition the topic no longer has)
    mark: int  # the highest end offset seen before


def went_backwards(marks: Mapping[int, int], ends: Mapping[int, int]) -> list[Backwards]:
    """Every partition whose end offset is below its mark, in partition order. A partition missing from
    `ends` (the topic has fewer partitions now) counts as empty; one without a mark is new, never backwards."""
    return sorted(Backwards(partition, ends.get(partition, 0), mark)
                  for partition, mark in marks.items() if ends.get(partition, 0) < mark)


def raised_marks(marks: Mapping[int, int], ends: Mapping[int, int]) -> dict[int, int]:
    """The marks once `ends` are seen: each the higher of the two."""
    raised = dict(marks)
    for partition, end in ends.items():
        raised[partition] = max(end, raised.get(partition, end))
    return raised


def recorded_topic(topic: str, incarnation: int) -> str:
    """The topic name the inputs of this incarnation are recorded under (coordinates, watermarks, ids)."""
    return topic if incarnation == 0 else f"{topic}{INCARNATION_SEPARATOR}{incarnation}"


def parse_recorded_topic(recorded: str) -> tuple[str, int]:
    """(topic, incarnation) of a name `recorded_topic` made."""
    topic, separator, incarnation = recorded.rpartition(INCARNATION_SEPARATOR)
    if not separator or not incarnation.isdigit():
        return recorded, 0
    return topic, int(incarnation)


def describe_backwards(backwards: list[Backwards]) -> str:
    """"partition 0 ends at offset 3, 41 recorded; partition 4 ends at offset 0, 17 recorded", the first few."""
    shown = [f"partition {item.partition} ends at offset {item.end}, {item.mark} recorded"
             for item in backwards[:LISTED_PARTITIONS]]
    if len(backwards) > LISTED_PARTITIONS:
        shown.append(f"{len(backwards) - LISTED_PARTITIONS} more partition(s) likewise")
    return "; ".join(shown)


def backwards_line(topic: str, backwards: list[Backwards]) -> str:
    """One line: the topic, what was found versus recorded, why it matters, and how to go on."""
    return (f"the offsets of input topic {topic} went backwards ({describe_backwards(backwards)} in PostgreSQL): "
            "it was deleted and created again, and its records would be skipped as read before (spec §2.4.10); "
            f"if the new topic is meant, run `issue-platform migrate {ACCEPT_OPTION}` with every worker stopped, "
            "then start them")
