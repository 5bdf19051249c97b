"""Benchmark of the sink alone: rows/s of the batch writer vs a naive one-transaction-per-change writer.

Run with the services up (`make services`):  .venv/bin/python -m bench.sink_bench
Each batch size is measured in the same run against a fresh database, so the ratio is like for like.
"""
from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import psycopg

from bench.workload import group_changes
from storage.migrate import migrate
from storage.sink_plan import ChangeRecord
from storage.sink_writer import write_batch

ADMIN_URL = "postgresql://issue_platform:issue_platform@127.0.0.1:5432/issue_platform"
TOPIC = "issue-platform-group-changes"


def fresh_database() -> tuple[str, str]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)
    return name, url


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def records(total: int, partition: int) -> list[ChangeRecord]:
    # About three changes per fingerprint (pending, created, applied): mixed inserts and updates.
    changes = group_changes(1, [f"bench-{partition}-{i}" for i in range(total // 3 + 1)], occurrences_each=2)
    return [ChangeRecord(partition, offset, change) for offset, change in enumerate(changes[:total])]


async def batched(url: str, changes: list[ChangeRecord], batch_size: int) -> float:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        # One untimed batch first: psycopg prepares a statement on its fifth use, and the naive writer
        # below reaches that in its warm-up too, so both are measured in their steady state.
        for _ in range(WARM_UP_BATCHES):
            async with conn.transaction():
                await write_batch(conn, TOPIC, changes[:batch_size])
        timed = changes[batch_size:]
        started = time.perf_counter()
        for start in range(0, len(timed), batch_size):
            async with conn.transaction():
                await write_batch(conn, TOPIC, timed[start:start + batch_size])
        return time.perf_counter() - started


async def naive(url: str, changes: list[ChangeRecord]) -> float:
    """What a straightforward consumer does: one transaction per change, committed before the next, each
    statement waiting for the one before. It runs the batch writer's statements, so the ratio measures
    batching and pipelining, the two things the batch writer does that a per-change writer does not.
    """
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for change in changes[:NAIVE_WARM_UP]:
            async with conn.transaction():
                await write_batch(conn, TOPIC, [change], pipeline=False)
        started = time.perf_counter()
        for change in changes[NAIVE_WARM_UP:]:
            async with conn.transaction():
                await write_batch(conn, TOPIC, [change], pipeline=False)
        return time.perf_counter() - started


async def main(sizes: list[int], changes_per_size: int, naive_changes: int) -> None:
    # The naive writer's rate does not depend on a batch size: measured once, in the same run.
    name, url = fresh_database()
    try:
        naive_rate = naive_changes / await naive(url, records(naive_changes + NAIVE_WARM_UP, 1))
    finally:
        drop_database(name)
    print(f"naive writer: {naive_rate:,.0f} rows/s over {naive_changes} changes")
    print(f"{'batch':>6} {'changes':>8} {'batched rows/s':>15} {'ratio':>7}")
    for size in sizes:
        # At least ten timed batches, so one slow commit does not decide the figure.
        total = max(changes_per_size, 10 * size)
        name, url = fresh_database()
        try:
            batched_seconds = await batched(url, records(total + size * WARM_UP_BATCHES, 0), size)
        finally:
            drop_database(name)
        batched_rate = total / batched_seconds
        print(f"{size:>6} {total:>8} {batched_rate:>15,.0f} {batched_rate / naive_rate:>6.1f}x")


WARM_UP_BATCHES = 1
NAIVE_WARM_UP = 20

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="batch sizes, comma-separated")
    parser.add_argument("--changes", type=int, default=10_000, help="timed changes per batch size (at least 10 batches)")
    parser.add_argument("--naive-changes", type=int, default=2_000, help="timed changes for the naive writer")
    arguments = parser.parse_args()
    asyncio.run(main([int(s) for s in arguments.sizes.split(",")], arguments.changes, arguments.naive_changes))
