"""End to end on one worker: occurrences/s from produce to Postgres commit, worker CPU per occurrence, peak RSS,
Postgres checked against the firehose's ground truth, and a raw pass-through of the same run for scale.

    make bench                                          # BENCH_OCCURRENCES=10000 by default
    .venv/bin/python -m bench.e2e --occurrences 2000 --label "after the batch rewrite"
    .venv/bin/python -m bench.e2e --commit HEAD         # the committed code, not the working tree

The worker runs the working tree's code unless `--commit` names a commit: then that commit's files
(`git archive`) are put first on the worker's PYTHONPATH. In a tree that others are editing, that is the
way to measure exactly what a commit holds.

The run, step by step:
1. Pass-through (bench/passthrough.py, in its own process so its CPU is its own): the ceiling of any Python
   consumer on this machine, over the same 12 partitions and the same messages.
2. An isolated deployment (tests/integration/harness.py `Deployment`: own topic prefix, app id and database)
   with the built-in group types only and the default sink batch interval, then `migrate`.
3. One worker, `issue-platform worker -l warn`, with the deployment's environment.
4. Warm-up: one occurrence of a project outside the workload. Once its group is in Postgres every agent has
   its partitions, so neither start-up time nor start-up CPU is in the figures.
5. The worker's CPU time (user + sys, /proc/<pid>/stat) is read, then every message of the firehose
   (bench/firehose.py) is produced as fast as one aiokafka producer can.
6. Postgres is polled every second until it holds the expected outcome, or nothing has moved for
   `--stall-seconds`. At that moment the worker's CPU time and peak RSS (VmHWM) are read; the end of the
   run is the last sink commit (`sink_offsets.updated_at`), so the rate is produce start -> last commit.
7. Postgres is compared with the ground truth group by group (times_seen, status), with the DLQ entries
   by reason and the drop counters.
8. Latency at half load: occurrences of a project of their own (type 4001, a few hundred keys) are produced
   at 50 % of the rate just measured for `--latency-seconds`; a deferred constraint trigger, added to this
   deployment's `occurrences` table for the phase, notes the clock at each row's commit, so a latency is
   produce -> the sink's commit of its row (p50, p90, p99, max).
9. JSON (and a PNG when matplotlib is installed) goes to bench/results/. The deployment's topics and
   database are removed; its directory is kept when the outcome was not exact.

Before the deployment, two baselines run in processes of their own over the same firehose: the raw
pass-through (bench/passthrough.py: the ceiling) and the per-message design of the reference
(bench/per_message.py: one Postgres transaction per occurrence). ours / pass-through and ours /
per-message are reported in throughput and in CPU per message.

Worker CPU per occurrence is the figure to compare between runs: it holds on a machine shared with other
work, where wall-clock rates do not. It counts every input message (duplicates, invalid messages and
status changes included) as one occurrence.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from io import BytesIO
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import psycopg
from aiokafka import AIOKafkaProducer

from bench.firehose import Firehose, FirehoseConfig, GroundTruth, generate
from bench.passthrough import fill
from bench.topics import delete_topics_containing, topic_names
from tests.integration.harness import (
    BROKER,
    CLI,
    REPO_ROOT,
    Deployment,
    Worker,
    free_port,
    make_occurrence,
    wait_for,
)

RESULTS_DIR = REPO_ROOT / "bench" / "results"
DEFAULT_OCCURRENCES = 10_000
WARM_UP_PROJECT = 1_000_000  # outside every project of the firehose
WARM_UP_TYPE = 4001  # no noise gate: one occurrence makes a group
LATENCY_PROJECT = 1_000_001  # the latency phase's own project, outside the firehose and the ground truth
LATENCY_KEYS = 300  # group keys of the latency phase: a few hundred groups, most seen many times
LATENCY_LOAD = 0.5  # share of the sustained rate the latency phase produces at (issue 15: "at 50 % load")
TIMELINE_POINTS = 2000
WORKER_LOG_LEVEL = "warn"  # Faust spells warning `warn`
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The test harness's settings that a deployment does not run with: the worker under test takes its own
# defaults for them (those of `--commit`'s code when one is named).
HARNESS_ONLY_SETTINGS = ("ISSUE_PLATFORM_SINK_BATCH_SECONDS",)


# --- the worker process, read from /proc ------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of the process, in seconds (proc(5): fields 14 and 15 of stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def start_worker(deployment: Deployment) -> Worker:
    """As `Deployment.start_worker`, at log level warn: what an operator would run under load."""
    index = len(deployment.workers)
    port = free_port()
    log_path = deployment.root / f"worker-{index}.log"
    env = deployment.env()
    for name in HARNESS_ONLY_SETTINGS:
        if name not in deployment.extra_env:
            env.pop(name, None)
    process = subprocess.Popen(
        [CLI, "--datadir", str(deployment.root / f"data-{index}"), "worker", "-l", WORKER_LOG_LEVEL,
         "--web-host", "127.0.0.1", "--web-port", str(port)],
        env=env, cwd=deployment.root, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
    )
    worker = Worker(process, port, log_path)
    deployment.workers.append(worker)
    return worker


def ensure_running(worker: Worker) -> None:
    if worker.process.poll() is not None:
        raise RuntimeError(f"the worker exited with {worker.process.returncode}:\n{worker.log()[-4000:]}")


# --- Postgres: progress and the final comparison ----------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    groups: int
    times_seen: int
    changed_status: int
    stored_occurrences: int
    dlq_entries: int
    duplicates: int
    held_back: int
    last_commit: float | None  # epoch seconds of the last sink transaction

    @property
    def accounted(self) -> int:
        """Input occurrences with an outcome in Postgres: stored, counted as duplicate, or dead-lettered."""
        return self.stored_occurrences + self.duplicates + self.dlq_entries

    def counts(self) -> tuple[int, ...]:
        return (self.groups, self.times_seen, self.stored_occurrences, self.dlq_entries, self.duplicates,
                self.held_back, self.changed_status)

    def occurrences_done(self, truth: GroundTruth) -> bool:
        return self.counts()[:-1] == (len(truth.groups), truth.times_seen_total, truth.stored_occurrences,
                                      truth.dlq_entries, truth.duplicates, truth.held_back)

    def status_changes_done(self, truth: GroundTruth) -> bool:
        return self.occurrences_done(truth) and self.changed_status == truth.status_changes


PROGRESS_SQL = """
SELECT (SELECT count(*) FROM groups WHERE project_id <> %(warm)s),
       (SELECT coalesce(sum(times_seen), 0) FROM groups WHERE project_id <> %(warm)s),
       (SELECT count(*) FROM groups WHERE project_id <> %(warm)s AND status <> 0),
       (SELECT count(*) FROM occurrences WHERE project_id <> %(warm)s),
       (SELECT count(*) FROM dlq_entries),
       (SELECT coalesce(sum(count), 0) FROM drop_counters WHERE project_id <> %(warm)s AND outcome = 'duplicate'),
       (SELECT coalesce(sum(count), 0) FROM drop_counters WHERE project_id <> %(warm)s AND outcome = 'held_back'),
       (SELECT extract(epoch FROM max(updated_at))::float8 FROM sink_offsets)
