"""Restart and join after a long run: how soon a worker processes again (issue 11 item 6 budgets).

    .venv/bin/python -m bench.recovery --occurrences 1000000 --commit HEAD

1. An isolated deployment (as bench/e2e.py) and one worker; the firehose (bench/firehose.py, in chunks of
   `--chunk` occurrences with different seeds) produced until `--occurrences` inputs have an outcome in
   Postgres.
2. Clean restart: SIGTERM, then the same data directory again. Ready = a probe occurrence of a new project,
   produced as the worker starts, has its group in Postgres; measured from the moment the new process starts.
3. Restart after `kill -9`: the same, after a kill (Faust then rebuilds its tables from the changelogs).
4. Join: a second worker with an empty data directory starts beside the first. Taken over = it logged that
   its recovery is complete and one probe for every grouping partition, produced after that, has its group
   in Postgres; measured from the moment the second process starts.

Budgets (issue 11): ready within 30 s after 1,000,000 occurrences; a joining worker takes over within 60 s.
Writes bench/results/recovery-<date>-<commit>.json.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from aiokafka.partitioner import murmur2

from bench.e2e import (
    RESULTS_DIR,
    bench_deployment,
    code_under_test,
    git,
    machine,
    produce_all,
    read_progress,
    start_worker,
    wait_until_ready,
)
from bench.firehose import FirehoseConfig, generate
from bench.topics import delete_topics_containing
from streams.core.fingerprint import group_key, hash_fingerprint
from tests.integration.harness import Deployment, Worker, make_occurrence, wait_for

PROBE_TYPE = 4001  # no noise gate: one occurrence makes a group
PROBE_PROJECT = 2_000_000  # outside every project of the firehose


def partition_of(key: str, partitions: int) -> int:
    """The grouping partition of a group key, as the producer's default partitioner picks it."""
    return (murmur2(orjson.dumps(key)) & 0x7FFFFFFF) % partitions


def probes(tag: str, partitions: int) -> list[tuple[str, dict[str, Any]]]:
    """One (group key, occurrence) of a new project for every grouping partition."""
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    n = 0
    while len(found) < partitions:
        fingerprint = f"{tag}-{n}"
        key = group_key(PROBE_PROJECT, hash_fingerprint([fingerprint]))
        found.setdefault(partition_of(key, partitions),
                         (key, make_occurrence(PROBE_PROJECT, fingerprint, type_id=PROBE_TYPE)))
        n += 1
    return [found[p] for p in sorted(found)]


def send_probes(deployment: Deployment, batch: list[tuple[str, dict[str, Any]]]) -> None:
    asyncio.run(produce_all(deployment.topic("ingest-occurrences"),
                            [(key.encode(), orjson.dumps(occurrence)) for key, occurrence in batch]))


def groups_present(conn: psycopg.Connection[Any], keys: list[str]) -> bool:
    row = conn.execute("SELECT count(*) FROM groups WHERE group_key = ANY(%s)", (keys,)).fetchone()
    return row is not None and row[0] == len(keys)


def fill(deployment: Deployment, conn: psycopg.Connection[Any], *, total: int, chunk: int,
         stall_seconds: float) -> dict[str, Any]:
    """Produce the firehose in chunks until `total` inputs have an outcome; the seconds and inputs it took."""
    started = time.time()
    produced = 0
    seed = 100
    while produced < total:
        size = min(chunk, total - produced)
        firehose = generate(FirehoseConfig(occurrences=size, seed=seed, status_changes=0,
                                           base_time=float(int(time.time()))))
        asyncio.run(produce_all(deployment.topic("ingest-occurrences"),
                                [(m.key, m.value) for m in firehose.occurrence_messages]))
        produced += len(firehose.occurrence_messages)
        seed += 1
        print(f"  produced {produced:,}; {read_progress(conn).accounted:,} accounted", flush=True)
    last, moved = -1, time.monotonic()
    while True:
        accounted = read_progress(conn).accounted
        if accounted >= produced:
            break
        if accounted != last:
            last, moved = accounted, time.monotonic()
            print(f"  {accounted:,} of {produced:,} accounted", flush=True)
        if time.monotonic() - moved > stall_seconds:
            raise RuntimeError(f"stalled at {accounted:,} of {produced:,} inputs")
        time.sleep(5)
    return {"inputs": produced, "seconds": round(time.time() - started, 1)}


