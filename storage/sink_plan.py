"""What the sink writes for a batch of group changes, decided without the database (spec §2.4.3, §19).

storage.sink_writer runs the numbered commit protocol and asks Postgres only what Postgres alone knows: how far
each partition is applied, which change ids are applied already, which replayed occurrences are stored, group
ids and short ids, which count ids are new, which rows a link or a refusal touched, which keys wait behind a
parked change. Everything else is decided here, under the same step numbers: which changes continue each
partition and which are parked (1), which of them were applied before under their id (1b), and every row the
batch writes (2-12); and, for a batch that failed for good, how it is cut to find the change that fails.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from storage.changes import (
    Cause,
    Change,
    CountedDrop,
    Document,
    GroupChange,
    GroupDeletion,
    GroupState,
    GrouplessOccurrence,
    IngestDrop,
    InputCoordinates,
    InputNoop,
    OccurrenceChange,
    QuotaRefusal,
    encode_change,
)

# The outcomes of spec §7.4 that are counted per (project, type, outcome). `pending_quota` is a transient
# state of a stored occurrence, not a drop.
COUNTED_OUTCOMES = frozenset({"ingest_disabled", "rate_limited", "duplicate", "held_back", "quota_refused"})

GroupIdentity = tuple[str, int]  # (group key, generation): one row of `groups`
Row = tuple[Any, ...]
Coordinates = tuple[int, int]  # (partition, offset) of one group-changes message
PartitionKey = tuple[int, str]  # (partition, group key): the changes that must apply in offset order


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One message of the group-changes topic, decoded, with the coordinates it was read from."""

    partition: int
    offset: int
    change: Change


@dataclass(frozen=True)
class PersistedGroup:
    id: int
    short_id: int
    project_slug: str


@dataclass(frozen=True, slots=True)
class ChangeFailure:
    """Why a change could not be applied alone, for a reason trying again cannot fix (spec §2.4.12)."""

    error: str  # the database's words
    sqlstate: str | None
    attempts: int  # times it was tried alone and failed


@dataclass(frozen=True, slots=True)
class ParkedChange:
    """A change moved to `sink_parked` instead of being applied (spec §2.4.12)."""

    record: ChangeRecord
    failure: ChangeFailure | None  # None: it did not fail, it waits behind `behind`
    behind: int | None  # the offset of the parked change of its key it waits behind

    def row(self) -> Row:
        """(partition, offset, group key, wire bytes, behind, error, sqlstate, attempts, change id) of its
        `sink_parked` row."""
        record, failure = self.record, self.failure
        error = failure.error if failure is not None else f"waits behind the parked change at offset {self.behind}"
        return (record.partition, record.offset, record.change.group_key, encode_change(record.change), self.behind,
                error, failure.sqlstate if failure is not None else None, failure.attempts if failure else 0,
                record.change.change_id)


@dataclass
class BatchResult:
    applied: list[ChangeRecord] = field(default_factory=list)
    # Not applied now, their offsets done all the same: applied before, or read twice in the batch (1), a replay
    # whose occurrence is stored (1b), a copy of a change applied before under the same id (1b, `repeated`).
    skipped: list[ChangeRecord] = field(default_factory=list)
    # The part of `skipped` that repeats a change id applied before (spec §2.4.7): a copy the grouping owner sent
    # again at a new offset. Its original was forwarded, so it is not (see `forwarded`).
    repeated: list[ChangeRecord] = field(default_factory=list)
    # Moved to `sink_parked` (spec §2.4.12), in offset order; their offsets count as done in `through`.
    parked: list[ParkedChange] = field(default_factory=list)
    # Read again while parked since an earlier batch: neither applied nor forwarded.
    still_parked: list[ChangeRecord] = field(default_factory=list)
    # Changes beyond a hole in their partition's offsets: not written; to be read again from `holes`.
    deferred: list[ChangeRecord] = field(default_factory=list)
    # partition → the first offset this sink has not seen: the consumer must seek back there.
    holes: dict[int, int] = field(default_factory=dict)
    # partition → the highest offset now applied without a gap (a skipped replay included).
    through: dict[int, int] = field(default_factory=dict)
    groups: dict[GroupIdentity, PersistedGroup] = field(default_factory=dict)
    # (partition, offset) of each forwarded creation whose waiters are kept under its request id → what the
    # post-process message of each waiter needs, in arrival order, the creator first (spec §2.4.11).
    waiters: dict[Coordinates, list[Document]] = field(default_factory=dict)

    def forwarded(self) -> list[ChangeRecord]:
        """What the caller forwards, in offset order: each change applied now, and each read again at its own
        offset or as a replay, whose messages go out again with the same ids (spec §2.3.4). A copy under an id
        applied before is left out: its original, at a lower offset of the same partition, was forwarded before
        it was acked, or is read again and forwarded then."""
        repeated = {(record.partition, record.offset) for record in self.repeated}
        return sorted((record for record in self.applied + self.skipped
                       if (record.partition, record.offset) not in repeated),
                      key=lambda r: (r.partition, r.offset))


