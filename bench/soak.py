"""Soak: memory, RocksDB and changelogs stay flat under steady traffic (issue 15 item 5, bounded state).

Runs one real worker (services from `make services`) at a steady rate. Half the occurrences are new
fingerprints of a type with NoiseConfig(3, 8 s): each is held back and writes its noise windows, a dedupe
record and its key's state in `groups`, all of which must expire. The other half repeat a fixed set of
hot group keys without a noise gate: their groups exist, so they exercise the group state, the sink and
the hourly counts. Every sample reads the worker's RSS, counts the keys of those tables in the worker's
RocksDB (opened read-only beside the running worker), the size of its data dir and of RocksDB's
write-ahead log, and the bytes of the deployment's changelog topics in the broker's log directory. With
window expiry, the idle-key sweep and compaction working, every figure levels off after the first windows
instead of growing with the occurrences sent. JSON and a PNG go to bench/results/.

    .venv/bin/python -m bench.soak --minutes 30 --rate 200
"""
from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from rocksdict import AccessType, Options, Rdict

from bench.e2e import RESULTS_DIR, git, machine
from bench.topics import delete_topics_containing
from tests.integration.harness import BROKER, REPO_ROOT, Deployment, make_occurrence

SHORT_NOISE = 9803  # tests/integration/plugin_types.py: NoiseConfig(3, 8 s)
HOT_TYPE = 4001  # no noise gate, a large creation quota
HOT_KEYS = 200
KAFKA_DATA = Path(os.environ.get("ISSUE_PLATFORM_CACHE", REPO_ROOT / ".cache")) / "kafka" / "data"
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
                index = sent[0]
                occurrence = (make_occurrence(1, f"soak-{index}", type_id=SHORT_NOISE) if index % 2 else
                              make_occurrence(2, f"hot-{index // 2 % HOT_KEYS}", type_id=HOT_TYPE))
                await producer.send(topic, orjson.dumps(occurrence))
                sent[0] += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        await producer.flush()
    finally:
        await producer.stop()


def log_bytes(path: Path) -> int:
    """RocksDB's write-ahead logs: what a memtable holds until it is flushed to a table file."""
    return sum(f.stat().st_size for f in path.glob("**/tables/*.db/*.log") if f.is_file())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def changelog_bytes(deployment: Deployment) -> dict[str, int] | None:
    """Bytes of each of the deployment's changelogs (all its partitions) in the broker's log directory, by
    table; None without access to it. One total hides which table does not level off."""
    if not KAFKA_DATA.is_dir():
        return None
    sizes: dict[str, int] = {}
    for path in KAFKA_DATA.iterdir():
        if path.name.startswith(deployment.topic_prefix) and "changelog" in path.name:
            table = path.name.rsplit("-", 1)[0].split(f"{deployment.name}-", 1)[-1].removesuffix("-changelog")
            # Segment files only: the broker preallocates its index files (10 MB each, sparse).
            sizes[table] = sizes.get(table, 0) + sum(segment.stat().st_size for segment in path.glob("*.log"))
    return sizes


