"""`/metrics` and `/api/0/ready/` of a real worker (spec §23, §20.4): a known workload moves each counter by exactly
what it produced, read back with prometheus_client's own parser; the worker logs JSON when told to."""
from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import (
    Deployment,
    Worker,
    consume_all,
    make_occurrence,
    produce,
    wait_for,
)
from tests.integration.test_api import get

pytestmark = pytest.mark.integration

BULK = 9801  # it_bulk: released, no noise, a large quota (tests/integration/plugin_types.py)
SLUG = "it_bulk"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(worker: Worker, path: str = "/metrics") -> tuple[str, Samples]:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}{path}", timeout=10) as response:
        content_type = response.headers["Content-Type"]
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return content_type, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def families(worker: Worker) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=10) as response:
        return {family.name for family in text_string_to_metric_families(response.read().decode())}


def ready(worker: Worker) -> int:
    try:
        return get(worker, "ready/").status
    except OSError:
        return 0


def occurrence(fingerprint: str) -> bytes:
    return orjson.dumps(make_occurrence(1, fingerprint, type_id=BULK))


def resolve(fingerprint: str) -> bytes:
    return orjson.dumps({"payload_type": "status_change", "fingerprint": [fingerprint], "project_id": 1,
                         "id": "e" * 32, "new_status": 1, "new_substatus": None})


def groups(deployment: Deployment) -> dict[str, tuple[int, int]]:
    rows = deployment.query("SELECT title, times_seen, status, group_key FROM groups WHERE project_id = 1")
    return {key: (times_seen, status) for _, times_seen, status, key in rows}


