"""PostgreSQL down for 30 s under load: the pipeline waits, then catches up, losing and doubling nothing."""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.integration.harness import Deployment, wait_for
from tests.integration.test_grouping_engine import (
    BULK,
    expected_counts,
    produce_concurrently,
    settle,
    start,
    workload,
)

# It stops the PostgreSQL cluster every other test uses: run alone (`make test` runs it after the others).
pytestmark = [pytest.mark.integration, pytest.mark.serial]

OUTAGE_SECONDS = 30


def postgres_cluster() -> tuple[str, str]:
    line = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout.split("\n")[0]
    version, name = line.split()[:2]
    return version, name


def pg_ctl(action: str) -> None:
    version, name = postgres_cluster()
    subprocess.run(["pg_ctlcluster", version, name, action], check=True, timeout=120)


async def test_postgres_down_for_thirty_seconds_loses_and_doubles_nothing(deployment: Deployment) -> None:
    start(deployment, workers=2)
    picks = workload(150, 6_000, seed=3)
    third = len(picks) // 3
    await produce_concurrently(deployment, picks[:third], type_id=BULK)
    wait_for(lambda: deployment.query("SELECT count(*) FROM occurrences") != [(0,)], timeout=120,
             what="the sink writing")
    pg_ctl("stop")
    try:
        stopped_at = time.monotonic()
        await produce_concurrently(deployment, picks[third:], type_id=BULK)  # keeps coming while it is down
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
        assert all(worker.process.poll() is None for worker in deployment.workers), "a worker died"
    finally:
        pg_ctl("start")
    wait_for(lambda: subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode == 0, timeout=60,
             what="postgres back")
    settle(deployment, expected_counts(picks))
    assert deployment.query("SELECT count(*) FROM occurrences") == [(len(picks),)]
    assert deployment.query("SELECT sum(count) FROM hourly_counts") == [(len(picks),)]
    assert deployment.query("SELECT count(*), count(DISTINCT id) FROM activities") == [(150, 150)]
    assert all(worker.process.poll() is None for worker in deployment.workers)
