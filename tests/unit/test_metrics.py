"""The worker's metrics counted a batch at a time (streams.metrics, spec §23), /api/0/ready/'s verdict and JSON logs."""
from __future__ import annotations

import logging
import sys
from collections import Counter
from types import SimpleNamespace
from typing import Any

import orjson
from faust.types import TP
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from storage.changes import (
    ActivityRecord,
    CountedDrop,
    GrouplessOccurrence,
    IngestDrop,
    InputNoop,
    OccurrenceChange,
    QuotaRefusal,
    StatusChange,
)
from storage.sink_plan import BatchResult, ChangeRecord, ParkedChange
from streams import metrics
from streams.logs import JsonFormatter, logging_config
from streams.web.metrics import partition_lags, readiness
from tests.unit.storage.test_sink_plan import HOUR, KEY, group_change, group_state


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def activity(kind: int, **data: Any) -> ActivityRecord:
    return ActivityRecord(id=f"a{kind}", type=kind, data=data, datetime=HOUR, source="occurrence")


def test_a_batch_histogram_counts_each_value_in_its_bucket_and_exposes_cumulative_counts() -> None:
    registry = CollectorRegistry()
    histogram = metrics.BatchHistogram("demo_seconds", "demo", (0.1, 1.0))
    registry.register(histogram)
    histogram.observe_many([0.05, 0.1, 0.5, 3.0])
    histogram.observe(0.01)
    family = next(text_string_to_metric_families(generate_latest(registry).decode()))
    values = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    # A value equal to a bound falls in that bound's bucket (Prometheus' `le`).
    assert values[("demo_seconds_bucket", "0.1")] == 3
    assert values[("demo_seconds_bucket", "1.0")] == 4
    assert values[("demo_seconds_bucket", "+Inf")] == 5
    assert values[("demo_seconds_count", None)] == 5
    assert abs(values[("demo_seconds_sum", None)] - 3.66) < 1e-9


def test_a_labelled_counter_adds_each_label_set_once_and_keeps_its_child() -> None:
    counter = metrics.LabelledCounter(metrics.Counter("demo_batch", "demo", ["kind"], registry=CollectorRegistry()))
    counter.add({("a",): 3, ("b",): 0})
    counter.add({("a",): 2})
    assert counter.counter.labels("a")._value.get() == 5
    assert list(counter._children) == [("a",)]  # nothing made for a zero