def test_counters_move_by_exactly_what_a_known_workload_produced(deployment: Deployment) -> None:
    deployment.extra_env["ISSUE_PLATFORM_LOG_FORMAT"] = "json"
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    wait_for(lambda: ready(worker) == 200, timeout=120, interval=1, what="/api/0/ready/ 200")
    answer = get(worker, "ready/")
    assert answer.json == {"status": "ready", "checks": {"assignment": "ok", "recovery": "ok", "postgres": "ok"}}
    content_type, before = scrape(worker)
    assert content_type.startswith("text/plain; version=0.0.4")
    # Every metric of the §23 table, and the two this worker adds, is declared before anything is counted.
    assert {f"issue_platform_{name}" for name in (
        "messages", "occurrences", "dlq", "status_changes", "transitions", "post_process", "activity",
        "sink_parked", "tracker_actions", "unaccounted_offsets", "consumer_lag", "sink_batch_seconds",
        "end_to_end_seconds", "sink_batch_size")} <= families(worker)

    topic = deployment.topic("ingest-occurrences")
    first_a = occurrence("alpha")
    # Three new groups; then two repeats and a duplicate (the same id again) of one, an input that is not JSON,
    # a resolve of another, and an occurrence that regresses it.
    asyncio.run(produce(topic, [(b"alpha", first_a), (b"beta", occurrence("beta")), (b"gamma", occurrence("gamma"))]))
    wait_for(lambda: len(groups(deployment)) == 3, timeout=120, interval=1, what="three groups")
    asyncio.run(produce(topic, [(b"alpha", occurrence("alpha")), (b"alpha", occurrence("alpha")),
                                (b"alpha", first_a), (b"junk", b"{not json"), (b"beta", resolve("beta"))]))
    wait_for(lambda: sorted(groups(deployment).values()) == [(1, 0), (1, 1), (3, 0)], timeout=120, interval=1,
             what="alpha seen 3 times, beta resolved")
    asyncio.run(produce(topic, [(b"beta", occurrence("beta"))]))
    wait_for(lambda: sorted(groups(deployment).values()) == [(1, 0), (2, 0), (3, 0)], timeout=120, interval=1,
             what="beta regressed")
    wait_for(lambda: deployment.query("SELECT count(*) FROM dlq_entries")[0][0] == 1, timeout=60, interval=1,
             what="the dead letter listed")

    expected = {
        ("issue_platform_messages_total", (("topic", topic), ("payload_type", "occurrence"))): 7,
        ("issue_platform_messages_total", (("topic", topic), ("payload_type", "status_change"))): 1,
        ("issue_platform_messages_total", (("topic", topic), ("payload_type", "rejected"))): 1,
        ("issue_platform_occurrences_total", (("type", SLUG), ("outcome", "created"))): 3,
        ("issue_platform_occurrences_total", (("type", SLUG), ("outcome", "applied"))): 3,
        ("issue_platform_occurrences_total", (("type", SLUG), ("outcome", "duplicate"))): 1,
        ("issue_platform_dlq_total", (("reason", "invalid_json"),)): 1,
        ("issue_platform_status_changes_total", (("outcome", "applied"),)): 1,
        ("issue_platform_transitions_total", (("kind", "regression"),)): 1,
        # One per applied occurrence: three creations, two repeats and the regression (spec §18.1).
        ("issue_platform_post_process_total", (("type", SLUG),)): 6,
        ("issue_platform_sink_parked_total", ()): 0,
    }
    activities = deployment.query("SELECT type, count(*) FROM activities GROUP BY type")
    names = {1: "set_resolved", 2: "set_unresolved", 6: "set_regression", 9: "first_seen"}
    for activity_type, count in activities:
        expected[("issue_platform_activity_total", (("type", names.get(activity_type, str(activity_type))),))] = count
    assert ("issue_platform_activity_total", (("type", "set_regression"),)) in expected

    def moved() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        _, after = scrape(worker)
        return {key: value(after, key[0], **dict(key[1])) - value(before, key[0], **dict(key[1]))
                for key in expected}

    # The sink counts right after its commit: a moment after Postgres shows it.
    wait_for(lambda: moved() == expected, timeout=30, interval=0.5, what="the counters of the workload")
    assert moved() == expected  # and no more: nothing counted twice

    _, after = scrape(worker)
    assert value(after, "issue_platform_end_to_end_seconds_count") >= 8  # every applied change but the no-ops
    assert value(after, "issue_platform_sink_batch_size_count") >= 3
    assert value(after, "issue_platform_sink_batch_size_sum") >= 10
    assert value(after, "issue_platform_sink_batch_seconds_count") == value(
        after, "issue_platform_sink_batch_size_count")
    post_process = asyncio.run(consume_all(deployment.topic("issue-platform-post-process"), expected=6))
    assert len({record.value for record in post_process}) == 6  # the counter matches the topic

    # The consumer lag of every input partition, 0 once everything is read.
    def input_lags() -> dict[str, float]:
        _, samples = scrape(worker)
        return {dict(labels)["partition"]: amount for (name, labels), amount in samples.items()
                if name == "issue_platform_consumer_lag" and dict(labels)["topic"] == topic}

    def settled_lags() -> dict[str, float] | None:
        found = input_lags()
        return found if found and not any(found.values()) else None

    lags = wait_for(settled_lags, timeout=60, interval=1, what="every input partition's lag 0")
    assert set(lags) == {str(partition) for partition in range(deployment.partitions)}

    # The gauge of unaccounted offsets follows the audit this worker ran.
    audit = get(worker, "audit/").json
    _, samples = scrape(worker, "/api/0/metrics/")
    unaccounted = {dict(labels)["partition"]: amount for (name, labels), amount in samples.items()
                   if name == "issue_platform_unaccounted_offsets"}
    assert set(unaccounted) == {str(partition["partition"]) for partition in audit["partitions"]}
    assert sum(unaccounted.values()) == audit["unaccounted"]

    # LOG_FORMAT=json: once Faust has set up logging, every log line is a JSON object.
    lines = [_json(line) for line in worker.log().splitlines() if line.startswith("{")]
    created = [line for line in lines if line and "created issue" in line["message"]]
    assert len(created) == 3
    assert {"time", "level", "logger", "message"} <= set(created[0]) and created[0]["logger"] == "streams.agents.sink"


def _json(line: str) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None
