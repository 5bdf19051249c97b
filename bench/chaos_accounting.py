"""What `make chaos` expects Postgres to hold, read from the input topic itself, and how it counts what is lost or double.

The truth is computed from the records the ingest topic really holds (their partition, offset and bytes),
not from what the producer meant to send: a producer retry across the broker restart can write a record
twice, and a second copy is a real input with its own outcome (a valid occurrence again is a detector
duplicate, §12.3; an invalid one is a second DLQ entry, §7.2). Each record's bytes are looked up in the
firehose (bench/firehose.py), which says what it is; the rules are the firehose's own: a key of a noise-gated
type becomes a group at its `noise_limit`-th occurrence and its first `noise_limit - 1` are `held_back`
(§13.1), every distinct valid occurrence counts once in `times_seen` and is stored once, a later copy of
the same occurrence id is a `duplicate` drop, an invalid record is one DLQ entry at its coordinates, a
status change sets the group's status (§14). The chaos producer sends a status change only after every
other message of its key, so no occurrence follows it (a regression of a resolved group would make the
outcome depend on timing); a record order that breaks this is reported as an `order_violation`.

`account` compares that with a snapshot of Postgres, check by check. Each check counts in its own units:
- `groups`: group rows (missing, unexpected, or a second row of a key); project or type wrong.
- `times_seen`: the shortfall and the excess of `groups.times_seen`, per group.
- `hourly_counts`: the same for the sum of a group's `hourly_counts` rows, which must equal its times_seen.
- `linked_occurrences`: the same for the occurrence rows linked to a group (`occurrences.group_id`).
- `occurrence_rows`: occurrence ids missing from `occurrences`, and rows of ids the input does not hold.
- `drop_counters`: per (project, type, outcome), the shortfall and the excess of `drop_counters.count`.
- `dlq_entries`: per input coordinates, an expected entry missing, an entry the truth has no place for
  (another record's coordinates or another topic), or one with the wrong reason.
- `statuses`: a status change whose group still shows the created status (lost), any other status
  difference (wrong).
`lost` is the sum over the checks of what is expected and missing, `double_counted` the sum of what is
there beyond the truth, `wrong` the sum of values that differ otherwise. One lost occurrence therefore
counts in several checks (its row, times_seen, hourly count, link): the per-check figures say which.

`unaccounted_offsets` lists the input records (partition, offset) with no outcome found in Postgres:
- a valid occurrence: its (project_id, id) row in `occurrences` (held-back ones have a row too);
- a duplicate copy: occurrences carry no input coordinates and the `duplicate` counter no ids, so per
  (project, type) the first `drop_counters.count` copies in offset order count as accounted, the rest not
  (an approximation: it cannot tell which copy a counted drop belongs to);
- an invalid record: a `dlq_entries` row with its `source_topic`, `source_partition`, `source_offset`;
- a status change: its group shows the new status;
- any record with a DLQ entry at its coordinates has an outcome (even when it is not the expected one).
Records whose bytes are not the firehose's (the warm-up occurrence) are counted as `foreign` and skipped.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.firehose import (
    CREATED,
    ExpectedGroup,
    Firehose,
    GroundTruth,
    InputMessage,
    Kind,
)

Coordinates = tuple[int, int]  # (partition, offset) of a record of the ingest topic
OccurrenceIdent = tuple[int, str]  # (project_id, occurrence id): the primary key of `occurrences`
DropKey = tuple[int, int, str]  # (project_id, type_id, outcome): the primary key of `drop_counters`
DlqSource = tuple[str, int | None, int | None]  # (source_topic, source_partition, source_offset)
EXAMPLES = 5


@dataclass(frozen=True)
class InputRecord:
    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True)
class StatusTarget:
    group_key: str
    status: int
    substatus: int | None


@dataclass(frozen=True)
class Expected:
    truth: GroundTruth
    occurrences: dict[OccurrenceIdent, Coordinates]  # the first copy of each valid occurrence
    duplicates: dict[tuple[int, int], list[Coordinates]]  # (project, type) -> later copies, in offset order
    drops: dict[DropKey, int]
    dlq: dict[Coordinates, str]  # the invalid records and their reasons
    status_changes: dict[Coordinates, StatusTarget]
    records: int  # firehose records on the topic (every copy)
    records_by_kind: dict[str, int]
    foreign: int  # records whose bytes are not the firehose's
    order_violations: list[str]


def expected_from_topic(records: Iterable[InputRecord], firehose: Firehose) -> Expected:
    """The outcome Postgres must end with for exactly these records (module docstring)."""
    by_value: dict[bytes, InputMessage] = {}
    for message in firehose.messages:
        by_value.setdefault(message.value, message)
    specs = {spec.group_key: spec for spec in firehose.keys}
    occurrences: dict[OccurrenceIdent, Coordinates] = {}
    duplicates: dict[tuple[int, int], list[Coordinates]] = defaultdict(list)
    dlq: dict[Coordinates, str] = {}
    status_changes: dict[Coordinates, StatusTarget] = {}
    seen: Counter[str] = Counter()
    changed_at: dict[str, Coordinates] = {}
    kinds: Counter[str] = Counter()
    foreign = 0
    violations: list[str] = []
    for record in sorted(records, key=lambda record: (record.partition, record.offset)):
        message = by_value.get(record.value)
        if message is None:
            foreign += 1
            continue
        coordinates = (record.partition, record.offset)
        if message.kind is Kind.INVALID:
            kinds[Kind.INVALID] += 1
            dlq[coordinates] = str(message.reason)
            continue
        assert message.group_key is not None
        spec = specs[message.group_key]
        document = orjson.loads(message.value)
        if message.kind is Kind.STATUS_CHANGE:
            kinds[Kind.STATUS_CHANGE] += 1
            status_changes[coordinates] = StatusTarget(spec.group_key, int(document["new_status"]),
                                                       _optional_int(document["new_substatus"]))
            changed_at[spec.group_key] = coordinates
            continue
        ident = (spec.project_id, str(document["id"]))
        if ident in occurrences:
            kinds[Kind.DUPLICATE] += 1
            duplicates[(spec.project_id, spec.type_id)].append(coordinates)
            continue
        kinds[Kind.OCCURRENCE] += 1
        if spec.group_key in changed_at:
            violations.append(f"occurrence at {coordinates} follows the status change of {spec.group_key} at "
                              f"{changed_at[spec.group_key]}")
        occurrences[ident] = coordinates
        seen[spec.group_key] += 1

    created = {key for key, count in seen.items() if count >= specs[key].noise_limit}
    statuses: dict[str, tuple[int, int | None]] = {key: (int(CREATED[0]), int(CREATED[1])) for key in created}
    for coordinates, target in sorted(status_changes.items()):
        if target.group_key not in created:
            violations.append(f"status change at {coordinates} of {target.group_key}, which never becomes a group")
            continue
        statuses[target.group_key] = (target.status, target.substatus)
    drops: Counter[DropKey] = Counter()
    for key, count in seen.items():
        held_back = min(count, specs[key].noise_limit - 1)
        if held_back:
            drops[(specs[key].project_id, specs[key].type_id, "held_back")] += held_back
    for (project_id, type_id), copies in duplicates.items():
        drops[(project_id, type_id, "duplicate")] += len(copies)
    truth = GroundTruth(
        groups={key: ExpectedGroup(specs[key].project_id, specs[key].type_id, seen[key], *statuses[key])
                for key in sorted(created)},
        stored_occurrences=len(occurrences),
        held_back=sum(count for (_, _, outcome), count in drops.items() if outcome == "held_back"),
        duplicates=sum(len(copies) for copies in duplicates.values()),
        dlq_by_reason=dict(Counter(dlq.values())),
        status_changes=sum(1 for target in status_changes.values() if target.group_key in created),
    )
    return Expected(truth, occurrences, dict(duplicates), dict(drops), dlq, status_changes,
                    records=sum(kinds.values()), records_by_kind={str(kind): n for kind, n in sorted(kinds.items())},
                    foreign=foreign, order_violations=violations)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


# --- Postgres, as read at the end ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundGroup:
    project_id: int
    type_id: int
    times_seen: int
    status: int
    substatus: int | None
    hourly: int  # sum of its hourly_counts rows
    linked: int  # occurrence rows whose group_id is this group
    rows: int = 1  # group rows of this key (every generation)


@dataclass(frozen=True)
class Snapshot:
    groups: dict[str, FoundGroup]
    occurrences: frozenset[OccurrenceIdent]
    drops: dict[DropKey, int]
    dlq: dict[DlqSource, str]  # -> reason


# --- the comparison -------------------------------------------------------------------------------------------


@dataclass
class Check:
    lost: int = 0
    double: int = 0
    wrong: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.double or self.wrong)

    def example(self, **details: Any) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(details)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "lost": self.lost, "double": self.double, "wrong": self.wrong,
                "examples": self.examples}


@dataclass(frozen=True)
class Accounting:
    checks: dict[str, Check]

    @property
    def lost(self) -> int:
        return sum(check.lost for check in self.checks.values())

    @property
    def double_counted(self) -> int:
        return sum(check.double for check in self.checks.values())

    @property
    def wrong(self) -> int:
        return sum(check.wrong for check in self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return {name: check.to_json() for name, check in self.checks.items()}


def account(expected: Expected, snapshot: Snapshot, ingest_topic: str) -> Accounting:
    """Every check of the module docstring; `ingest_topic` is the DLQ entries' expected source topic."""
    truth = expected.truth
    checks = {name: Check() for name in ("groups", "times_seen", "hourly_counts", "linked_occurrences",
                                         "occurrence_rows", "drop_counters", "dlq_entries", "statuses")}
    for key, group in truth.groups.items():
        found = snapshot.groups.get(key)
        if found is None:
            checks["groups"].lost += 1
            checks["groups"].example(group_key=key, missing=True)
            for name in ("times_seen", "hourly_counts", "linked_occurrences"):
                checks[name].lost += group.times_seen
            if (group.status, group.substatus) != CREATED:
                checks["statuses"].lost += 1
            continue
        if found.rows > 1:
            checks["groups"].double += found.rows - 1
            checks["groups"].example(group_key=key, rows=found.rows)
        if (found.project_id, found.type_id) != (group.project_id, group.type_id):
            checks["groups"].wrong += 1
            checks["groups"].example(group_key=key, expected=[group.project_id, group.type_id],
                                     found=[found.project_id, found.type_id])
        for name, value in (("times_seen", found.times_seen), ("hourly_counts", found.hourly),
                            ("linked_occurrences", found.linked)):
            _count(checks[name], group.times_seen, value, group_key=key)
        if (found.status, found.substatus) != (group.status, group.substatus):
            lost_change = (found.status, found.substatus) == CREATED
            checks["statuses"].lost += lost_change
            checks["statuses"].wrong += not lost_change
            checks["statuses"].example(group_key=key, expected=[group.status, group.substatus],
                                       found=[found.status, found.substatus])
    for key, found in snapshot.groups.items():
        if key not in truth.groups:
            checks["groups"].double += found.rows
            checks["groups"].example(group_key=key, unexpected=True)
            checks["times_seen"].double += found.times_seen
            checks["hourly_counts"].double += found.hourly
            checks["linked_occurrences"].double += found.linked

    rows = checks["occurrence_rows"]
    for ident in expected.occurrences.keys() - snapshot.occurrences:
        rows.lost += 1
        rows.example(project_id=ident[0], id=ident[1], input=list(expected.occurrences[ident]), missing=True)
    for ident in snapshot.occurrences - expected.occurrences.keys():
        rows.double += 1
        rows.example(project_id=ident[0], id=ident[1], unexpected=True)

    for key in sorted(expected.drops.keys() | snapshot.drops.keys()):
        _count(checks["drop_counters"], expected.drops.get(key, 0), snapshot.drops.get(key, 0),
               project_id=key[0], type_id=key[1], outcome=key[2])

    dlq = checks["dlq_entries"]
    found_dlq = {(partition, offset): reason for (topic, partition, offset), reason in snapshot.dlq.items()
                 if topic == ingest_topic and partition is not None and offset is not None}
    for coordinates, reason in sorted(expected.dlq.items()):
        found_reason = found_dlq.get(coordinates)
        if found_reason is None:
            dlq.lost += 1
            dlq.example(input=list(coordinates), reason=reason, missing=True)
        elif found_reason != reason:
            dlq.wrong += 1
            dlq.example(input=list(coordinates), expected=reason, found=found_reason)
    for source, reason in sorted(snapshot.dlq.items(), key=lambda item: tuple(map(str, item[0]))):
        topic, partition, offset = source
        if topic == ingest_topic and (partition, offset) in expected.dlq:
            continue
        dlq.double += 1
        dlq.example(source=list(source), reason=reason, unexpected=True)
    return Accounting(checks)


