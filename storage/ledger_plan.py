"""What the ledger says about one input partition (spec §2.4.13), decided without a database: merging the
writers' ranges, finding offsets with two outcomes, and sorting every offset without one into in flight,
unaccounted or expired."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Span = tuple[int, int]  # first and last offset, both included

# Unaccounted offsets listed one by one per partition; the count says how many there are in all.
LISTED_OFFSETS = 1000


def merge(spans: Iterable[Span]) -> tuple[list[Span], list[Span]]:
    """(the offsets covered, as disjoint spans in order; the offsets covered more than once, likewise)."""
    covered: list[list[int]] = []
    doubles: list[list[int]] = []
    for first, last in sorted(spans):
        if covered and first <= covered[-1][1]:
            _add(doubles, first, min(last, covered[-1][1]))
            covered[-1][1] = max(covered[-1][1], last)
        elif covered and first == covered[-1][1] + 1:
            covered[-1][1] = last
        else:
            covered.append([first, last])
    return [(a, b) for a, b in covered], [(a, b) for a, b in doubles]


def _add(spans: list[list[int]], first: int, last: int) -> None:
    if spans and first <= spans[-1][1] + 1:
        spans[-1][1] = max(spans[-1][1], last)
    else:
        spans.append([first, last])


def gaps(covered: Sequence[Span], start: int, end: int) -> list[Span]:
    """The offsets in [start, end) that `covered` (disjoint, in order) leaves out."""
    found: list[Span] = []
    position = start
    for first, last in covered:
        if last < position:
            continue
        if first >= end:
            break
        if first > position:
            found.append((position, first - 1))
        position = max(position, last + 1)
    if position < end:
        found.append((position, end - 1))
    return found


def _cut(span: Span, below: int) -> tuple[Span | None, Span | None]:
    """(the part of `span` below `below`, the part at or above it)."""
    first, last = span
    if last < below:
        return span, None
    if first >= below:
        return None, span
    return (first, below - 1), (below, last)


def _size(spans: Iterable[Span]) -> int:
    return sum(last - first + 1 for first, last in spans)


@dataclass(frozen=True)
class PartitionAudit:
    topic: str
    partition: int
    start: int  # the first offset the ledger answers for
    committed: int | None  # the ingest group's committed offset (the next it reads); None: never committed
    log_start: int  # the first offset the broker still has
    settled: int  # below it, an offset without an outcome is unaccounted (or expired), not in flight
    accounted: list[Span] = field(default_factory=list)
    accounted_count: int = 0
    in_flight: int = 0
    unaccounted: list[int] = field(default_factory=list)  # at most LISTED_OFFSETS of them
    unaccounted_count: int = 0
    expired_count: int = 0
    double_outcomes: list[Span] = field(default_factory=list)
    parked: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing unaccounted, lost, counted twice or parked (spec §2.4.13: `audit` exits 1 otherwise)."""
        return not (self.unaccounted_count or self.double_outcomes or self.parked or self.lost)

    def to_json(self) -> dict[str, object]:
        return {
            "topic": self.topic, "partition": self.partition, "ledger_start": self.start,
            "committed": self.committed, "log_start": self.log_start, "settled": self.settled,
            "accounted": [list(span) for span in self.accounted], "accounted_count": self.accounted_count,
            "in_flight": self.in_flight, "unaccounted": self.unaccounted,
            "unaccounted_count": self.unaccounted_count, "expired": self.expired_count,
            "double_outcomes": [list(span) for span in self.double_outcomes], "parked": self.parked,
            "lost": self.lost, "ok": self.ok,
        }


def audit_partition(
    *, topic: str, partition: int, covered: Sequence[Span], doubles: Sequence[Span], start: int,
    committed: int | None, log_start: int, settled: int, parked: Iterable[int] = (), lost: Iterable[int] = (),
) -> PartitionAudit:
    """Every offset from `start` up to the committed one is accounted (a recorded outcome), parked, in flight
    (committed past more recently than `settled` says), expired (deleted by retention before it was
    accounted) or unaccounted. Offsets not committed yet are not looked at."""
    end = committed if committed is not None else start
    parked_offsets = sorted(set(parked))
    waiting = set(parked_offsets)
    unaccounted: list[int] = []
    unaccounted_count = expired = in_flight = 0
    for gap in gaps(covered, start, end):
        old, recent = _cut(gap, max(settled, start))
        if recent is not None:
            in_flight += _size([recent]) - sum(1 for o in waiting if recent[0] <= o <= recent[1])
        if old is None:
            continue
        gone, kept = _cut(old, log_start)
        if gone is not None:
            expired += _size([gone]) - sum(1 for o in waiting if gone[0] <= o <= gone[1])
        if kept is not None:
            unaccounted_count += _size([kept]) - sum(1 for o in waiting if kept[0] <= o <= kept[1])
            offset = kept[0]
            while len(unaccounted) < LISTED_OFFSETS and offset <= kept[1]:
                if offset not in waiting:
                    unaccounted.append(offset)
                offset += 1
    accounted = [(a, b) for a, b in covered if b >= start]
    return PartitionAudit(
        topic=topic, partition=partition, start=start, committed=committed, log_start=log_start, settled=settled,
        accounted=accounted, accounted_count=_size(accounted), in_flight=in_flight, unaccounted=unaccounted,
        unaccounted_count=unaccounted_count, expired_count=expired, double_outcomes=list(doubles),
        parked=parked_offsets, lost=sorted(set(lost)),
    )