"""


def read_progress(conn: psycopg.Connection[Any]) -> Progress:
    row = conn.execute(PROGRESS_SQL, {"warm": WARM_UP_PROJECT}).fetchone()
    assert row is not None
    return Progress(*(int(value) for value in row[:7]), last_commit=row[7])


def compare(conn: psycopg.Connection[Any], truth: GroundTruth) -> dict[str, Any]:
    """Every check of Postgres against the ground truth, each with what was expected and what was found."""
    rows = conn.execute("SELECT group_key, project_id, type, times_seen, status, substatus FROM groups"
                        " WHERE project_id <> %s", (WARM_UP_PROJECT,)).fetchall()
    found = {row[0]: row for row in rows}
    missing = sorted(set(truth.groups) - set(found))
    unexpected = sorted(set(found) - set(truth.groups))
    wrong_count = sorted(key for key, group in truth.groups.items()
                         if key in found and found[key][3] != group.times_seen)
    wrong_status = sorted(key for key, group in truth.groups.items()
                          if key in found and (found[key][4], found[key][5]) != (group.status, group.substatus))
    wrong_type = sorted(key for key, group in truth.groups.items()
                        if key in found and (found[key][1], found[key][2]) != (group.project_id, group.type_id))
    dlq = dict(conn.execute("SELECT reason, count(*) FROM dlq_entries GROUP BY reason").fetchall())
    drops = {outcome: int(count) for outcome, count in conn.execute(
        "SELECT outcome, sum(count) FROM drop_counters WHERE project_id <> %s GROUP BY outcome",
        (WARM_UP_PROJECT,)).fetchall()}
    stored_row = conn.execute("SELECT count(*) FROM occurrences WHERE project_id <> %s",
                              (WARM_UP_PROJECT,)).fetchone()
    stored = stored_row[0] if stored_row else None
    expected_drops = {outcome: count for outcome, count in
                      (("duplicate", truth.duplicates), ("held_back", truth.held_back)) if count}
    times_seen_total = sum(row[3] for row in rows)
    return {
        "groups": {"ok": not missing and not unexpected, "expected": len(truth.groups), "found": len(found),
                   "missing": missing[:5], "unexpected": unexpected[:5]},
        "times_seen_per_group": {
            "ok": not wrong_count, "mismatches": len(wrong_count),
            "examples": [{"group_key": key, "expected": truth.groups[key].times_seen, "found": found[key][3]}
                         for key in wrong_count[:5]]},
        "times_seen_total": {"ok": times_seen_total == truth.times_seen_total,
                             "expected": truth.times_seen_total, "found": times_seen_total},
        "project_and_type_per_group": {"ok": not wrong_type, "mismatches": len(wrong_type)},
        "status_per_group": {"ok": not wrong_status, "mismatches": len(wrong_status),
                             "examples": wrong_status[:5]},
        "dlq_entries_by_reason": {"ok": dlq == truth.dlq_by_reason, "expected": truth.dlq_by_reason,
                                  "found": dlq},
        "drop_counters": {"ok": drops == expected_drops, "expected": expected_drops, "found": drops},
        "stored_occurrences": {"ok": stored == truth.stored_occurrences, "expected": truth.stored_occurrences,
                               "found": stored},
    }


# --- the run ----------------------------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float  # since the produce started
    accounted: int
    worker_cpu_seconds: float  # since the produce started


@dataclass
class Measurement:
    produce_seconds: float = 0.0
    seconds_to_last_commit: float = 0.0
    worker_cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    occurrences_done: bool = False  # Postgres held the occurrences' expected counts
    status_changes_done: bool = False
    stalled: bool = False
    checks: dict[str, Any] = field(default_factory=dict)
    timeline: list[Sample] = field(default_factory=list)
    worker_log_errors: int = 0
    worker_log_tracebacks: int = 0
    latency: dict[str, Any] = field(default_factory=dict)
    # (seconds since the latency phase started, produce -> commit in ms) of every occurrence of the phase
    latency_timeline: list[tuple[float, float]] = field(default_factory=list)


async def produce_all(topic: str, records: list[tuple[bytes, bytes]]) -> None:
    await fill(topic, records, len(records))


def wait_until_ready(deployment: Deployment, worker: Worker, conn: psycopg.Connection[Any], timeout: float) -> None:
    """The worker has created its topics and carried one occurrence all the way to Postgres."""
    ingest = deployment.topic("ingest-occurrences")

    def topic_exists() -> bool:
        ensure_running(worker)
        return ingest in asyncio.run(topic_names())

    # Produced before the worker declared the topic, it would be auto-created with the broker's defaults.
    wait_for(topic_exists, timeout=timeout, interval=1, what=f"topic {ingest}")
    occurrence = make_occurrence(WARM_UP_PROJECT, "bench-warm-up", type_id=WARM_UP_TYPE)
    asyncio.run(produce_all(ingest, [(b"bench-warm-up", orjson.dumps(occurrence))]))

    def warmed_up() -> bool:
        ensure_running(worker)
        row = conn.execute("SELECT count(*) FROM groups WHERE project_id = %s", (WARM_UP_PROJECT,)).fetchone()
        return row is not None and row[0] == 1

    wait_for(warmed_up, timeout=timeout, interval=1, what="the warm-up occurrence's group in Postgres")


class Poll:
    """Postgres once a second until a condition holds or nothing has moved for `stall_seconds`."""

    def __init__(self, workers: list[Worker], conn: psycopg.Connection[Any], *, stall_seconds: float,
                 deadline: float) -> None:
        self.workers, self.conn = workers, conn
        self.stall_seconds, self.deadline = stall_seconds, deadline

    def until(self, done: Callable[[Progress], bool], on_sample: Callable[[Progress], None]) -> Progress | None:
        """The first progress for which `done` holds, or None after a stall or past the deadline."""
        last_counts: tuple[int, ...] | None = None
        moved_at = time.monotonic()
        while True:
            for worker in self.workers:
                ensure_running(worker)
            progress = read_progress(self.conn)
            on_sample(progress)
            if done(progress):
                return progress
            if progress.counts() != last_counts:
                last_counts, moved_at = progress.counts(), time.monotonic()
            if time.monotonic() - moved_at > self.stall_seconds or time.monotonic() > self.deadline:
                return None
            time.sleep(1)


# --- latency at half load ---------------------------------------------------------------------------------

COMMIT_CLOCK_SQL = f"""
CREATE TABLE bench_commit_times (project_id bigint NOT NULL, id char(32) NOT NULL, committed_at float8 NOT NULL);
CREATE FUNCTION bench_note_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_commit_times VALUES (NEW.project_id, NEW.id, extract(epoch FROM clock_timestamp()));
    RETURN NULL;
