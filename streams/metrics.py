"""The worker's Prometheus metrics (spec §23), counted a batch at a time from results the agents already have.

Every count is added once per batch: the agents fill a plain `Counter` (or hand over the batch's result) and
this module adds each label set's total to its cached child, never a `.labels(...).inc()` per message. The
facts are counted where they are final: occurrences, status changes, transitions and activities after the
sink's commit, from the changes it applied (a batch read again is `skipped`, not applied, so it is not
counted twice); dead letters when the dlq agent lists them, by the entries new to Postgres.

Counters live in the worker's memory: they start at 0 with each worker process, and each worker counts what
its own agents did, so a deployment's totals are the sum over its workers (Prometheus' `rate()` and
`increase()` handle the reset at a restart).
"""
from __future__ import annotations

import bisect
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from storage.changes import (
    CountedDrop,
    GrouplessOccurrence,
    IngestDrop,
    InputNoop,
    OccurrenceChange,
    QuotaRefusal,
    StatusChange,
)
from storage.sink_plan import BatchResult
from streams.core.enums import ActivityType
from streams.services import registry

PREFIX = "issue_platform_"

# spec §23: the outcomes each counter reports. `pending_quota` is a transient state, not an outcome: such an
# occurrence is counted when its quota answer is applied (created or applied on a grant, quota_refused else).
OCCURRENCE_OUTCOMES = frozenset({"applied", "created", "held_back", "quota_refused", "rate_limited",
                                 "ingest_disabled", "duplicate"})
STATUS_CHANGE_OUTCOMES = frozenset({"applied", "noop", "activity_only", "ignored_escalation"})

# spec §8.6 activity type → transition kind of spec §23. A snooze that expires is the SET_UNRESOLVED whose data
# names the snooze (§12.7); SET_ESCALATING counts as an escalation whether a forecast or a snooze count set it.
SET_UNRESOLVED = 2
TRANSITION_KINDS: dict[int, str] = {6: "regression", 25: "escalation", 15: "auto_resolve", 24: "ongoing"}

# Seconds: a sink batch is a few milliseconds to seconds; end to end spans a quiet pipeline to a backlog.
SINK_BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
END_TO_END_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class BatchHistogram(Collector):
    """A histogram that takes a batch of observations at once: `bisect` per value, no lock, no label.

    prometheus_client's Histogram takes a lock and walks its buckets for each value; the sink observes one
    end-to-end latency per applied change, so that cost would be paid per occurrence. Everything here runs on
    the worker's event loop (the agents and the scrape alike), so no lock is needed.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def observe_many(self, values: Iterable[float]) -> None:
        counts, bounds, locate = self.counts, self.bounds, bisect.bisect_left
        total = 0.0
        for value in values:
            counts[locate(bounds, value)] += 1
            total += value
        self.sum += total

    def collect(self) -> Iterator[Metric]:
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=self.sum)


class LabelledCounter:
    """A labelled Counter whose children are looked up once per label set, and added to once per batch."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self._children: dict[tuple[str, ...], Any] = {}

    def add(self, counts: Mapping[tuple[str, ...], float]) -> None:
        for labels, amount in counts.items():
            if not amount:
                continue
            child = self._children.get(labels)
            if child is None:
                child = self._children[labels] = self.counter.labels(*labels)
            child.inc(amount)


def _counter(name: str, documentation: str, labels: Sequence[str]) -> LabelledCounter:
    return LabelledCounter(Counter(PREFIX + name, documentation, labels))


MESSAGES = _counter("messages", "Input records ingest decided (spec §3.2), by topic and payload_type "
                    "(occurrence, status_change, or rejected for one refused before its type was known).",
                    ["topic", "payload_type"])
OCCURRENCES = _counter("occurrences", "Occurrence outcomes committed by the sink (spec §7.4, §23), by group type "
                       "slug and outcome.", ["type", "outcome"])
DLQ = _counter("dlq", "Dead letters newly listed in Postgres by the dlq agent (spec §7.1), by reason.", ["reason"])
STATUS_CHANGES = _counter("status_changes", "Status-change outcomes committed by the sink (spec §14.3), by outcome.",
                          ["outcome"])
TRANSITIONS = _counter("transitions", "Status transitions committed by the sink (regression, escalation, "
                       "auto_resolve, ongoing, snooze_expiry).", ["kind"])
POST_PROCESS = _counter("post_process", "Post-process messages sent after a sink commit (spec §18.1), by group "
                        "type slug; a batch read again sends its messages again without counting them.", ["type"])
ACTIVITY = _counter("activity", "Activities committed by the sink (spec §8.6, §18.2), by activity type name.",
                    ["type"])
TRACKER_ACTIONS = _counter("tracker_actions", "Issue-tracker actions (spec §24.4), by tracker, action and outcome.",
                           ["tracker", "action", "outcome"])
SINK_PARKED = Counter(PREFIX + "sink_parked", "Changes the sink parked (spec §2.4.12).")
UNACCOUNTED_OFFSETS = Gauge(PREFIX + "unaccounted_offsets", "Unaccounted input offsets per input partition (spec "
                            "§2.4.13), as of the last audit this worker ran (the leader's reconciler, "
                            "GET /api/0/audit/).", ["partition"])
CONSUMER_LAG = Gauge(PREFIX + "consumer_lag", "Records on the broker past what this worker's consumer read, per "
                     "assigned partition, at the moment of the scrape.", ["topic", "partition"])
SINK_BATCH_SECONDS = BatchHistogram(PREFIX + "sink_batch_seconds", "Seconds the sink took to commit a batch "
                                    "(transient retries and parking included).", SINK_BATCH_BUCKETS)
