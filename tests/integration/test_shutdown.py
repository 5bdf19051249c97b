"""A worker exits within 30 s of SIGTERM, even in the middle of a rebalance (issue 11 item 5, streams/lifecycle.py)."""
from __future__ import annotations

import signal
import subprocess
import time

import pytest

from streams.lifecycle import GAVE_UP_EXIT_STATUS, MARKER_NAME
from tests.integration.harness import Deployment, Worker, wait_for

pytestmark = pytest.mark.integration

REVOKING = "Revoking previously assigned partitions"
GAVE_UP = "shutdown: not stopped"


def wait_ready(worker: Worker, times: int = 1) -> None:
    wait_for(lambda: worker.log().count("Worker ready") >= times, timeout=120, what="the worker to be ready")


def sigterm_and_time(worker: Worker) -> tuple[int, float]:
    """Exit status and seconds from SIGTERM to exit (the harness would kill it at 40 s)."""
    started = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    try:
        status = worker.process.wait(40)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait(10)
        raise AssertionError(f"no exit within 40 s of SIGTERM; log tail:\n{worker.log()[-3000:]}") from None
    return status, time.monotonic() - started


def test_a_worker_sent_sigterm_mid_rebalance_gives_up_within_30_seconds_and_rebuilds_at_the_next_start(
    deployment: Deployment,
) -> None:
    # A member killed with -9 stays in the group until its session times out, and the rebalance its restart
    # starts waits for it; a stop meanwhile waits in aiokafka's GroupCoordinator.close for that rebalance
    # (streams/faust_compat/shutdown.py has the evidence). Our default of 10 s usually lets that rebalance
    # end first; Faust's 60 s, which a deployment may still set, reproduces the stop that must give up.
    deployment.extra_env["ISSUE_PLATFORM_GROUP_SESSION_TIMEOUT_SECONDS"] = "60"
    assert deployment.cli("migrate").returncode == 0
    for _ in range(3):
        deployment.start_worker()
    for worker in deployment.workers:
        wait_ready(worker)
    survivor = deployment.workers[0]
    rebalances = survivor.log().count(REVOKING)
    crashed = deployment.workers[1]
    deployment.kill_worker(crashed)
    deployment.restart_worker(crashed)
    wait_for(lambda: survivor.log().count(REVOKING) > rebalances, timeout=60, interval=0.1,
             what="the rebalance to reach the survivor")

    status, seconds = sigterm_and_time(survivor)

    log = survivor.log()
    assert seconds < 30, f"exit after {seconds:.1f} s"
    assert status == GAVE_UP_EXIT_STATUS, log[-3000:]
    [line] = [line for line in log.splitlines() if GAVE_UP in line]
    assert "25 s after SIGTERM" in line
    assert "Still running: AIOKafkaConsumerThread stopping at aiokafka/" in line
    assert (deployment.root / "data-0" / MARKER_NAME).exists(), "it did not stop cleanly: the marker stays"
    restarted = deployment.restart_worker(survivor)
    wait_for(lambda: "did not stop cleanly" in restarted.log(), timeout=60, what="the tables rebuilt at the next start")


def test_an_idle_worker_sent_sigterm_stops_cleanly_in_seconds(deployment: Deployment) -> None:
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    wait_ready(worker)

    status, seconds = sigterm_and_time(worker)

    assert status == 0, worker.log()[-3000:]
    assert seconds < 10, f"exit after {seconds:.1f} s"
    assert GAVE_UP not in worker.log()
    assert not (deployment.root / "data-0" / MARKER_NAME).exists(), "a clean stop removes the marker"