def _count(check: Check, expected: int, found: int, **where: Any) -> None:
    if found < expected:
        check.lost += expected - found
    elif found > expected:
        check.double += found - expected
    if found != expected:
        check.example(**where, expected=expected, found=found)


def unaccounted_offsets(expected: Expected, snapshot: Snapshot, ingest_topic: str) -> list[tuple[int, int, str]]:
    """(partition, offset, kind) of every input record with no outcome in Postgres (module docstring)."""
    with_dlq_entry = {(partition, offset) for topic, partition, offset in snapshot.dlq
                      if topic == ingest_topic and partition is not None and offset is not None}
    missing: list[tuple[int, int, str]] = []
    for ident, coordinates in expected.occurrences.items():
        if ident not in snapshot.occurrences and coordinates not in with_dlq_entry:
            missing.append((*coordinates, str(Kind.OCCURRENCE)))
    for (project_id, type_id), copies in expected.duplicates.items():
        counted = snapshot.drops.get((project_id, type_id, "duplicate"), 0)
        missing.extend((*coordinates, str(Kind.DUPLICATE)) for coordinates in copies[counted:]
                       if coordinates not in with_dlq_entry)
    missing.extend((*coordinates, str(Kind.INVALID)) for coordinates in expected.dlq
                   if coordinates not in with_dlq_entry)
    for coordinates, target in expected.status_changes.items():
        found = snapshot.groups.get(target.group_key)
        applied = found is not None and (found.status, found.substatus) == (target.status, target.substatus)
        if not applied and coordinates not in with_dlq_entry:
            missing.append((*coordinates, str(Kind.STATUS_CHANGE)))
    return sorted(missing)