# ------------------------------------------------------------------------------- 1. what continues where

def partitions(changes: Iterable[ChangeRecord]) -> list[int]:
    return sorted({record.partition for record in changes})


def contiguous(changes: Sequence[ChangeRecord], applied_up_to: Mapping[int, int], *, gapless: bool) -> BatchResult:
    """The changes that continue each partition where the sink stopped, in offset order, as `applied`.

    `sink_offsets` means "every offset up to here is applied", so a change may only follow the last one
    applied. Below it: applied before, or a second copy in this batch (a redelivery around a rebalance),
    skipped. Above it, with offsets missing in between: the consumer never handed those over (Faust can
    skip records around a rebalance), so the rest of the partition waits in `deferred` and `holes` says
    where to read from. A partition the sink has never written starts at offset 0.

    `gapless=False` for topics written in transactions (`exactly_once`): their commit markers take
    offsets that no consumer ever sees, so a gap there is not a hole.
    """
    result = BatchResult()
    expected = {partition: offset + 1 for partition, offset in applied_up_to.items()}
    for record in sorted(changes, key=lambda r: (r.partition, r.offset)):
        partition = record.partition
        if partition in result.holes:
            result.deferred.append(record)
            continue
        next_offset = expected.get(partition, 0 if gapless else record.offset)
        if record.offset < next_offset:
            result.skipped.append(record)
        elif record.offset == next_offset or not gapless:
            result.applied.append(record)
            expected[partition] = record.offset + 1
            result.through[partition] = record.offset
        else:
            result.holes[partition] = next_offset
            result.deferred.append(record)
    return result


def set_aside(
    result: BatchResult, failed: Mapping[Coordinates, ChangeFailure], waiting: Mapping[PartitionKey, int]
) -> None:
    """Move to `parked` each continuing change that failed alone (`failed`) and each later change of its key,
    and every change of a key that already waits in its partition (`waiting`: → the offset of the key's first
    parked change). A key's changes apply in offset order or not at all, so what follows a parked change waits
    behind it until `parked retry` applies them together (spec §2.4.12).

    A change read again (`skipped`) at or after its key's first parked offset was parked, not applied: it
    moves to `still_parked`, so nothing is forwarded for it.
    """
    skipped: list[ChangeRecord] = []
    for record in result.skipped:
        head = waiting.get((record.partition, record.change.group_key))
        (result.still_parked if head is not None and record.offset >= head else skipped).append(record)
    result.skipped = skipped
    heads = dict(waiting)
    applied: list[ChangeRecord] = []
    for record in result.applied:  # in offset order per partition (contiguous)
        key = (record.partition, record.change.group_key)
        failure = failed.get((record.partition, record.offset))
        if failure is None and key not in heads:
            applied.append(record)
            continue
        result.parked.append(ParkedChange(record, failure, heads.get(key)))
        heads.setdefault(key, record.offset)
    result.applied = applied


def halves(changes: Sequence[ChangeRecord]) -> tuple[list[ChangeRecord], list[ChangeRecord]]:
    """A batch that failed, cut in two to find the change that fails (spec §2.4.12): the first half holds
    each partition's earlier offsets, so writing it first keeps every partition in order."""
    ordered = sorted(changes, key=lambda r: (r.partition, r.offset))
    middle = len(ordered) // 2
    return ordered[:middle], ordered[middle:]


def merged(results: Iterable[BatchResult]) -> BatchResult:
    """One result for a batch written in parts, one transaction each, in order, as if written at once."""
    total = BatchResult()
    for result in results:
        total.applied += result.applied
        total.skipped += result.skipped
        total.repeated += result.repeated
        total.parked += result.parked
        total.still_parked += result.still_parked
        total.deferred += result.deferred
        for partition, offset in result.holes.items():
            total.holes[partition] = min(offset, total.holes.get(partition, offset))
        for partition, offset in result.through.items():
            total.through[partition] = max(offset, total.through.get(partition, offset))
        total.groups.update(result.groups)
        total.waiters.update(result.waiters)
    return total