def test_the_sink_batch_counts_what_it_applied_and_nothing_it_skipped() -> None:
    slug = metrics.type_label(2001)
    regressed = StatusChange(outcome="applied", t=HOUR, group_key=KEY, project_id=1, group=group_state(),
                             cause_id="s1", activities=(activity(2, snooze={"until": HOUR}),))
    occurrence = OccurrenceChange(
        outcome="applied", t=HOUR, group_key=KEY, project_id=1, group=group_state(), cause_id="o2",
        occurrence={"project_id": 1, "id": "o2"}, is_regression=True, activities=(activity(6), activity(25)))
    applied = [
        group_change(is_new=True),
        occurrence,
        regressed,
        InputNoop(outcome="noop", t=HOUR, group_key=KEY, project_id=1),
        InputNoop(outcome="duplicate", t=HOUR, group_key=KEY, project_id=1),  # a status change's: not counted
        CountedDrop(outcome="duplicate", t=HOUR, group_key=KEY, project_id=1, type_id=2001, id="o3", count_id="c"),
        IngestDrop(outcome="ingest_disabled", t=HOUR, group_key=KEY, project_id=1, type_id=2001, id="i1"),
        GrouplessOccurrence(outcome="held_back", t=HOUR, group_key=KEY, project_id=1, type_id=2001, id="o4",
                            occurrence={}),
        GrouplessOccurrence(outcome="pending_quota", t=HOUR, group_key=KEY, project_id=1, type_id=2001, id="o5",
                            occurrence={}),  # transient: counted at its answer
        QuotaRefusal(t=HOUR, group_key=KEY, project_id=1, type_id=2001, ids=("o6", "o7")),
    ]
    result = BatchResult(applied=[ChangeRecord(0, offset, change) for offset, change in enumerate(applied)])
    result.skipped = [ChangeRecord(0, 99, group_change(is_new=True))]  # read again: counted when first applied
    result.parked = [ParkedChange(ChangeRecord(1, 0, group_change()), None, 3)]
    names = [("issue_platform_occurrences_total", {"type": slug, "outcome": outcome})
             for outcome in ("created", "applied", "duplicate", "ingest_disabled", "held_back", "quota_refused")]
    names += [("issue_platform_status_changes_total", {"outcome": outcome}) for outcome in ("applied", "noop")]
    names += [("issue_platform_transitions_total", {"kind": kind})
              for kind in ("regression", "escalation", "snooze_expiry")]
    names += [("issue_platform_activity_total", {"type": kind})
              for kind in ("set_regression", "set_escalating", "set_unresolved")]
    names += [("issue_platform_sink_parked_total", {}), ("issue_platform_sink_batch_size_count", {}),
              ("issue_platform_sink_batch_size_sum", {}), ("issue_platform_end_to_end_seconds_count", {}),
              ("issue_platform_sink_batch_seconds_count", {})]
    before = {(name, tuple(labels.items())): sample(name, **labels) for name, labels in names}

    metrics.count_sink_batch(result, size=12, seconds=0.2, committed_at=HOUR + 2)

    moved = {key: sample(key[0], **dict(key[1])) - value for key, value in before.items()}
    assert {(key[0], key[1][-1][1] if key[1] else ""): value for key, value in moved.items()} == {
        ("issue_platform_occurrences_total", "created"): 1,
        ("issue_platform_occurrences_total", "applied"): 1,
        ("issue_platform_occurrences_total", "duplicate"): 1,
        ("issue_platform_occurrences_total", "ingest_disabled"): 1,
        ("issue_platform_occurrences_total", "held_back"): 1,
        ("issue_platform_occurrences_total", "quota_refused"): 2,
        ("issue_platform_status_changes_total", "applied"): 1,
        ("issue_platform_status_changes_total", "noop"): 1,
        ("issue_platform_transitions_total", "regression"): 1,
        ("issue_platform_transitions_total", "escalation"): 1,
        ("issue_platform_transitions_total", "snooze_expiry"): 1,
        ("issue_platform_activity_total", "set_regression"): 1,
        ("issue_platform_activity_total", "set_escalating"): 1,
        ("issue_platform_activity_total", "set_unresolved"): 1,
        ("issue_platform_sink_parked_total", ""): 1,
        ("issue_platform_sink_batch_size_count", ""): 1,
        ("issue_platform_sink_batch_size_sum", ""): 12,
        # Every applied change but the two no-ops, whose T is only the key's last.
        ("issue_platform_end_to_end_seconds_count", ""): len(applied) - 2,
        ("issue_platform_sink_batch_seconds_count", ""): 1,
    }


