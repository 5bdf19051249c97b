"""Soak: windowed state stays flat under steady traffic (issue "Grouping engine", bounded state).

Runs one real worker (services from `make services`) and produces new fingerprints of a type with
NoiseConfig(3, 8 s) at a steady rate: every occurrence is held back and writes its noise windows, a
dedupe record and its key's state in `groups`. Every sample counts the keys of those tables in the
worker's RocksDB (opened read-only beside the running worker), the size of its data dir and how much of
it is RocksDB's write-ahead log. With window expiry and the idle-key sweep working, the counts level off
after a few windows instead of growing with the number of occurrences sent.

    .venv/bin/python -m bench.soak --minutes 5 --rate 100
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from rocksdict import AccessType, Options, Rdict

from tests.integration.harness import BROKER, Deployment, make_occurrence

SHORT_NOISE = 9803  # tests/integration/plugin_types.py: NoiseConfig(3, 8 s)
DEDUPE_SECONDS = 60
FAUST_OFFSET_KEY = b"__faust\x00offset__"


def table_keys(data_dir: Path, table: str) -> int:
    total = 0
    for db_path in data_dir.glob(f"**/tables/{table}-*.db"):
        try:
            db = Rdict(str(db_path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        except Exception:  # a partition being opened or closed right now: skip this sample of it
            continue
        try:
            total += sum(1 for key in db.keys() if key != FAUST_OFFSET_KEY)
        finally:
            db.close()
    return total


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


async def produce_steadily(topic: str, rate: int, seconds: float, sent: list[int]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            tick = time.monotonic()
            for _ in range(rate):
                await producer.send(topic, orjson.dumps(make_occurrence(1, f"soak-{sent[0]}", type_id=SHORT_NOISE)))
                sent[0] += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        await producer.flush()
    finally:
        await producer.stop()


def log_bytes(path: Path) -> int:
    """RocksDB's write-ahead logs: what a memtable holds until it is flushed to a table file."""
    return sum(f.stat().st_size for f in path.glob("**/tables/*.db/*.log") if f.is_file())


async def main(minutes: float, rate: int, every: float, sweep_seconds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="soak-"))
    deployment = Deployment(root=root)
    deployment.extra_env.update(ISSUE_PLATFORM_TABLE_CLEANUP_SECONDS="2",
                                ISSUE_PLATFORM_DEDUPE_WINDOW_SECONDS=str(DEDUPE_SECONDS),
                                ISSUE_PLATFORM_IDLE_KEY_SWEEP_SECONDS=str(sweep_seconds))
    deployment.create_database()
    try:
        assert deployment.cli("migrate").returncode == 0
        worker = deployment.start_worker()
        while "Worker ready" not in worker.log():
            await asyncio.sleep(1)
        data_dir = root / "data-0"
        sent = [0]
        producing = asyncio.create_task(
            produce_steadily(deployment.topic("ingest-occurrences"), rate, minutes * 60, sent))
        print(f"{'t (s)':>6} {'sent':>8} {'noise-8s keys':>14} {f'seen-ids-{DEDUPE_SECONDS}s keys':>19} "
              f"{'groups keys':>12} {'data dir MB':>12} {'of it WAL MB':>13}")
        started = time.monotonic()
        while not producing.done():
            await asyncio.sleep(every)
            noise = table_keys(data_dir, "noise-8s")
            seen = table_keys(data_dir, f"seen-ids-{DEDUPE_SECONDS}s")
            groups = table_keys(data_dir, "groups")
            print(f"{time.monotonic() - started:>6.0f} {sent[0]:>8} {noise:>14} {seen:>19} {groups:>12} "
                  f"{directory_bytes(data_dir) / 1e6:>12.1f} {log_bytes(data_dir) / 1e6:>13.1f}", flush=True)
        await producing
        worker.stop()
        print(f"after a clean stop: data dir {directory_bytes(data_dir) / 1e6:.1f} MB")
    finally:
        deployment.stop_workers()
        deployment.drop_database()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--rate", type=int, default=100, help="occurrences per second")
    parser.add_argument("--every", type=float, default=20, help="seconds between samples")
    parser.add_argument("--sweep", type=int, default=10, help="idle-key sweep interval, seconds (streams/timers/idle_keys.py)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.minutes, arguments.rate, arguments.every, arguments.sweep))