# ------------------------------------------------------------------------------------ 1b. applied ids

def output_ids(continuing: Iterable[ChangeRecord]) -> list[tuple[str, int, int]]:
    """(change id, cause partition, cause offset) to record for the continuing changes that carry an id, each id
    once (spec §2.4.7): a row per id, so one statement can insert them all."""
    rows: dict[str, Cause] = {}
    for record in continuing:
        change = record.change
        if change.change_id is not None and change.cause is not None:
            rows.setdefault(change.change_id, change.cause)
    return [(change_id, partition, offset) for change_id, (partition, offset) in rows.items()]


def drop_repeated_outputs(result: BatchResult, recorded_now: set[str]) -> None:
    """Move to `skipped` and `repeated` each continuing change whose id was applied before: one whose id was
    not `recorded_now` (it was recorded already), or a later copy of an id earlier in the batch (the first in
    offset order is the one applied). A change without an id is left to the checks it always had.

    The grouping owner that crashed after its outputs were acknowledged but before its state was written decides
    the message again and sends the same changes under the same ids at new offsets (spec §2.4.7): their additive
    effects (hourly counts, drop counters, activities, links) must not be applied a second time.
    """
    applied: list[ChangeRecord] = []
    first: set[str] = set()
    for record in result.applied:  # in offset order per partition (contiguous)
        change_id = record.change.change_id
        if change_id is None or (change_id in recorded_now and change_id not in first):
            if change_id is not None:
                first.add(change_id)
            applied.append(record)
            continue
        result.skipped.append(record)
        result.repeated.append(record)
    result.applied = applied


# ------------------------------------------------------------------------------------------ 1b. replays

def stored_occurrence(change: Change) -> Document | None:
    """The occurrence document a change stores as a row: an applied occurrence's or a groupless one's."""
    if isinstance(change, OccurrenceChange):
        return None if change.occurrence_stored else change.occurrence
    if isinstance(change, GrouplessOccurrence):
        return change.occurrence
    return None


def _occurrence_identity(occurrence: Document) -> tuple[int, str]:
    return occurrence["project_id"], occurrence["id"]


def replays_to_check(continuing: Iterable[ChangeRecord]) -> list[tuple[int, str]]:
    """The (project, occurrence id) of each replayed change that stores an occurrence, to look up."""
    return sorted({_occurrence_identity(occurrence) for record in continuing
                   if _is_replay(record.change) and (occurrence := stored_occurrence(record.change)) is not None})


def drop_stored_replays(result: BatchResult, stored: set[tuple[int, str]]) -> None:
    """Move to `skipped` each replayed change whose occurrence is stored, in Postgres or earlier in the batch.

    A change sent again after a crash (streams.core.decide.replayed_changes) is applied only if its occurrence
    is not stored yet: the occurrence row and every additive effect of the change commit together. The
    original may also be in this very batch, ahead of its replay: then it is the one applied.
    """
    applied: list[ChangeRecord] = []
    in_batch: set[tuple[int, str]] = set()
    for record in result.applied:
        occurrence = stored_occurrence(record.change)
        identity = _occurrence_identity(occurrence) if occurrence is not None else None
        if _is_replay(record.change) and identity is not None and (identity in stored or identity in in_batch):
            result.skipped.append(record)
            continue
        if identity is not None:
            in_batch.add(identity)
        applied.append(record)
    result.applied = applied


def _is_replay(change: Change) -> bool:
    return not isinstance(change, IngestDrop) and change.replay


def waiting_creations(records: Iterable[ChangeRecord]) -> list[tuple[Coordinates, str, str]]:
    """((partition, offset), key, request id) of each creation whose waiters the sink keeps (spec §2.4.11)."""
    return [
        ((record.partition, record.offset), change.group_key, change.link.request_id)
        for record in records
        if isinstance(change := record.change, OccurrenceChange) and change.link is not None
        and change.link.request_id is not None
    ]


def group_identities(changes: Iterable[ChangeRecord]) -> list[GroupIdentity]:
    """Every group the batch names, applied now or before: the caller forwards messages for all of them."""
    return sorted({record.change.identity for record in changes if isinstance(record.change, GroupChange)})


# ------------------------------------------------------------------------------------- 2-12. the rows