END_TO_END_SECONDS = BatchHistogram(PREFIX + "end_to_end_seconds", "Seconds from the decision time T of a change "
                                    "to the sink's commit of it.", END_TO_END_BUCKETS)
SINK_BATCH_SIZE = BatchHistogram(PREFIX + "sink_batch_size", "Changes per sink batch (as read, before skipping "
                                 "those applied before).", BATCH_SIZE_BUCKETS)
for _histogram in (SINK_BATCH_SECONDS, END_TO_END_SECONDS, SINK_BATCH_SIZE):
    REGISTRY.register(_histogram)

_type_labels: dict[int, str] = {}
_activity_labels: dict[int, str] = {}


def type_label(type_id: int) -> str:
    label = _type_labels.get(type_id)
    if label is None:
        # A type unregistered since (a plugin removed) is still named by its id.
        label = registry.get_by_type_id(type_id).slug if registry.is_registered(type_id) else str(type_id)
        _type_labels[type_id] = label
    return label


def activity_label(activity_type: int) -> str:
    label = _activity_labels.get(activity_type)
    if label is None:
        try:
            label = ActivityType(activity_type).name.lower()
        except ValueError:
            label = str(activity_type)
        _activity_labels[activity_type] = label
    return label


def count_inputs(counts: Mapping[tuple[str, str], int]) -> None:
    """Ingest's batch: (topic, payload_type) → records."""
    MESSAGES.add(counts)


def count_sink_batch(result: BatchResult, *, size: int, seconds: float, committed_at: float) -> None:
    """Everything the sink's committed batch says, in one pass over the changes it applied."""
    occurrences: Tally[tuple[str, str]] = Tally()
    statuses: Tally[tuple[str]] = Tally()
    transitions: Tally[tuple[str]] = Tally()
    activities: Tally[int] = Tally()
    ages: list[float] = []
    for record in result.applied:
        change = record.change
        kind = type(change)
        if kind is OccurrenceChange:
            assert isinstance(change, OccurrenceChange)
            occurrences[(type_label(change.group.type_id), change.outcome)] += 1
            link = change.link
            if link is not None and len(link.ids) > 1:  # the others that waited for the quota answer, applied now
                occurrences[(type_label(change.group.type_id), "applied")] += len(link.ids) - 1
        elif kind is StatusChange:
            statuses[(change.outcome,)] += 1
        elif kind is InputNoop:
            if change.outcome in STATUS_CHANGE_OUTCOMES:
                statuses[(change.outcome,)] += 1
            continue  # no T worth a latency: a no-op's T is the key's last one
        elif kind is QuotaRefusal:
            assert isinstance(change, QuotaRefusal)
            occurrences[(type_label(change.type_id), QuotaRefusal.OUTCOME)] += len(change.ids)
        elif kind is GrouplessOccurrence or kind is CountedDrop or kind is IngestDrop:
            assert isinstance(change, (GrouplessOccurrence, CountedDrop, IngestDrop))
            if change.outcome in OCCURRENCE_OUTCOMES:
                occurrences[(type_label(change.type_id), change.outcome)] += 1
        for activity in getattr(change, "activities", ()):
            activities[activity.type] += 1
            transition = TRANSITION_KINDS.get(activity.type)
            if transition is None and activity.type == SET_UNRESOLVED and "snooze" in activity.data:
                transition = "snooze_expiry"
            if transition is not None:
                transitions[(transition,)] += 1
        ages.append(committed_at - change.t)
    OCCURRENCES.add(occurrences)
    STATUS_CHANGES.add(statuses)
    TRANSITIONS.add(transitions)
    ACTIVITY.add({(activity_label(activity_type),): count for activity_type, count in activities.items()})
    if result.parked:
        SINK_PARKED.inc(len(result.parked))
    END_TO_END_SECONDS.observe_many(ages)
    SINK_BATCH_SECONDS.observe(seconds)
    SINK_BATCH_SIZE.observe(size)


def count_post_process(counts: Mapping[str, int]) -> None:
    """The sink's forwarded batch: group type slug → post-process messages sent for changes applied now."""
    POST_PROCESS.add({(slug,): count for slug, count in counts.items()})


def count_dead_letters(reasons: Mapping[str, int]) -> None:
    """The dlq agent's committed batch: reason → entries new to Postgres."""
    DLQ.add({(reason,): count for reason, count in reasons.items()})


def count_tracker_action(tracker: str, action: str, outcome: str) -> None:
    TRACKER_ACTIONS.add({(tracker, action, outcome): 1})


def set_unaccounted(counts: Mapping[int, int]) -> None:
    """An audit's unaccounted offsets per input partition: every partition of the report, zeros included."""
    for partition, count in counts.items():
        UNACCOUNTED_OFFSETS.labels(str(partition)).set(count)


def set_consumer_lag(lags: Iterable[tuple[str, int, int]]) -> None:
    """(topic, partition, lag) of each partition the worker has now; partitions it lost disappear."""
    CONSUMER_LAG.clear()
    for topic, partition, lag in lags:
        CONSUMER_LAG.labels(topic, str(partition)).set(lag)


def consumer_lag(highwater: int | None, read_offset: int | None, committed: int | None) -> int | None:
    """Records past the consumer's position: the highwater (next offset to be written) minus the next offset
    it will read (the last one read + 1, or the committed one before it read any; neither yet: the group reads
    from the start, so the whole partition). None before the first fetch told the highwater."""
    if highwater is None:
        return None
    position = read_offset + 1 if read_offset is not None else committed if committed is not None else 0
    return max(0, highwater - position)
