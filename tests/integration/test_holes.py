"""A record the consumer skips makes the worker start over before anything past it is committed (spec §2.4.9).

The fault is injected (ISSUE_PLATFORM_FAULT_INJECTION=skip_delivery, test only): Faust's consumer never hands
on the first record it fetches at offset 2 of the chosen topic, as it did around rebalances, and marks the
offset done. The worker must log one line naming the topic, partition and offsets, and start over in its own
process (same pid: nobody has to restart it), or, with `ISSUE_PLATFORM_SELF_RESTARTS_MAX=0`, exit non-zero
for its supervisor; either way, the run after it must end with every occurrence counted exactly once: the
skipped record was read again from the committed offset.
"""
from __future__ import annotations

import asyncio
import urllib.request

import orjson
import pytest

from streams.core.fingerprint import group_key, hash_fingerprint
from tests.integration.harness import Deployment, make_occurrence, produce, wait_for

pytestmark = pytest.mark.integration

BULK = 9801  # tests/integration/plugin_types.py: no noise gate, a quota that never refuses
FINGERPRINTS = [f"hole-{index}" for index in range(8)]
SKIPPED = 2


@pytest.mark.parametrize("in_place", [True, False], ids=["restarts-in-place", "exits"])
@pytest.mark.parametrize(("topic", "why"), [
    # Transaction markers may take offsets there: the range is read before stopping.
    ("ingest-occurrences", f"(offset {SKIPPED} holds a record never handed to an agent)"),
    # Written by us without transactions: stopped at once.
    ("issue-platform-grouping", "(the records in between were never handed to an agent)"),
])
def test_a_skipped_record_starts_the_worker_over_and_the_next_run_counts_every_occurrence_once(
    deployment: Deployment, topic: str, why: str, in_place: bool,
) -> None:
    deployment.extra_env["ISSUE_PLATFORM_FAULT_INJECTION"] = f"skip_delivery:{topic}:{SKIPPED}"
    if not in_place:
        deployment.extra_env["ISSUE_PLATFORM_SELF_RESTARTS_MAX"] = "0"
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    # Four occurrences of each fingerprint: every grouping partition in use gets offsets 0-3 at least, so the
    # record after the skipped one arrives. One key: every input lands on one ingest partition, 0-31.
    picks = [fp for fp in FINGERPRINTS for _ in range(4)]
    asyncio.run(produce(deployment.topic("ingest-occurrences"),
                        [(b"one-partition", orjson.dumps(make_occurrence(1, fp, type_id=BULK))) for fp in picks]))

    hole_line = f": expected offset {SKIPPED}, got offset {SKIPPED + 1} {why}; "
    if in_place:
        restart_lines = wait_for(
            lambda: [line for line in worker.log().splitlines() if "restarting the worker in place" in line],
            timeout=120, what="the worker to start over on the hole")
        assert len(restart_lines) == 1, worker.log()[-3000:]
        assert f"hole in {deployment.topic(topic)} partition " in restart_lines[0]
        assert hole_line in restart_lines[0]
        assert "(1 of at most 5 in 10 minutes)" in restart_lines[0]
        first_run = worker.log().index(restart_lines[0]) + len(restart_lines[0])
    else:
        exit_code = wait_for(lambda: worker.process.poll(), timeout=120, what="the worker to stop on the hole")
        assert exit_code == 70
        stop_lines = [line for line in worker.log().splitlines() if "stopping the worker" in line]
        assert len(stop_lines) == 1, worker.log()[-3000:]
        assert f"hole in {deployment.topic(topic)} partition " in stop_lines[0]
        assert hole_line in stop_lines[0]
        del deployment.extra_env["ISSUE_PLATFORM_FAULT_INJECTION"]
        first_run = len(worker.log())
        worker = deployment.restart_worker(worker)
    expected = {group_key(1, hash_fingerprint([fp])): 4 for fp in FINGERPRINTS}
    wait_for(lambda: dict(deployment.query("SELECT group_key, times_seen FROM groups")) == expected, timeout=180,
             interval=1, what="every group with all four of its occurrences")
    # Exactly once: every occurrence row once, every hourly count once, no duplicate counted.
    assert deployment.query("SELECT count(*) FROM occurrences")[0][0] == len(picks)
    assert deployment.query("SELECT coalesce(sum(count), 0) FROM hourly_counts")[0][0] == len(picks)
    assert deployment.query("SELECT coalesce(sum(count), 0) FROM drop_counters")[0][0] == 0
    assert "hole in" not in worker.log()[first_run:]  # the next run read the skipped record: no hole
    assert "no seek was recorded" not in worker.log()  # every partition was checked from its seek on
    assert worker.process.poll() is None  # the same process (in place) or its restart, running
    # The new run listens on the port the old one had (its socket closed with the exec).
    assert wait_for(lambda: _health(worker.web_port), timeout=60, what="the worker's web API") == 200


def _health(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/0/health/", timeout=5) as response:
            return int(response.status)
    except OSError:
        return None