END $$;
-- Deferred: it runs when the sink's transaction commits, so the clock it reads is the commit's.
CREATE CONSTRAINT TRIGGER bench_commit_time AFTER INSERT ON occurrences DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.project_id = {LATENCY_PROJECT}) EXECUTE FUNCTION bench_note_commit();
"""


def latency_message(index: int) -> tuple[str, bytes, bytes]:
    """(occurrence id, key, value) of the latency phase's `index`th occurrence; ids are unique, keys repeat."""
    fingerprint = f"latency-{index % LATENCY_KEYS}"
    occurrence_id = uuid.uuid4().hex
    value = orjson.dumps(make_occurrence(LATENCY_PROJECT, fingerprint, type_id=WARM_UP_TYPE,
                                         occurrence_id=occurrence_id))
    return occurrence_id, f"{fingerprint}-{LATENCY_PROJECT}".encode(), value


async def produce_at_rate(topic: str, rate: float, seconds: float) -> dict[str, float]:
    """Occurrences at `rate` per second for `seconds`, in 10 ms slices; occurrence id -> the time it was handed
    to the producer."""
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, acks="all")
    await producer.start()
    produced: dict[str, float] = {}
    try:
        started = time.monotonic()
        index = 0
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate) + 1
            while index < due:
                occurrence_id, key, value = latency_message(index)
                produced[occurrence_id] = time.time()
                await producer.send(topic, value, key=key)
                index += 1
            await asyncio.sleep(0.01)
        await producer.flush()
    finally:
        await producer.stop()
    return produced


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure_latency(deployment: Deployment, worker: Worker, conn: psycopg.Connection[Any], *, rate: float,
                    seconds: float, result: Measurement) -> None:
    """Step 8 of the module docstring; fills `result.latency` and `result.latency_timeline`."""
    conn.execute(COMMIT_CLOCK_SQL)
    started = time.time()
    produced = asyncio.run(produce_at_rate(deployment.topic("ingest-occurrences"), rate, seconds))
    committed: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while len(committed) < len(produced) and time.monotonic() < deadline:
        ensure_running(worker)
        time.sleep(1)
        committed = {row[0]: row[1] for row in conn.execute(
            "SELECT id, committed_at FROM bench_commit_times WHERE project_id = %s", (LATENCY_PROJECT,))}
    latencies = [(produced[key] - started, (committed[key] - produced[key]) * 1000)
                 for key in produced if key in committed]
    values = [latency for _, latency in latencies]
    timeline = sorted((round(at, 3), round(ms, 1)) for at, ms in latencies)
    # Every point for the percentiles, at most TIMELINE_POINTS for the JSON and the plot: a JSON of one point
    # per occurrence was ~1 MB a run.
    result.latency_timeline = timeline[::max(1, -(-len(timeline) // TIMELINE_POINTS))]
    result.latency = {
        "load_share": LATENCY_LOAD, "rate_per_second": round(rate, 1), "seconds": seconds,
        "produced": len(produced), "committed": len(values), "missing": len(produced) - len(values),
        **({f"p{share}_ms": round(percentile(values, share / 100), 1) for share in (50, 90, 99)} if values else {}),
        "max_ms": round(max(values), 1) if values else None,
        "measured": "produce -> commit of the occurrence's row (deferred constraint trigger, clock_timestamp())",
    }


def measure(deployment: Deployment, firehose: Firehose, *, ready_timeout: float, stall_seconds: float,
            timeout: float, latency_seconds: float = 0, latency_rate: float | None = None) -> Measurement:
    """Steps 3 to 6 of the module docstring; the status changes go after the occurrences' outcome is in."""
    result = Measurement()
    truth = firehose.truth
    occurrences = firehose.occurrence_messages
    worker = start_worker(deployment)
    with psycopg.connect(deployment.database_url, autocommit=True) as conn:
        wait_until_ready(deployment, worker, conn, ready_timeout)
        poll = Poll([worker], conn, stall_seconds=stall_seconds, deadline=time.monotonic() + timeout)
        pid = worker.process.pid
        cpu_before = process_cpu_seconds(pid)
        started = time.time()
        asyncio.run(produce_all(deployment.topic("ingest-occurrences"),
                                [(message.key, message.value) for message in occurrences]))
        result.produce_seconds = time.time() - started
        print(f"produced {len(occurrences):,} occurrences in {result.produce_seconds:.1f} s", file=sys.stderr)
        printed_at = [0.0]

        def sample(progress: Progress) -> None:
            elapsed, cpu = time.time() - started, process_cpu_seconds(pid) - cpu_before
            result.timeline.append(Sample(round(elapsed, 2), progress.accounted, round(cpu, 2)))
            if time.monotonic() - printed_at[0] >= 10:
                printed_at[0] = time.monotonic()
                print(f"  {elapsed:6.0f} s: {progress.accounted:,} of {len(occurrences):,} occurrences"
                      f" accounted for in Postgres, worker CPU {cpu:.1f} s", file=sys.stderr)

        done = poll.until(lambda progress: progress.occurrences_done(truth), sample)
        result.worker_cpu_seconds = process_cpu_seconds(pid) - cpu_before
        result.peak_rss_mb = peak_rss_mb(pid)
        last_commit = done.last_commit if done is not None else None
        ended = last_commit if last_commit and last_commit > started else time.time()
        result.seconds_to_last_commit = ended - started
        result.occurrences_done = done is not None
        result.stalled = done is None
        if done is not None and truth.status_changes:
            asyncio.run(produce_all(deployment.topic("ingest-occurrences"),
                                    [(message.key, message.value) for message in firehose.status_change_messages]))
            finished = poll.until(lambda progress: progress.status_changes_done(truth), lambda progress: None)
            result.status_changes_done = finished is not None
            result.stalled = finished is None
        result.checks = compare(conn, truth)
        if latency_seconds > 0 and result.occurrences_done:
            rate = latency_rate or len(occurrences) / result.seconds_to_last_commit * LATENCY_LOAD
            print(f"latency: {rate:,.0f} occurrences/s for {latency_seconds:.0f} s ...", file=sys.stderr)
            measure_latency(deployment, worker, conn, rate=rate, seconds=latency_seconds, result=result)
            result.latency["fixed_rate"] = latency_rate is not None
            if latency_rate is not None:
                result.latency["load_share"] = None
    deployment.stop_workers()
    log = worker.log()
    result.worker_log_errors = sum(1 for line in log.splitlines() if "[ERROR]" in line)
    result.worker_log_tracebacks = log.count("Traceback")
    return result


def run_baseline(module: str, messages: int, config: FirehoseConfig) -> dict[str, Any]:
    """bench.passthrough or bench.per_message in a process of its own, so that its CPU time is its own."""
    completed = subprocess.run(
        [sys.executable, "-m", module, "--json", "--messages", str(messages),
         "--occurrences", str(config.occurrences), "--seed", str(config.seed)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{completed.stderr[-4000:]}")
    return orjson.loads(completed.stdout.strip().splitlines()[-1])


# --- the report -------------------------------------------------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()


def export_commit(commit: str, directory: Path) -> None:
    """The commit's files, as `git archive` gives them, in `directory`."""
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO_ROOT, capture_output=True,
                             check=True).stdout
    directory.mkdir(parents=True)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        # Extraction filters came in 3.11.4; Debian's python3.11 (the venv's, see the Makefile) is 3.11.2.
        # The archive is the repository's own, from git.
        tar.extractall(directory, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))  # noqa: S202


def bench_deployment(prefix: str, commit: str | None) -> Deployment:
    """An isolated deployment with what a real one runs (built-in types, default sink batching), its workers
    on `commit`'s code when one is named."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    deployment = Deployment(root=root, name=f"bench{uuid.uuid4().hex[:10]}")
    deployment.extra_env.update(
        # The harness's test settings, back to what a deployment runs with: built-in types (and, in
        # `start_worker`, default batching).
        ISSUE_PLATFORM_GROUPTYPE_MODULES="",
    )
    if commit is not None:
        # First on the path: the editable install's finder comes after every sys.path entry.
        export_commit(commit, root / "src")
        deployment.extra_env["PYTHONPATH"] = str(root / "src")
    return deployment


def code_under_test(commit: str | None) -> dict[str, Any]:
    if commit is not None:
        return {"git_commit": commit, "source": f"git archive of {commit}", "git_uncommitted_files": []}
    # The worker ran the working tree: files changed and not committed at the time are part of what it ran.
    return {"git_commit": git("rev-parse", "HEAD"), "source": "working tree",
            "git_uncommitted_files": [line[3:] for line in
                                      git("status", "--porcelain", "--untracked-files=no").splitlines()]}


def machine() -> dict[str, Any]:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
    models = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
              if line.startswith("model name")]
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(int(meminfo["MemTotal"].split()[0]) / 1024 / 1024, 1),
        "cpu_model": models[0] if models else platform.processor(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "faust_streaming": metadata.version("faust-streaming"),
        "aiokafka": metadata.version("aiokafka"),
    }


# Issue 11 item 6: worker CPU per occurrence, end to end, on one worker.
CPU_BUDGET_US = 500


def report(firehose: Firehose, result: Measurement, passthrough: dict[str, Any] | None,
           per_message: dict[str, Any] | None, *, label: str, load_before: tuple[float, float, float],
           deployment: Deployment, commit: str | None) -> dict[str, Any]:
    produced = len(firehose.occurrence_messages)
    rate = produced / result.seconds_to_last_commit
    cpu_us = result.worker_cpu_seconds / produced * 1e6
    exact = (result.occurrences_done and (result.status_changes_done or not firehose.truth.status_changes)
             and all(check["ok"] for check in result.checks.values()))
    report: dict[str, Any] = {
        "benchmark": "e2e, one worker",
        "label": label,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **code_under_test(commit),
        "machine": {**machine(), "load_average_before": list(load_before),
                    "load_average_after": list(os.getloadavg()),
                    "note": "a machine shared with other people's test runs: prefer CPU per occurrence over the "
                            "wall-clock rates"},
        # Occurrence messages produced in the timed part; the status changes follow once their outcome is in.
        "produced": produced,
        "produced_by_kind": {str(kind): count for kind, count in
                             sorted(Counter(message.kind for message in firehose.messages).items())},
        "workload": {**asdict(firehose.config), **firehose.truth.summary(), "group_keys": len(firehose.keys)},
        "produce_seconds": round(result.produce_seconds, 2),
        "seconds_to_last_commit": round(result.seconds_to_last_commit, 2),
        "occurrences_per_second": round(rate, 1),
        "worker_cpu_seconds": round(result.worker_cpu_seconds, 2),
        "cpu_us_per_occurrence": round(cpu_us, 1),
        "cpu_seconds_per_1000_occurrences": round(cpu_us / 1000, 2),
        "budgets": {"cpu_us_per_occurrence": CPU_BUDGET_US},
        "within_cpu_budget": cpu_us <= CPU_BUDGET_US,
        "worker_cpu_utilisation": round(result.worker_cpu_seconds / result.seconds_to_last_commit, 2),
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "exact": exact,
        "stalled": result.stalled,
        "checks": result.checks,
        "worker_log": {"level": WORKER_LOG_LEVEL, "error_lines": result.worker_log_errors,
                       "tracebacks": result.worker_log_tracebacks},
        "settings": {key: value for key, value in deployment.env().items()
                     if key.startswith("ISSUE_PLATFORM_") and not key.endswith(("_URL", "_TOKEN"))},
        "timeline": [[sample.seconds, sample.accounted, sample.worker_cpu_seconds] for sample in result.timeline],
        "latency": result.latency,
        "p50_ms": result.latency.get("p50_ms"),
        "p99_ms": result.latency.get("p99_ms"),
        "latency_timeline": [list(point) for point in result.latency_timeline],
    }
    if per_message is not None:
        report.update(
            per_message_messages_per_second=per_message["messages_per_second"],
            per_message_cpu_us_per_message=per_message["cpu_us_per_message"],
            # ours / per-message, in throughput (issue 15's figure) and in CPU per message
            ratio_vs_per_message=round(rate / per_message["messages_per_second"], 3),
            cpu_ratio_vs_per_message=round(per_message["cpu_us_per_message"] / cpu_us, 3),
            per_message=per_message,
        )
    if passthrough is not None:
        report.update(
            passthrough_messages_per_second=passthrough["messages_per_second"],
            passthrough_cpu_us_per_message=passthrough["cpu_us_per_message"],
            # ours / pass-through, in throughput (issue 15's figure) and in CPU per message (holds under load)
            ratio_vs_passthrough=round(rate / passthrough["messages_per_second"], 5),
            cpu_ratio_vs_passthrough=round(passthrough["cpu_us_per_message"] / cpu_us, 5),
            passthrough=passthrough,
        )
    return report


def plot(report: dict[str, Any], path: Path) -> bool:
    """Inputs accounted in Postgres and the worker's CPU use over time; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    timeline = report["timeline"]
    seconds = [row[0] for row in timeline]
    accounted = [row[1] for row in timeline]
    utilisation = [0.0] + [100 * (b[2] - a[2]) / (b[0] - a[0]) if b[0] > a[0] else 0.0
                           for a, b in pairwise(timeline)]
    latency = report.get("latency_timeline") or []
    rows = 3 if latency else 2
    figure, axes = plt.subplots(rows, 1, figsize=(8, 3 * rows))
    top, bottom = axes[0], axes[1]
    top.plot(seconds, accounted, label="occurrences with an outcome in Postgres")
    top.axhline(report["workload"]["occurrences"], color="grey", linestyle="--", label="produced")
    top.set_ylabel("occurrences")
    top.legend(loc="upper left")
    top.set_title(f"one worker, {report['produced']:,} occurrences: {report['occurrences_per_second']:,.0f} occ/s, "
                  f"{report['cpu_us_per_occurrence']:,.0f} µs CPU each ({report['date'][:10]})")
    bottom.plot(seconds, utilisation, color="tab:red")
    bottom.set_ylabel("worker CPU %")
    bottom.set_xlabel("seconds since the produce started")
    if latency:
        figures = report["latency"]
        axes[2].scatter([point[0] for point in latency], [point[1] for point in latency], s=2, color="tab:purple")
        axes[2].set_yscale("log")
        axes[2].set_ylabel("produce -> commit (ms)")
        axes[2].set_xlabel(f"seconds into the latency phase, {figures['rate_per_second']:,.0f} occ/s "
                           f"(50 % load)")
        axes[2].set_title(f"latency: p50 {figures.get('p50_ms')} ms, p99 {figures.get('p99_ms')} ms")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--occurrences", type=int,
                        default=int(os.environ.get("BENCH_OCCURRENCES", DEFAULT_OCCURRENCES)),
                        help="occurrence messages to produce (env BENCH_OCCURRENCES); a few status changes come on top")
    parser.add_argument("--seed", type=int, default=FirehoseConfig.seed)
    parser.add_argument("--passthrough-messages", type=int, default=100_000,
                        help="records the pass-through forwards; 0 skips it")
    parser.add_argument("--per-message-messages", type=int, default=None,
                        help="records the per-message baseline handles (default: the occurrences, at most 5,000);"
                             " 0 skips it")
    parser.add_argument("--latency-seconds", type=float, default=20,
                        help="length of the latency phase at 50 %% of the sustained rate; 0 skips it")
    parser.add_argument("--latency-rate", type=float, default=None,
                        help="occurrences/s of the latency phase instead of 50 %% of the sustained rate: the same "
                             "load for two commits")
    parser.add_argument("--label", default="", help="what this run measures, kept in the JSON")
    parser.add_argument("--commit", help="run the worker on this commit's code instead of the working tree")
    parser.add_argument("--ready-timeout", type=float, default=300, help="seconds for the worker to start")
    parser.add_argument("--stall-seconds", type=float, default=120,
                        help="give up when Postgres has not moved for this long")
    parser.add_argument("--timeout", type=float, default=3600, help="give up after this long in all")
    parser.add_argument("--keep", action="store_true", help="keep the deployment's directory, topics and database")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    arguments = parser.parse_args(argv)
    # A topic is created just before its first produce: the clients' retry notices are expected, not news.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)

    load_before = os.getloadavg()
    commit = git("rev-parse", "--verify", f"{arguments.commit}^{{commit}}") if arguments.commit else None
    config = FirehoseConfig(occurrences=arguments.occurrences, seed=arguments.seed,
                            base_time=float(int(time.time())))
    firehose = generate(config)
    passthrough = None
    if arguments.passthrough_messages:
        print(f"pass-through: {arguments.passthrough_messages:,} messages ...", file=sys.stderr)
        passthrough = run_baseline("bench.passthrough", arguments.passthrough_messages, config)
        print(f"pass-through: {passthrough['messages_per_second']:,.0f} msg/s, "
              f"{passthrough['cpu_us_per_message']} µs CPU per message", file=sys.stderr)
    per_message = None
    per_message_messages = (min(arguments.occurrences, 5000) if arguments.per_message_messages is None
                            else arguments.per_message_messages)
    if per_message_messages:
        print(f"per-message baseline: {per_message_messages:,} messages ...", file=sys.stderr)
        per_message = run_baseline("bench.per_message", per_message_messages, config)
        print(f"per-message baseline: {per_message['messages_per_second']:,.0f} msg/s, "
              f"{per_message['cpu_us_per_message']} µs CPU per message", file=sys.stderr)

    deployment = bench_deployment("bench-e2e-", commit)
    root = deployment.root
    if commit is None and (uncommitted := code_under_test(None)["git_uncommitted_files"]):
        print(f"the worker runs the working tree, with {len(uncommitted)} uncommitted files; "
              "--commit HEAD measures the last commit instead", file=sys.stderr)
    deployment.create_database()
    try:
        migrated = deployment.cli("migrate")
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed: {migrated.stderr}")
        print(f"one worker: {len(firehose.occurrence_messages):,} occurrences, then "
              f"{firehose.truth.status_changes} status changes ({len(firehose.truth.groups):,} groups expected)",
              file=sys.stderr)
        result = measure(deployment, firehose, ready_timeout=arguments.ready_timeout,
                         stall_seconds=arguments.stall_seconds, timeout=arguments.timeout,
                         latency_seconds=arguments.latency_seconds, latency_rate=arguments.latency_rate)
    finally:
        deployment.stop_workers()
        if not arguments.keep:
            deployment.drop_database()
            asyncio.run(delete_topics_containing(deployment.name))

    results = report(firehose, result, passthrough, per_message, label=arguments.label, load_before=load_before,
                     deployment=deployment, commit=commit)
    arguments.results_dir.mkdir(parents=True, exist_ok=True)
    stem = f"e2e-{datetime.now(UTC):%Y%m%d-%H%M%S}-{results['git_commit'][:7]}"
    json_path = arguments.results_dir / f"{stem}.json"
    json_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    plotted = plot(results, arguments.results_dir / f"{stem}.png")
    if results["exact"] and not arguments.keep:
        shutil.rmtree(root, ignore_errors=True)
    print_summary(results, json_path, plotted, root)
    return 0 if results["exact"] else 1


def print_summary(results: dict[str, Any], json_path: Path, plotted: bool, root: Path) -> None:
    print(f"e2e, one worker: {results['produced']:,} occurrences, {results['occurrences_per_second']:,.1f} occ/s "
          f"(produce start -> last commit {results['seconds_to_last_commit']} s), "
          f"{results['cpu_us_per_occurrence']:,.0f} µs worker CPU per occurrence, "
          f"peak RSS {results['peak_rss_mb']:,.0f} MB")
    print(f"CPU budget {results['budgets']['cpu_us_per_occurrence']} µs per occurrence (issue 11): "
          f"{'within' if results['within_cpu_budget'] else 'OVER BUDGET'}")
    if "passthrough_messages_per_second" in results:
        print(f"pass-through: {results['passthrough_messages_per_second']:,.0f} msg/s, "
              f"{results['passthrough_cpu_us_per_message']} µs CPU per message")
        print(f"ours / pass-through: {results['ratio_vs_passthrough']:.4f} in throughput, "
              f"{results['cpu_ratio_vs_passthrough']:.4f} in CPU per message")
    if "per_message_messages_per_second" in results:
        print(f"per-message baseline: {results['per_message_messages_per_second']:,.0f} msg/s, "
              f"{results['per_message_cpu_us_per_message']} µs CPU per message")
        print(f"ours / per-message: {results['ratio_vs_per_message']:.2f} in throughput, "
              f"{results['cpu_ratio_vs_per_message']:.2f} in CPU per message")
    if results["latency"]:
        latency = results["latency"]
        load = "a fixed rate" if latency.get("fixed_rate") else "50 % load"
        print(f"latency at {load} ({latency['rate_per_second']:,.0f} occ/s for {latency['seconds']:.0f} s): "
              f"p50 {latency.get('p50_ms')} ms, p90 {latency.get('p90_ms')} ms, p99 {latency.get('p99_ms')} ms, "
              f"max {latency.get('max_ms')} ms ({latency['missing']} of {latency['produced']} not committed)")
    failed = [name for name, check in results["checks"].items() if not check["ok"]]
    print("Postgres matches the ground truth exactly" if results["exact"]
          else f"Postgres does NOT match the ground truth: {failed or 'no match before the stall'}; "
               f"worker log in {root}")
    print(f"results: {json_path.relative_to(REPO_ROOT) if json_path.is_relative_to(REPO_ROOT) else json_path}"
          + (" (+ .png)" if plotted else ""))


if __name__ == "__main__":
    raise SystemExit(main())