def restart_ready(deployment: Deployment, conn: psycopg.Connection[Any], worker: Worker, *, kill: bool,
                  tag: str, timeout: float) -> tuple[Worker, float]:
    if kill:
        deployment.kill_worker(worker)
    else:
        worker.signal_stop()
        worker.wait_stopped()
    started = time.monotonic()
    restarted = deployment.restart_worker(worker)
    probe = probes(tag, 1)
    send_probes(deployment, probe)
    wait_for(lambda: groups_present(conn, [probe[0][0]]), timeout=timeout, interval=0.5,
             what=f"the probe after the {'kill' if kill else 'restart'}")
    return restarted, time.monotonic() - started


def join(deployment: Deployment, conn: psycopg.Connection[Any], partitions: int, *, timeout: float) -> dict[str, float]:
    started = time.monotonic()
    joined = deployment.start_worker()
    wait_for(lambda: "Worker ready" in joined.log(), timeout=timeout, interval=0.5,
             what="the joining worker's recovery")
    recovered = time.monotonic() - started
    batch = probes("join", partitions)
    send_probes(deployment, batch)
    wait_for(lambda: groups_present(conn, [key for key, _ in batch]), timeout=timeout, interval=0.5,
             what="a probe on every grouping partition")
    return {"recovered_seconds": round(recovered, 1), "took_over_seconds": round(time.monotonic() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--occurrences", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--commit", help="run the workers on this commit's code instead of the working tree")
    parser.add_argument("--stall-seconds", type=float, default=180)
    parser.add_argument("--timeout", type=float, default=600, help="seconds each restart or join may take")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    arguments = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    commit = git("rev-parse", "--verify", f"{arguments.commit}^{{commit}}") if arguments.commit else None
    deployment = bench_deployment("bench-recovery-", commit)
    deployment.create_database()
    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                               **code_under_test(commit), "budgets": {"restart_seconds": 30, "join_seconds": 60}}
    try:
        if deployment.cli("migrate").returncode != 0:
            raise RuntimeError("migrate failed")
        worker = start_worker(deployment)
        with psycopg.connect(deployment.database_url, autocommit=True) as conn:
            wait_until_ready(deployment, worker, conn, 300)
            results["fill"] = fill(deployment, conn, total=arguments.occurrences, chunk=arguments.chunk,
                                   stall_seconds=arguments.stall_seconds)
            print(f"filled: {results['fill']}", flush=True)
            worker, seconds = restart_ready(deployment, conn, worker, kill=False, tag="restart",
                                            timeout=arguments.timeout)
            results["restart_seconds"] = round(seconds, 1)
            print(f"clean restart: ready in {seconds:.1f} s", flush=True)
            worker, seconds = restart_ready(deployment, conn, worker, kill=True, tag="kill",
                                            timeout=arguments.timeout)
            results["restart_after_kill_seconds"] = round(seconds, 1)
            print(f"restart after kill -9: ready in {seconds:.1f} s", flush=True)
            results["join"] = join(deployment, conn, deployment.partitions, timeout=arguments.timeout)
            print(f"join: {results['join']}", flush=True)
    finally:
        deployment.stop_workers()
        if not arguments.keep:
            deployment.drop_database()
            asyncio.run(delete_topics_containing(deployment.name))
    arguments.results_dir.mkdir(parents=True, exist_ok=True)
    path = arguments.results_dir / f"recovery-{datetime.now(UTC):%Y%m%d-%H%M%S}-{results['git_commit'][:7]}.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