def plot(samples: list[dict[str, Any]], path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    minutes = [sample["seconds"] / 60 for sample in samples]
    figure, axes = plt.subplots(3, 1, sharex=True, figsize=(8, 8))
    axes[0].plot(minutes, [sample["rss_mb"] for sample in samples], label="worker RSS")
    axes[0].set_ylabel("MB")
    axes[0].legend(loc="upper left")
    axes[0].set_title(title)
    axes[1].plot(minutes, [sample["data_dir_mb"] for sample in samples], label="RocksDB data dir")
    axes[1].plot(minutes, [sample["wal_mb"] for sample in samples], label="of it write-ahead log")
    if samples and samples[-1]["changelog_mb"] is not None:
        axes[1].plot(minutes, [sample["changelog_mb"] for sample in samples], label="changelog topics (broker)")
        tables = sorted({table for sample in samples for table, size in (sample.get("changelog_mb_by_table") or {})
                         .items() if size >= 1})
        for table in tables:
            axes[1].plot(minutes, [(sample.get("changelog_mb_by_table") or {}).get(table, 0) for sample in samples],
                         label=f"of it {table}", linestyle="--", linewidth=1)
    axes[1].set_ylabel("MB")
    axes[1].legend(loc="upper left")
    for name in ("noise_keys", "seen_keys", "groups_keys"):
        axes[2].plot(minutes, [sample[name] for sample in samples], label=name.replace("_", " "))
    axes[2].set_ylabel("table keys")
    axes[2].set_xlabel("minutes")
    axes[2].legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


async def main(minutes: float, rate: int, every: float, sweep_seconds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="soak-"))
    deployment = Deployment(root=root)
    deployment.extra_env.update(ISSUE_PLATFORM_TABLE_CLEANUP_SECONDS="2",
                                ISSUE_PLATFORM_DEDUPE_WINDOW_SECONDS=str(DEDUPE_SECONDS),
                                ISSUE_PLATFORM_IDLE_KEY_SWEEP_SECONDS=str(sweep_seconds))
    deployment.create_database()
    errors: list[str] = []
    try:
        assert deployment.cli("migrate").returncode == 0
        worker = deployment.start_worker()
        while "Worker ready" not in worker.log():
            await asyncio.sleep(1)
        data_dir = root / "data-0"
        sent = [0]
        producing = asyncio.create_task(
            produce_steadily(deployment.topic("ingest-occurrences"), rate, minutes * 60, sent))
        print(f"{'t (s)':>6} {'sent':>8} {'RSS MB':>7} {'noise-8s keys':>14} "
              f"{f'seen-ids-{DEDUPE_SECONDS}s keys':>19} {'groups keys':>12} {'data dir MB':>12} "
              f"{'of it WAL MB':>13} {'changelogs MB':>14}")
        started = time.monotonic()
        samples: list[dict[str, Any]] = []
        while not producing.done():
            await asyncio.sleep(every)
            changelogs = changelog_bytes(deployment)
            sample = {
                "seconds": round(time.monotonic() - started, 1), "sent": sent[0],
                "rss_mb": round(rss_mb(worker.process.pid), 1),
                "noise_keys": table_keys(data_dir, "noise-8s"),
                "seen_keys": table_keys(data_dir, f"seen-ids-{DEDUPE_SECONDS}s"),
                "groups_keys": table_keys(data_dir, "groups"),
                "data_dir_mb": round(directory_bytes(data_dir) / 1e6, 2),
                "wal_mb": round(log_bytes(data_dir) / 1e6, 2),
                "changelog_mb": round(sum(changelogs.values()) / 1e6, 2) if changelogs is not None else None,
                "changelog_mb_by_table": {table: round(size / 1e6, 2) for table, size in sorted(changelogs.items())}
                if changelogs is not None else None,
            }
            samples.append(sample)
            print(f"{sample['seconds']:>6.0f} {sample['sent']:>8} {sample['rss_mb']:>7.0f} {sample['noise_keys']:>14} "
                  f"{sample['seen_keys']:>19} {sample['groups_keys']:>12} {sample['data_dir_mb']:>12.1f} "
                  f"{sample['wal_mb']:>13.1f} {sample['changelog_mb'] if changelogs is not None else '-':>14}",
                  flush=True)
        await producing
        worker.stop()
        print(f"after a clean stop: data dir {directory_bytes(data_dir) / 1e6:.1f} MB")
        # A long run is where Faust's liveness checks speak (after stream_processing_timeout, 300 s): an ERROR
        # line of a healthy worker is a bug (issue 11: an ERROR line must mean something).
        errors = [line for line in worker.log().splitlines() if "[ERROR]" in line]
        print(f"worker log: {len(errors)} ERROR lines" + "".join(f"\n  {line[:300]}" for line in errors[:5]))
    finally:
        deployment.stop_workers()
        deployment.drop_database()
        await delete_topics_containing(deployment.name)
    write_results(samples, minutes=minutes, rate=rate, error_lines=errors)


def trend(samples: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The figure at the end of the first third (after the first windows) and at the end, and their ratio."""
    if len(samples) < 3 or samples[-1][name] is None:
        return {}
    early, last = samples[len(samples) // 3][name], samples[-1][name]
    return {"after_first_third": early, "at_end": last, "end_over_first_third": round(last / early, 3) if early else None}


def write_results(samples: list[dict[str, Any]], *, minutes: float, rate: int, error_lines: list[str]) -> None:
    commit = git("rev-parse", "HEAD")
    report = {
        "benchmark": "soak", "date": datetime.now(UTC).isoformat(timespec="seconds"), "git_commit": commit,
        "machine": machine(), "minutes": minutes, "rate_per_second": rate,
        "workload": "half new fingerprints of NoiseConfig(3, 8 s) (held back, expire), half repeats of "
                    f"{HOT_KEYS} hot group keys of type {HOT_TYPE}",
        "trends": {name: trend(samples, name) for name in
                   ("rss_mb", "data_dir_mb", "changelog_mb", "noise_keys", "seen_keys", "groups_keys")},
        "worker_log_error_lines": len(error_lines),
        "worker_log_errors_first": error_lines[:20],
        "samples": samples,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"soak-{datetime.now(UTC):%Y%m%d-%H%M%S}-{commit[:7]}"
    (RESULTS_DIR / f"{stem}.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    plotted = plot(samples, RESULTS_DIR / f"{stem}.png", f"soak: {minutes:g} min at {rate}/s, one worker "
                                                         f"({report['date'][:10]})")
    for name, figures in report["trends"].items():
        if figures:
            print(f"{name}: {figures['after_first_third']} after the first third, {figures['at_end']} at the end")
    print(f"results: bench/results/{stem}.json" + (" (+ .png)" if plotted else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=int, default=200, help="occurrences per second")
    parser.add_argument("--every", type=float, default=20, help="seconds between samples")
    parser.add_argument("--sweep", type=int, default=10, help="idle-key sweep interval, seconds (streams/timers/idle_keys.py)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.minutes, arguments.rate, arguments.every, arguments.sweep))