def test_a_creation_counts_the_occurrences_that_waited_for_its_quota_answer_as_applied() -> None:
    from storage.changes import CreationLink

    slug = metrics.type_label(2001)
    creation = OccurrenceChange(
        outcome="created", t=HOUR, group_key=KEY, project_id=1, group=group_state(), cause_id="o1", is_new=True,
        occurrence_stored=True, link=CreationLink(window=None, ids=("o1", "o2", "o3"), creator_id="o1"))
    before = (sample("issue_platform_occurrences_total", type=slug, outcome="created"),
              sample("issue_platform_occurrences_total", type=slug, outcome="applied"))
    metrics.count_sink_batch(BatchResult(applied=[ChangeRecord(0, 0, creation)]), size=1, seconds=0.1,
                             committed_at=HOUR)
    after = (sample("issue_platform_occurrences_total", type=slug, outcome="created"),
             sample("issue_platform_occurrences_total", type=slug, outcome="applied"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 2)


def test_inputs_dead_letters_and_post_process_are_added_per_label_set() -> None:
    before = (sample("issue_platform_messages_total", topic="in", payload_type="occurrence"),
              sample("issue_platform_dlq_total", reason="invalid_json"),
              sample("issue_platform_post_process_total", type="demo"))
    metrics.count_inputs(Counter({("in", "occurrence"): 4}))
    metrics.count_dead_letters(Counter({"invalid_json": 2}))
    metrics.count_post_process(Counter({"demo": 3}))
    after = (sample("issue_platform_messages_total", topic="in", payload_type="occurrence"),
             sample("issue_platform_dlq_total", reason="invalid_json"),
             sample("issue_platform_post_process_total", type="demo"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [4, 2, 3]


def test_unaccounted_offsets_and_consumer_lag_are_gauges_of_the_latest_reading() -> None:
    metrics.set_unaccounted({0: 3, 1: 0})
    assert sample("issue_platform_unaccounted_offsets", partition="0") == 3
    assert REGISTRY.get_sample_value("issue_platform_unaccounted_offsets", {"partition": "1"}) == 0
    metrics.set_consumer_lag([("in", 0, 5), ("in", 1, 0)])
    metrics.set_consumer_lag([("in", 1, 2)])  # partition 0 went to another worker
    assert REGISTRY.get_sample_value("issue_platform_consumer_lag", {"topic": "in", "partition": "0"}) is None
    assert sample("issue_platform_consumer_lag", topic="in", partition="1") == 2


def test_consumer_lag_is_the_highwater_past_the_next_offset_to_read() -> None:
    assert metrics.consumer_lag(10, 4, None) == 5  # read up to 4: 5..9 wait
    assert metrics.consumer_lag(10, 9, 3) == 0
    assert metrics.consumer_lag(10, None, 7) == 3  # nothing read yet: from the committed offset
    assert metrics.consumer_lag(None, 4, 3) is None  # no fetch answered yet
    assert metrics.consumer_lag(10, None, None) == 10  # neither: the group reads it from the start
    assert metrics.consumer_lag(0, None, None) == 0  # an empty partition


def test_partition_lags_skip_changelogs_and_unknown_highwaters() -> None:
    highwaters = {TP("in", 0): 10, TP("in", 1): None, TP("app-groups-changelog", 0): 50}
    consumer = SimpleNamespace(
        _read_offset={TP("in", 0): 6}, _committed_offset={}, assignment=lambda: set(highwaters),
        highwater=highwaters.__getitem__)
    assert list(partition_lags(consumer)) == [("in", 0, 3)]


def test_ready_only_when_assigned_recovered_and_postgres_answers() -> None:
    assert readiness(assigned=True, recovered=True, postgres="ok") == (
        200, {"status": "ready", "checks": {"assignment": "ok", "recovery": "ok", "postgres": "ok"}})
    status, body = readiness(assigned=True, recovered=False, postgres="unavailable")
    assert status == 503
    assert body == {"status": "not_ready", "missing": ["postgres", "recovery"],
                    "checks": {"assignment": "ok", "recovery": "in_progress", "postgres": "unavailable"}}
    assert readiness(assigned=False, recovered=False, postgres="ok")[1]["missing"] == ["assignment", "recovery"]


def test_json_log_lines_carry_level_logger_message_extras_and_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("streams.x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    record.partition = 3
    line = orjson.loads(JsonFormatter().format(record))
    assert line["level"] == "ERROR" and line["logger"] == "streams.x" and line["message"] == "failed here"
    assert line["partition"] == 3 and "ValueError: boom" in line["exception"] and line["time"].endswith("+00:00")


def test_the_json_setting_swaps_only_the_formatters_of_faust_logging() -> None:
    assert logging_config("text") is None
    config = logging_config("json")
    assert config is not None and config["merge"] is True
    assert set(config["formatters"]) == {"colored", "default"}
    assert set(config) == {"version", "merge", "formatters"}  # handlers, levels and stream stay Faust's
