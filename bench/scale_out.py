"""Scale-out: 1, 2 and 3 workers on 12 partitions, the same firehose, and the same outcome whatever the count.

For each worker count, an isolated deployment (as bench/e2e.py builds it) gets its workers, waits until every
one answers 200 on `/api/0/ready/` (assignment, recovered tables, Postgres) and one warm-up occurrence has
gone all the way to Postgres, then the firehose (bench/firehose.py, same seed and base time) is produced as
fast as one producer can. Measured: occurrences/s from produce start to the last sink commit, the workers'
CPU time together per occurrence. Then Postgres is compared with the ground truth (bench.e2e.compare) and
with the other worker counts, group by group: times_seen, status, and the sum of the group's hourly counts
(spec §15.5.3). The worker processes share this machine's cores with Kafka and Postgres, so the rates say
how the work spreads, not what more machines would give.

    .venv/bin/python -m bench.scale_out --occurrences 20000 --workers 1 2 3
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

from bench.e2e import (
    RESULTS_DIR,
    WARM_UP_PROJECT,
    Poll,
    bench_deployment,
    compare,
    git,
    machine,
    process_cpu_seconds,
    produce_all,
    start_worker,
    wait_until_ready,
)
from bench.firehose import Firehose, FirehoseConfig, generate
from bench.topics import delete_topics_containing
from tests.integration.harness import Deployment, Worker, wait_for

OUTCOME_SQL = """
SELECT g.group_key, g.times_seen, g.status, g.substatus, coalesce(sum(h.count), 0)
FROM groups g LEFT JOIN hourly_counts h ON h.group_id = g.id
WHERE g.project_id <> %s GROUP BY g.id ORDER BY g.group_key
"""


def is_ready(worker: Worker) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/api/0/ready/", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def run(count: int, firehose: Firehose, commit: str | None, *, timeout: float) -> dict[str, Any]:
    """One deployment with `count` workers through the whole firehose; its figures and its per-group outcome."""
    deployment: Deployment = bench_deployment(f"bench-scale-{count}-", commit)
    deployment.create_database()
    try:
        migrated = deployment.cli("migrate")
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed: {migrated.stderr}")
        workers = [start_worker(deployment) for _ in range(count)]
        wait_for(lambda: all(is_ready(worker) for worker in workers), timeout=300, interval=1,
                 what=f"{count} workers ready")
        with psycopg.connect(deployment.database_url, autocommit=True) as conn:
            wait_until_ready(deployment, workers[0], conn, 300)
            truth = firehose.truth
            cpu_before = sum(process_cpu_seconds(worker.process.pid) for worker in workers)
            started = time.time()
            asyncio.run(produce_all(deployment.topic("ingest-occurrences"),
                                    [(message.key, message.value) for message in firehose.occurrence_messages]))
            poll = Poll(workers, conn, stall_seconds=120, deadline=time.monotonic() + timeout)
            done = poll.until(lambda progress: progress.occurrences_done(truth), lambda progress: None)
            cpu = sum(process_cpu_seconds(worker.process.pid) for worker in workers) - cpu_before
            ended = done.last_commit if done is not None and done.last_commit else time.time()
            if done is not None and truth.status_changes:  # after the occurrences' outcome, as bench.e2e does
                asyncio.run(produce_all(deployment.topic("ingest-occurrences"), [
                    (message.key, message.value) for message in firehose.status_change_messages]))
                done = poll.until(lambda progress: progress.status_changes_done(truth), lambda progress: None)
            checks = compare(conn, truth)
            outcome = [list(row) for row in conn.execute(OUTCOME_SQL, (WARM_UP_PROJECT,))]
        produced = len(firehose.occurrence_messages)
        seconds = ended - started
        print(f"{count} worker(s): {produced / seconds:,.0f} occ/s, {cpu / produced * 1e6:,.0f} µs CPU per "
              f"occurrence, exact: {done is not None and all(check['ok'] for check in checks.values())}",
              file=sys.stderr)
        return {
            "workers": count,
            "seconds_to_last_commit": round(seconds, 2),
            "occurrences_per_second": round(produced / seconds, 1),
            "cpu_us_per_occurrence": round(cpu / produced * 1e6, 1),
            "exact": done is not None and all(check["ok"] for check in checks.values()),
            "checks": checks,
            "outcome": outcome,
        }
    finally:
        deployment.stop_workers()
        deployment.drop_database()
        asyncio.run(delete_topics_containing(deployment.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--occurrences", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--seed", type=int, default=FirehoseConfig.seed)
    parser.add_argument("--commit", help="run the workers on this commit's code instead of the working tree")
    parser.add_argument("--timeout", type=float, default=1800)
    arguments = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    commit = git("rev-parse", "--verify", f"{arguments.commit}^{{commit}}") if arguments.commit else None
    # One base time for every run: the same bytes, so the same ground truth.
    firehose = generate(FirehoseConfig(occurrences=arguments.occurrences, seed=arguments.seed,
                                       base_time=float(int(time.time()))))
    runs = [run(count, firehose, commit, timeout=arguments.timeout) for count in arguments.workers]
    reference = runs[0]["outcome"]
    identical = all(result["outcome"] == reference for result in runs)
    report = {
        "benchmark": "scale-out",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit or git("rev-parse", "HEAD"),
        "machine": {**machine(), "load_average_after": list(os.getloadavg())},
        "produced": len(firehose.occurrence_messages),
        "groups": len(firehose.truth.groups),
        "partitions": 12,
        # Per group: times_seen, status, substatus and the sum of its hourly counts, equal for every count.
        "identical_outcome": identical,
        "runs": [{key: value for key, value in result.items() if key != "outcome"} for result in runs],
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"scale-out-{datetime.now(UTC):%Y%m%d-%H%M%S}-{report['git_commit'][:7]}.json"
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    for result in report["runs"]:
        print(f"{result['workers']} worker(s): {result['occurrences_per_second']:,.0f} occ/s, "
              f"{result['cpu_us_per_occurrence']:,.0f} µs CPU per occurrence (all workers), exact: {result['exact']}")
    print(f"groups, times_seen, status and hourly sums identical for every worker count: {identical}")
    print(f"results: {path.relative_to(RESULTS_DIR.parent.parent)}")
    return 0 if identical and all(result["exact"] for result in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