@dataclass(frozen=True)
class ShortIdRequest:
    """Step 4: the groups of one project that need a short id, in key order (spec §13.4.1)."""

    project_id: int
    groups: tuple[GroupIdentity, ...]


class BatchPlan:
    """The rows of one batch's applied changes; those that name a group row are finished with its id."""

    def __init__(self, applied: Sequence[ChangeRecord]) -> None:
        changes = [record.change for record in applied]
        self.records = applied
        self.changes = changes
        self.grouped = [change for change in changes if isinstance(change, GroupChange)]
        self.project_ids = sorted({change.project_id for change in changes})  # 2
        self.event_rows = _event_rows(changes)  # 3
        newest: dict[GroupIdentity, GroupState] = {}  # 4: one upsert per row, the newest version
        for change in self.grouped:
            current = newest.get(change.identity)
            if current is None or change.group.version > current.version:
                newest[change.identity] = change.group
        self.newest = {identity: newest[identity] for identity in sorted(newest)}  # key order: lock order
        self.refusals = [change for change in changes if isinstance(change, QuotaRefusal)]  # 8, by their ids
        self.count_ids = sorted({count_id for change in changes if (count_id := _count_id(change)) is not None})  # 11
        self._inputs = [(change.input, _count_id(change), _is_lost(change))  # 11c
                        for change in changes if change.input is not None]
        self.lost = [(*change.input, change.group_key) for change in changes  # 11c
                     if _is_lost(change) and change.input is not None]
        # 11e: (change id, group key, outcome) of each API change's outcome (spec §20.8.4), each id once; 11d: the
        # groups an API delete removes (spec §20.9), after every other write of the batch, so that a change of
        # the group earlier in the batch is removed with it. Only API changes carry an id: one look per change.
        api_changes: dict[str, Row] = {}
        deletions: set[GroupIdentity] = set()
        for change in changes:
            api_change = getattr(change, "api_change", None)
            if api_change is not None:
                api_changes.setdefault(api_change, (api_change, change.group_key, change.outcome))
                if isinstance(change, GroupDeletion):
                    deletions.add(change.identity)
        self.api_change_rows = [api_changes[change_id] for change_id in sorted(api_changes)]
        self.deletions = sorted(deletions)

    def missing_groups(self, persisted: Mapping[GroupIdentity, PersistedGroup]) -> list[GroupIdentity]:
        """Groups the changes name that have no row even after step 4: those changes cannot be applied."""
        return sorted({change.identity for change in self.grouped} - persisted.keys())

    # 4
    def short_id_requests(self, existing: Iterable[GroupIdentity]) -> list[ShortIdRequest]:
        """The groups without a row yet, by project in id order: each takes a block of its project's counter."""
        by_project: dict[int, list[GroupIdentity]] = {}
        known = set(existing)
        for identity, group in self.newest.items():
            if identity not in known:
                by_project.setdefault(group.project_id, []).append(identity)
        return [ShortIdRequest(project_id, tuple(by_project[project_id])) for project_id in sorted(by_project)]

    def group_rows(self, short_ids: Mapping[GroupIdentity, int]) -> list[Row]:
        return [_group_row(group, short_ids[identity]) for identity, group in self.newest.items()]

    # 5
    @staticmethod
    def hash_rows(created: Iterable[GroupIdentity], persisted: Mapping[GroupIdentity, PersistedGroup]) -> list[Row]:
        rows = []
        for identity in created:
            project_id, group_hash = identity[0].split(":", 1)
            rows.append((int(project_id), group_hash, persisted[identity].id))
        return sorted(rows)

    # 6
    def occurrence_rows(self, persisted: Mapping[GroupIdentity, PersistedGroup]) -> list[Row]:
        # One row per (project_id, id), the latest change winning: an id may come again under another
        # group key (spec §12.3), and one statement cannot upsert a key twice.
        latest: dict[tuple[int, str], Row] = {}
        for change in self.changes:
            occurrence = stored_occurrence(change)
            if occurrence is None:
                continue
            assert isinstance(change, (OccurrenceChange, GrouplessOccurrence))
            group_id = persisted[change.identity].id if isinstance(change, OccurrenceChange) else None
            row = _occurrence_row(change, occurrence, group_id)
            latest[(row[0], row[1])] = row
        return [latest[key] for key in sorted(latest)]

    # 6b
    def waiter_rows(self) -> list[Row]:
        """(key, request id, position, project, occurrence id, facts) of each occurrence stored waiting for a
        quota answer under its request id (spec §2.4.11)."""
        return [
            (change.group_key, change.request_id, record.offset, change.project_id, change.id,
             change.post_process_facts())
            for record in self.records
            if isinstance(change := record.change, GrouplessOccurrence) and change.request_id is not None
        ]

    # 7
    def link_rows(self, persisted: Mapping[GroupIdentity, PersistedGroup]) -> tuple[list[Row], list[Row], list[Row]]:
        """What each creation counted: (project, id, group id, creator) of those that waited and are named,
        (project, key, group id, first T, last T) of each deciding noise window (spec §13.1.5), and (key,
        request id, group id, creator, partition, offset) of each creation whose waiters are kept under its
        request id (spec §2.4.11)."""
        by_id: list[Row] = []
        by_window: list[Row] = []
        by_request: list[Row] = []
        for record in self.records:
            change = record.change
            link = change.link if isinstance(change, OccurrenceChange) else None
            if link is None:
                continue
            assert isinstance(change, OccurrenceChange)
            group_id = persisted[change.identity].id
            by_id.extend((change.project_id, occurrence_id, group_id, link.creator_id) for occurrence_id in link.ids)
            if link.window:
                start, end = link.window
                by_window.append((change.project_id, change.group_key, group_id, timestamp(start), timestamp(end)))
            if link.request_id is not None:
                by_request.append((change.group_key, link.request_id, group_id, link.creator_id, record.partition,
                                   record.offset))
        return by_id, by_window, by_request

    # 8
    def refusal_rows(self) -> list[Row]:
        """(key, request id, project, type, partition, offset) of each refusal whose waiters are kept under its
        request id (spec §2.4.11)."""
        return [
            (change.group_key, change.request_id, change.project_id, change.type_id, record.partition, record.offset)
            for record in self.records
            if isinstance(change := record.change, QuotaRefusal) and change.request_id is not None
        ]

    # 9
    def hourly_counts(
        self, persisted: Mapping[GroupIdentity, PersistedGroup], linked: Iterable[tuple[int, datetime, str]]
    ) -> tuple[list[Row], list[Row]]:
        """Rows of `hourly_counts` (group, hour, count) and `group_environments` (group, environment, first seen).

        An applied occurrence counts in the hour of its T; each linked one in the hour of its own T, `received`
        (spec §15.5.3). The first occurrence seen in an environment names when it was first seen (§12.8).
        """
        hourly: Counter[tuple[int, datetime]] = Counter()
        environments: dict[tuple[int, str], datetime] = {}
        for change in self.grouped:
            if isinstance(change, OccurrenceChange) and not change.occurrence_stored:
                group_id = persisted[change.identity].id
                hourly[(group_id, hour(change.t))] += 1
                seen_in = (group_id, change.environment or "")
                if seen_in not in environments:  # no datetime built for an environment already seen
                    environments[seen_in] = timestamp(change.t)
        for group_id, received, environment in linked:
            hourly[(group_id, hour(received.timestamp()))] += 1
            environments.setdefault((group_id, environment), received)
        return ([(group_id, bucket, count) for (group_id, bucket), count in sorted(hourly.items())],
                [(group_id, environment, seen) for (group_id, environment), seen in sorted(environments.items())])

    # 10
    def activity_rows(self, persisted: Mapping[GroupIdentity, PersistedGroup]) -> list[Row]:
        rows = []
        for change in self.grouped:
            group_id = persisted[change.identity].id
            for activity in change.activities:
                rows.append((
                    activity.id, group_id, change.project_id, activity.type, activity.data,
                    timestamp(activity.datetime), activity.actor, activity.source, change.cause_id,
                ))
        rows.sort(key=lambda row: row[0])
        return rows

    # 11c
    def ledger_inputs(self, first_time: set[str]) -> list[tuple[InputCoordinates, bool]]:
        """(input, whether the outcome is `lost`) of each outcome the batch records. A drop counted once by its
        count id records its input only when its id is recorded now: an ingest drop (no change id) sent again
        after a crash is the same outcome."""
        recorded: set[str] = set()
        outcomes = []
        for source, count_id, lost in self._inputs:
            if count_id is not None:
                if count_id not in first_time or count_id in recorded:
                    continue  # counted before, or a copy earlier in this batch
                recorded.add(count_id)
            outcomes.append((source, lost))
        return outcomes

    # 11
    def drop_rows(self, first_time: set[str], refused: Mapping[tuple[int, int], int]) -> list[Row]:
        """(project, type, outcome, count) to add to `drop_counters`. A drop with a count id is counted the
        first time its id is recorded; a refusal by the rows it really marked (step 8)."""
        drops: Counter[tuple[int, int, str]] = Counter()
        for change in self.changes:
            if not isinstance(change, (GrouplessOccurrence, CountedDrop, IngestDrop)):
                continue
            count_id = _count_id(change)
            if count_id is not None and count_id not in first_time:
                continue  # the same drop again (input re-read, or a replayed change): counted already
            if change.outcome in COUNTED_OUTCOMES:
                drops[(change.project_id, change.type_id, change.outcome)] += 1
        for (project_id, type_id), count in refused.items():
            if count:
                drops[(project_id, type_id, QuotaRefusal.OUTCOME)] += count
        return [(*key, count) for key, count in sorted(drops.items())]


