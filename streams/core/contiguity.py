"""Per-partition contiguity of the offsets a worker is handed (spec §2.4.9): which delivery leaves a hole.

Pure bookkeeping over (topic, partition) and offsets; the Faust sensor that feeds it and acts on what it
finds is streams/agents/holes.py. After a seek, the first offset delivered must be the position sought;
after that, each offset must be the previous one + 1. An offset at or below the previous one is a
redelivery (a seek back): the expectation restarts from it and nothing is wrong.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

# (topic, partition): Faust's TP and aiokafka's TopicPartition are such named tuples, equal and hashed alike.
Partition = tuple[str, int]


class GapPolicy(Enum):
    """What a gap in a topic's offsets can mean."""

    # Written only without transactions (our internal topics under at_least_once): every offset is a record,
    # so every gap is a hole.
    STRICT = "strict"
    # A transactional producer may write here: its commit and abort markers take offsets that no consumer
    # is handed (and aborted records too, for a read_committed consumer). A gap is a hole only if reading the
    # range finds records in it.
    MARKERS = "markers"


@dataclass(frozen=True, slots=True)
class Hole:
    """Offsets [expected, got) of a partition were not delivered; `got` was, next."""

    topic: str
    partition: int
    expected: int
    got: int
    after_seek: bool  # the first delivery after a seek: the range may also have been deleted by retention
    policy: GapPolicy

    def describe(self) -> str:
        return (f"hole in {self.topic} partition {self.partition}: expected offset {self.expected}, "
                f"got offset {self.got}")


@dataclass(frozen=True, slots=True)
class Unanchored:
    """The first delivery of a partition for which no seek was recorded: it becomes the baseline unchecked."""

    topic: str
    partition: int
    offset: int


class ContiguityTracker:
    """The next offset expected per partition of the guarded topics, and the positions last sought.

    `delivered` is called for every record on the hot path: when the record is the one expected it costs one
    dict lookup, one comparison and one store. Topics without a policy are not guarded.
    """

    __slots__ = ("_next", "_policies", "_sought")

    def __init__(self, policies: Mapping[str, GapPolicy]) -> None:
        self._policies = dict(policies)
        self._next: dict[Partition, int] = {}
        # Positions sought but not delivered from yet: kept apart from `_next` so that the first delivery
        # after a seek leaves the fast path and is checked as the baseline.
        self._sought: dict[Partition, int] = {}

    def sought(self, positions: Mapping[Partition, int]) -> None:
        """The consumer was sought: the next delivery of each partition must be at its position."""
        for tp, position in positions.items():
            if tp[0] in self._policies:
                self._next.pop(tp, None)
                self._sought[tp] = position

    def revoke(self, tps: Iterable[Partition]) -> None:
        """Forget partitions no longer ours: when one comes back, its new seek is its baseline."""
        for tp in tps:
            self._next.pop(tp, None)
            self._sought.pop(tp, None)

    def expected(self, tp: Partition) -> int | None:
        """The next offset expected, or the position sought when nothing was delivered since."""
        return self._next.get(tp, self._sought.get(tp))

    def delivered(self, tp: Partition, offset: int) -> Hole | Unanchored | None:
        """Record a delivery; a Hole when offsets were skipped before it, else None (Unanchored: see class)."""
        if self._next.get(tp) == offset:
            self._next[tp] = offset + 1
            return None
        return self._unexpected(tp, offset)

    def _unexpected(self, tp: Partition, offset: int) -> Hole | Unanchored | None:
        policy = self._policies.get(tp[0])
        if policy is None:
            return None
        expected = self._next.get(tp)
        self._next[tp] = offset + 1
        if expected is None:
            sought = self._sought.pop(tp, None)
            if sought is None:
                return Unanchored(tp[0], tp[1], offset)
            if offset > sought:
                return Hole(tp[0], tp[1], sought, offset, after_seek=True, policy=policy)
            return None  # at the position sought (or below it: a redelivery, as below)
        if offset < expected:
            return None  # a redelivery after a seek back: continue from it
        return Hole(tp[0], tp[1], expected, offset, after_seek=False, policy=policy)
