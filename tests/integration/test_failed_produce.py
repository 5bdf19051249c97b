"""A produce that fails after the client's retries stops the worker before its input is committed (§2.4.8).

The fault is injected (ISSUE_PLATFORM_FAULT_INJECTION, test only): the 4th group change the worker sends is
not sent and its delivery fails as a timeout would. The worker must exit non-zero with one line naming the
topic, and a restart without the fault must end with every occurrence counted exactly once.
"""
from __future__ import annotations

import asyncio

import orjson
import pytest

from streams.core.fingerprint import group_key, hash_fingerprint
from tests.integration.harness import Deployment, make_occurrence, produce, wait_for

pytestmark = pytest.mark.integration

BULK = 9801  # tests/integration/plugin_types.py: no noise gate, a quota that never refuses
FINGERPRINTS = [f"failed-produce-{index}" for index in range(8)]


def test_a_failed_produce_stops_the_worker_and_a_restart_loses_and_doubles_nothing(deployment: Deployment) -> None:
    deployment.extra_env["ISSUE_PLATFORM_FAULT_INJECTION"] = "fail_produce:issue-platform-group-changes:4"
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    picks = [fp for fp in FINGERPRINTS for _ in range(2)]  # two occurrences of each: 16 inputs
    asyncio.run(produce(deployment.topic("ingest-occurrences"),
                        [(None, orjson.dumps(make_occurrence(1, fp, type_id=BULK))) for fp in picks]))

    exit_code = wait_for(lambda: worker.process.poll(), timeout=120, what="the worker to stop on the failed produce")
    assert exit_code != 0
    stop_lines = [line for line in worker.log().splitlines() if "failed: KafkaTimeoutError" in line]
    assert len(stop_lines) == 1, worker.log()[-3000:]
    assert deployment.topic("issue-platform-group-changes") in stop_lines[0]
    assert "injected" in stop_lines[0]

    del deployment.extra_env["ISSUE_PLATFORM_FAULT_INJECTION"]
    deployment.restart_worker(worker)
    expected = {group_key(1, hash_fingerprint([fp])): 2 for fp in FINGERPRINTS}
    wait_for(lambda: dict(deployment.query("SELECT group_key, times_seen FROM groups")) == expected, timeout=180,
             interval=1, what="every group with both of its occurrences")
    # Exactly once: every occurrence row once, every hourly count once, no duplicate counted.
    assert deployment.query("SELECT count(*) FROM occurrences")[0][0] == len(picks)
    assert deployment.query("SELECT coalesce(sum(count), 0) FROM hourly_counts")[0][0] == len(picks)
    assert deployment.query("SELECT coalesce(sum(count), 0) FROM drop_counters")[0][0] == 0