def assign_short_ids(requests: Iterable[ShortIdRequest], next_free: Mapping[int, int]) -> dict[GroupIdentity, int]:
    """Step 4: each project's block ends just below its counter's new value, handed out in key order."""
    allocated: dict[GroupIdentity, int] = {}
    for request in requests:
        assert request.project_id in next_free, f"project {request.project_id} must exist before its groups"
        first = next_free[request.project_id] - len(request.groups)
        for index, identity in enumerate(request.groups):
            allocated[identity] = first + index
    return allocated


def _is_lost(change: Change) -> bool:
    return isinstance(change, InputNoop) and change.outcome == "lost"


def _count_id(change: Change) -> str | None:
    """The id a drop is counted once by: the input's for ingest-stage drops, the owner's for duplicates."""
    if isinstance(change, (IngestDrop, CountedDrop)):
        return change.count_id
    return None


# ------------------------------------------------------------------------------------------ row shapes

def timestamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _optional_timestamp(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def hour(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch - epoch % 3600, UTC)


def _parse_timestamp(value: Any) -> datetime:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _event_rows(changes: Iterable[Change]) -> list[Row]:
    """Step 3: the embedded events; the first written for (project_id, event_id) wins (spec §5.6)."""
    events: dict[tuple[int, str], tuple[Document, float]] = {}
    for change in changes:
        event = change.event if isinstance(change, (OccurrenceChange, GrouplessOccurrence)) else None
        if event:
            events.setdefault((event["project_id"], event["event_id"]), (event, change.t))
    return [
        (
            project_id, event_id, event["platform"], _parse_timestamp(event["timestamp"]),
            # `received` defaults to T (spec §5.3).
            _parse_timestamp(event["received"]) if event.get("received") is not None else timestamp(t),
            event.get("environment"), event,
        )
        for (project_id, event_id), (event, t) in sorted(events.items())
    ]


def _group_row(group: GroupState, short_id: int) -> Row:
    # spec §12.4: metadata.title/value follow the occurrence; metadata.initial_priority never changes.
    data = {"metadata": {"title": group.title, "value": group.subtitle, "initial_priority": group.initial_priority}}
    return (
        group.project_id, group.group_key, group.generation, group.type_id, group.status, group.substatus,
        timestamp(group.substatus_since), group.priority, _optional_timestamp(group.priority_locked_at), short_id,
        group.assignee, timestamp(group.first_seen), timestamp(group.last_seen), group.times_seen, group.level,
        group.culprit, group.title, group.subtitle, group.message, group.platform,
        _optional_timestamp(group.resolved_at), data, group.version, group.snooze_count, group.times_seen_at_snooze,
        _optional_timestamp(group.snooze_until),
    )


def _occurrence_row(change: OccurrenceChange | GrouplessOccurrence, occurrence: Document, group_id: int | None) -> Row:
    """Step 6: the columns of the stored occurrence document (spec §7.4: groupless ones with their outcome)."""
    environment = change.environment if isinstance(change, OccurrenceChange) else None
    return (
        occurrence["project_id"], occurrence["id"], group_id, change.group_key, change.outcome,
        # Fingerprint hashes are hex, so a comma-joined string is an unambiguous array (see the upsert).
        timestamp(change.t), occurrence["event_id"], ",".join(occurrence["fingerprint"]), occurrence["type"],
        occurrence["issue_title"], occurrence["subtitle"], occurrence["culprit"], occurrence["level"],
        _parse_timestamp(occurrence["detection_time"]), occurrence.get("evidence_display", []),
        occurrence.get("evidence_data", {}), occurrence.get("priority"), occurrence.get("assignee"),
        occurrence.get("resource_id"), environment or occurrence.get("environment") or "",
    )
