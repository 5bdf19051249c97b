"""`make chaos`: three workers under the firehose workload while workers are killed, PostgreSQL stops and the broker restarts; then Postgres against the ground truth.

    make chaos                                        # 5 minutes, 3 workers, the default rate
    .venv/bin/python -m bench.chaos --minutes 2       # CHAOS_ARGS="--minutes 2" through make
    .venv/bin/python -m bench.chaos --kill-every 0 --no-postgres-stop --no-broker-restart   # no faults at all

The run (issue 11 item 7, spec §2.3, §2.4):
1. An isolated deployment (tests/integration/harness.py `Deployment`: own topic prefix, app id, database)
   with the built-in group types and the default sink batching, `migrate`, then `--workers` workers at log
   level info. Once every worker logged "Worker ready", one warm-up occurrence of a project outside the
   workload (bench/e2e.py `wait_until_ready`) goes all the way to Postgres.
2. The producer sends the firehose (bench/firehose.py: many projects, Zipf keys, a noise-gated type, the
   default creation quota, detector duplicates, invalid messages) at `--rate` messages per second for
   `--minutes`, with acks=all and the idempotent producer; a send that fails is sent again (the truth is
   read back from the topic, so a second copy is accounted as the input it is). The firehose's status
   changes are not sent last as in bench/e2e.py but during the run: each once `--status-lag` seconds of
   messages have been acknowledged after the last message of its key, and only once its group is in
   Postgres (a status change that reaches a group whose creation still waits for its quota answer is
   dead-lettered, bench/firehose.py); those not sent by the end of the production go as soon as their
   group appears.
3. Faults, on a schedule fixed by `--seed` (`fault_schedule`), in seconds after the production started:
   every `--kill-every` s SIGKILL of a random live worker, restarted `--restart-after` s later on its data
   dir; at about 1/3 of the run PostgreSQL stopped (`pg_ctlcluster <version> main stop -m fast`) for
   `--postgres-down` s and started again; at about 2/3 the broker stopped gracefully and started again with
   the dev/kafka.sh of the checkout that started it (`down`: SIGTERM and wait, `up`: the same command line,
   ready once its log says "Kafka Server started"; another checkout's broker serves everyone just as well). Both service faults are moved half-way between two kills so their recovery is not a kill's.
   They stop the shared services: before each, the run waits (up to `--quiet-wait` s) until no `pytest` or
   `bench` process of someone else runs, and skips the fault otherwise (the run then fails as incomplete).
   A worker that exits on its own (a failed produce stops a worker by design, §2.4.8) is restarted
   `--restart-after` s later as a supervisor would, and listed under `worker_exits`.
4. After the production: the remaining status changes, then the ingest topic is read back whole: its
   records are the input, and bench/chaos_accounting.py computes the outcome Postgres must end with. Postgres
   is polled once a second until it holds that outcome (bench/e2e.py `Progress`) or nothing moved for
   `--stall-seconds` (a stall, which fails the run).
5. Postgres is compared with the truth twice: bench/e2e.py `compare` (groups, times_seen, statuses, DLQ
   entries by reason, drop counters, stored occurrences), and bench/chaos_accounting.py `account`, which
   turns every difference into `lost`, `double_counted` or `wrong` and lists the `unaccounted_offsets` (the
   module docstring there says exactly what each counts). When the product has an `audit` command (§2.4.13)
   its output and exit status are kept too.
6. A JSON report goes to bench/results/chaos-<date>-<commit>.json. The exit status is 0 only when nothing was
   lost, double counted, wrong or unaccounted, nothing stalled and every scheduled fault ran. PostgreSQL and
   the broker are started again whatever happens, the workers stopped; the deployment's topics, database and
   data dirs are removed on success (the worker logs stay in the deployment's directory, /tmp/chaos-*), and
   all kept for evidence otherwise.

Recovery after each fault, measured from the kill, from PostgreSQL answering again, from the broker being
ready again (Postgres sampled once a second, so 1 s resolution):
- `recovered_after_s`: until the pipeline moves again: a sink commit after the fault (max of
  `sink_offsets.updated_at`) or more occurrence rows than at the fault. After a kill the survivors usually
  keep committing, so this is short by nature;
- `every_partition_after_s`: until every input partition has carried an occurrence produced after the
  fault all the way to an `occurrences` row. A killed worker's partitions count only once another worker
  (or its restart) has taken them over and caught up, so this is the figure that says how long a fault
  delays data.
CPU: the workers' CPU time (utime + stime from /proc, read every second and just before a kill) from the
start of the production until Postgres settled, per input record; and the machine's busy share (/proc/stat)
over the same time, which says whether the rate left headroom on this machine.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import logging
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.chaos_accounting import (
    Expected,
    FoundGroup,
    InputRecord,
    OccurrenceIdent,
    Snapshot,
    account,
    expected_from_topic,
    unaccounted_offsets,
)
from bench.e2e import (
    WARM_UP_PROJECT,
    Progress,
    code_under_test,
    compare,
    machine,
    process_cpu_seconds,
    read_progress,
    wait_until_ready,
)
from bench.firehose import Firehose, FirehoseConfig, InputMessage, Kind, generate
from bench.topics import delete_topics_containing
from streams.settings import MAX_RECORD_BYTES, Settings
from tests.integration.harness import BROKER, REPO_ROOT, Deployment, Worker, wait_for

RESULTS_DIR = REPO_ROOT / "bench" / "results"
KAFKA_SH = REPO_ROOT / "dev" / "kafka.sh"
# Without faults on the 2-core machine (2026-11-30, 3 workers, 90 s): 100/s kept it 62% busy, 200/s 77%, 2/s 19%.
# A fault stops the pipeline while the producer goes on; 100/s leaves the headroom to catch up afterwards.
DEFAULT_RATE = 100
TICK_SECONDS = 0.1
RECOVERY_CANDIDATES = 20  # post-fault occurrences looked up per partition and sample


# --- the fault schedule ----------------------------------------------------------------------------------------


class Action(StrEnum):
    KILL = "kill"
    POSTGRES_STOP = "postgres_stop"
    BROKER_RESTART = "broker_restart"


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the production started
    action: Action
    worker: int | None = None  # for a kill: the victim's index


def fault_schedule(*, seconds: float, workers: int, kill_every: float, restart_after: float, seed: int,
                   postgres: bool = True, broker: bool = True) -> list[Fault]:
    """Kills every `kill_every` s before `seconds` (a worker down, waiting for its restart, is never the
    victim), PostgreSQL at about 1/3 and the broker at about 2/3, both half-way between two kills."""
    rng = random.Random(seed)
    faults: list[Fault] = []
    back_at = [0.0] * workers
    if kill_every > 0:
        at = kill_every
        while at < seconds:
            alive = [index for index in range(workers) if back_at[index] <= at]
            if alive:
                victim = rng.choice(alive)
                back_at[victim] = at + restart_after
                faults.append(Fault(at, Action.KILL, victim))
            at += kill_every

    def between_kills(target: float) -> float:
        if kill_every <= 0:
            return target
        moved = (math.floor(target / kill_every) + 0.5) * kill_every
        return moved if moved < seconds else target

    if postgres:
        faults.append(Fault(between_kills(seconds / 3), Action.POSTGRES_STOP))
    if broker:
        faults.append(Fault(between_kills(2 * seconds / 3), Action.BROKER_RESTART))
    return sorted(faults, key=lambda fault: (fault.at, fault.action))


# --- recovery ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float  # seconds after the production started
    occurrences: int | None  # occurrence rows (warm-up excluded); None when Postgres did not answer
    last_commit: float | None  # max(sink_offsets.updated_at), in seconds after the production started
    produced: int = 0
    workers_alive: int = 0


def moved_after(fault_at: float, samples: Sequence[Sample]) -> float | None:
    """Seconds from `fault_at` to the first sample showing a sink commit after it or more occurrence rows
    than the last sample before it; None when the pipeline never moved again."""
    before = [sample.occurrences for sample in samples if sample.at <= fault_at and sample.occurrences is not None]
    baseline = before[-1] if before else 0
    for sample in samples:
        if sample.at <= fault_at or sample.occurrences is None:
            continue
        if sample.occurrences > baseline or (sample.last_commit is not None and sample.last_commit > fault_at):
            return round(sample.at - fault_at, 1)
    return None


@dataclass
class Recovery:
    fault: str
    at: float  # the fault (kill) or the service answering again, seconds after the production started
    partitions: set[int]  # input partitions without a post-fault occurrence in Postgres yet
    worker: int | None = None
    down_seconds: float | None = None  # for a service: how long it was down
    every_partition_at: float | None = None


# --- the shared services -------------------------------------------------------------------------------------


def run_command(args: Sequence[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {completed.returncode}: {completed.stderr.strip()[-2000:]}")
    return completed.stdout


def postgres_cluster() -> tuple[str, str]:
    """(version, name) of the cluster dev/postgres.sh runs: the newest version's `main`."""
    clusters = [line.split() for line in run_command(["pg_lsclusters", "-h"], timeout=30).splitlines() if line]
    mains = sorted((row for row in clusters if row[1] == "main"), key=lambda row: float(row[0]))
    if not mains:
        raise RuntimeError("no PostgreSQL cluster `main` (pg_lsclusters)")
    return mains[-1][0], mains[-1][1]


def postgres_online(cluster: tuple[str, str]) -> bool:
    rows = [line.split() for line in run_command(["pg_lsclusters", "-h"], timeout=30).splitlines() if line]
    return any(row[:2] == list(cluster) and row[3] == "online" for row in rows)


def postgres_answers() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False).returncode == 0


def stop_postgres(cluster: tuple[str, str]) -> None:
    run_command(["pg_ctlcluster", *cluster, "stop", "-m", "fast"], timeout=120)


def start_postgres(cluster: tuple[str, str]) -> None:
    if not postgres_online(cluster):
        run_command(["pg_ctlcluster", *cluster, "start"], timeout=120)
    wait_for(postgres_answers, timeout=60, interval=0.2, what="PostgreSQL to answer")


@dataclass(frozen=True)
class Broker:
    """A broker that a checkout's dev/kafka.sh started: its state dir holds server.properties and kafka.pid."""

    script: Path
    state: Path

    @property
    def properties(self) -> Path:
        return self.state / "server.properties"

    def env(self) -> dict[str, str]:
        # dev/kafka.sh rewrites the broker's config from its environment: never a deployment's partition count,
        # and the state and jars of the checkout whose broker it is.
        env = {key: value for key, value in os.environ.items() if key != "ISSUE_PLATFORM_PARTITIONS"}
        env.update(ISSUE_PLATFORM_CACHE=str(self.state.parent), ISSUE_PLATFORM_KAFKA_DIR=str(self.state))
        return env

    def pids(self) -> list[int]:
        found = subprocess.run(["pgrep", "-f", f"kafka.Kafka {self.properties}"], capture_output=True, text=True,
                               check=False).stdout
        return [int(pid) for pid in found.split()]

    def stop(self) -> None:
        run_command([str(self.script), "down"], timeout=120, env=self.env())

    def start(self) -> None:
        run_command([str(self.script), "up"], timeout=240, env=self.env())


OUR_BROKER = Broker(KAFKA_SH, Path(os.environ.get("ISSUE_PLATFORM_KAFKA_DIR",
                                                  Path(os.environ.get("ISSUE_PLATFORM_CACHE", REPO_ROOT / ".cache"))
                                                  / "kafka")))


def running_broker() -> Broker | None:
    """The broker serving now, when some checkout's dev/kafka.sh started it (`java ... kafka.Kafka
    <checkout>/.cache/kafka/server.properties`): every user of the machine shares it, whoever started it."""
    listed = subprocess.run(["pgrep", "-af", r"kafka\.Kafka .*server\.properties"], capture_output=True, text=True,
                            check=False).stdout
    for line in listed.splitlines():
        state = Path(line.split()[-1]).parent
        if state == OUR_BROKER.state:
            return OUR_BROKER
        script = state.parent.parent / "dev" / "kafka.sh"
        if state.name == "kafka" and state.parent.name == ".cache" and script.is_file():
            return Broker(script, state)
    return None


def broker_answers() -> bool:
    host, _, port = BROKER.partition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def ensure_services(cluster: tuple[str, str] | None, broker: Broker | None) -> list[str]:
    """Starts PostgreSQL and the broker (the one that was stopped, else this checkout's) if either is down;
    says what it had to start."""
    started = []
    if cluster is not None and not postgres_online(cluster):
        start_postgres(cluster)
        started.append("postgres")
    if not broker_answers():
        (broker or OUR_BROKER).start()
        started.append(f"kafka ({(broker or OUR_BROKER).script})")
    return started


def own_process_tree() -> set[int]:
    """This process, its ancestors and its descendants."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    own = {os.getpid()}
    pid = os.getpid()
    while pid in parents and parents[pid] > 1:
        pid = parents[pid]
        own.add(pid)
    grew = True
    while grew:
        children = {child for child, parent in parents.items() if parent in own} - own
        own |= children
        grew = bool(children)
    return own


def others_using_services() -> list[str]:
    """Test or benchmark processes of someone else: they would fail if the services stopped under them."""
    listed = subprocess.run(["pgrep", "-af", "pytest|bench"], capture_output=True, text=True, check=False).stdout
    own = own_process_tree()
    return [line for line in listed.splitlines() if line and int(line.split()[0]) not in own]


# --- the producer --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    messages: list[InputMessage]  # occurrences, duplicates and invalid messages, in send order
    status_changes: list[tuple[int, InputMessage]]  # (messages acknowledged before it may go, the change)


def plan_status_changes(firehose: Firehose, lag_messages: int) -> Plan:
    """Each status change may go once `lag_messages` more messages were acknowledged after the last message
    of its key (at the latest, after the last message)."""
    messages = firehose.occurrence_messages
    last: dict[bytes, int] = {}
    for index, message in enumerate(messages):
        last[message.key] = index
    changes = [(min(len(messages), last.get(change.key, -1) + 1 + lag_messages), change)
               for change in firehose.status_change_messages]
    return Plan(messages, sorted(changes, key=lambda pair: pair[0]))


def occurrence_ident(message: InputMessage) -> OccurrenceIdent:
    document = orjson.loads(message.value)
    return int(document["project_id"]), str(document["id"])


@dataclass
class ProducerStats:
    sent: int = 0  # acknowledged sends
    sent_by_kind: Counter[str] = field(default_factory=Counter)
    failed_sends: int = 0
    producer_restarts: int = 0
    status_changes_sent: int = 0
    status_changes_unsent: int = 0
    seconds: float = 0.0  # the paced part
    first_failure: str = ""


class Producer:
    """Sends the plan at a steady rate; remembers, per input partition, when each first occurrence went."""

    def __init__(self, topic: str, plan: Plan, rate: float, database_url: str) -> None:
        self.topic, self.plan, self.rate, self.database_url = topic, plan, rate, database_url
        self.stats = ProducerStats()
        # partition -> (seconds after the start, ident) of acknowledged first occurrences, in send order
        self.delivered: dict[int, list[tuple[float, OccurrenceIdent]]] = {}
        self.idents = {id(message): occurrence_ident(message) for message in plan.messages
                       if message.kind is Kind.OCCURRENCE}
        self.next_index = 0
        self.started = 0.0
        self._producer: AIOKafkaProducer | None = None
        self._pending_status = list(plan.status_changes)
        self._retry: list[InputMessage] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    async def run(self, started: float, status_timeout: float) -> None:
        self.started = started
        burst = max(int(self.rate), 500)
        next_check = 0.0
        try:
            while self.next_index < len(self.plan.messages) or self._retry:
                due = min(len(self.plan.messages), int(self.now() * self.rate) + 1)
                start, end = self.next_index, min(due, self.next_index + burst)
                retry, self._retry = self._retry, []
                batch = retry + self.plan.messages[start:end]
                self.next_index = end
                if not retry and self.now() >= next_check:
                    # Every message before `start` is acknowledged: a change whose key ended there goes after it.
                    next_check = self.now() + 1
                    batch += await self._status_changes_ready(start)
                if batch:
                    await self._send(batch)
                if self.next_index >= due:
                    await asyncio.sleep(TICK_SECONDS)
            self.stats.seconds = self.now()
            # The rest of the status changes: their keys have no more messages; their groups may still be on the way.
            last_sent = time.monotonic()
            while self._pending_status and time.monotonic() - last_sent < status_timeout:
                ready = await self._status_changes_ready(len(self.plan.messages))
                if ready:
                    await self._send(ready)
                    last_sent = time.monotonic()
                while self._retry:
                    batch, self._retry = self._retry, []
                    await self._send(batch)
                await asyncio.sleep(1)
            self.stats.status_changes_unsent = len(self._pending_status)
        finally:
            if self._producer is not None:
                await self._producer.stop()

    async def _status_changes_ready(self, acknowledged: int) -> list[InputMessage]:
        eligible = [change for after, change in self._pending_status if after <= acknowledged]
        if not eligible:
            return []
        keys = [change.group_key for change in eligible]
        try:
            existing = await asyncio.to_thread(self._groups_in_postgres, keys)
        except psycopg.Error:
            return []  # PostgreSQL is down: ask again in a second
        ready = [change for change in eligible if change.group_key in existing]
        sent = {id(change) for change in ready}
        self._pending_status = [(after, change) for after, change in self._pending_status if id(change) not in sent]
        return ready

    def _groups_in_postgres(self, keys: list[str | None]) -> set[str]:
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=3) as conn:
            return {row[0] for row in conn.execute("SELECT group_key FROM groups WHERE group_key = ANY(%s)",
                                                   (keys,)).fetchall()}

    async def _started_producer(self) -> AIOKafkaProducer:
        while self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=BROKER, acks="all", enable_idempotence=True,
                                        linger_ms=5, max_request_size=MAX_RECORD_BYTES)
            try:
                await producer.start()
                self._producer = producer
            except Exception:  # noqa: BLE001  # the broker restarting: try again
                await producer.stop()
                await asyncio.sleep(1)
        return self._producer

    async def _send(self, batch: list[InputMessage]) -> None:
        producer = await self._started_producer()
        sent_at = self.now()
        futures: list[asyncio.Future[Any]] = []
        try:
            for message in batch:
                futures.append(await producer.send(self.topic, message.value, key=message.key))
        except Exception as error:  # noqa: BLE001  # the rest of the batch is sent again below
            self._note_failure(error)
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed: list[InputMessage] = []
        for message, result in zip(batch, results, strict=False):
            if isinstance(result, BaseException):
                self._note_failure(result)
                failed.append(message)
                continue
            self.stats.sent += 1
            self.stats.sent_by_kind[str(message.kind)] += 1
            self.stats.status_changes_sent += message.kind is Kind.STATUS_CHANGE
            if message.kind is Kind.OCCURRENCE:
                self.delivered.setdefault(result.partition, []).append((sent_at, self.idents[id(message)]))
        failed += batch[len(futures):]
        if failed:
            # A new producer for what failed: an idempotent producer whose batch failed may refuse what follows.
            self._retry = failed + self._retry
            self.stats.producer_restarts += 1
            stopping, self._producer = self._producer, None
            if stopping is not None:
                await stopping.stop()

    def _note_failure(self, error: BaseException) -> None:
        self.stats.failed_sends += 1
        if not self.stats.first_failure:
            self.stats.first_failure = f"{type(error).__name__}: {error}"[:500]

    def first_after(self, partition: int, at: float) -> list[OccurrenceIdent]:
        delivered = self.delivered.get(partition, [])
        start = bisect.bisect_left(delivered, at, key=lambda entry: entry[0])
        return [ident for _, ident in delivered[start:start + RECOVERY_CANDIDATES]]


# --- the run -------------------------------------------------------------------------------------------------


@dataclass
class Slot:
    index: int
    worker: Worker
    restart_at: float | None = None  # seconds after the production started, while it is down


@dataclass
class Event:
    at: float
    what: str
    worker: int | None = None
    detail: str = ""


@dataclass
class Options:
    minutes: float
    workers: int
    seed: int
    kill_every: float
    restart_after: float
    rate: float
    postgres: bool
    broker: bool
    postgres_down: float
    status_lag: float
    status_changes: int
    stall_seconds: float
    quiet_wait: float
    ready_timeout: float


class ChaosRun:
    def __init__(self, options: Options, deployment: Deployment, firehose: Firehose,
                 cluster: tuple[str, str] | None) -> None:
        self.options, self.deployment, self.firehose, self.cluster = options, deployment, firehose, cluster
        self.schedule = fault_schedule(seconds=options.minutes * 60, workers=options.workers,
                                       kill_every=options.kill_every, restart_after=options.restart_after,
                                       seed=options.seed, postgres=options.postgres, broker=options.broker)
        plan = plan_status_changes(firehose, lag_messages=max(1, int(options.status_lag * options.rate)))
        self.producer = Producer(deployment.topic("ingest-occurrences"), plan, options.rate,
                                 deployment.database_url)
        self.slots: list[Slot] = []
        self.events: list[Event] = []
        self.samples: list[Sample] = []
        self.recoveries: list[Recovery] = []
        self.skipped: list[dict[str, Any]] = []
        self.cpu_by_pid: dict[int, float] = {}
        self.broker = running_broker()  # whose CPU is sampled
        self.stopped_broker: Broker | None = None  # started again at the end if it is down then
        self.broker_cpu_by_pid: dict[int, float] = {}
        self.rng = random.Random(options.seed + 1)
        self.started = 0.0
        self.started_wall = 0.0
        self.partitions = deployment.partitions
        self._conn: psycopg.Connection[Any] | None = None

    def now(self) -> float:
        return time.monotonic() - self.started

    # -- workers

    def start_workers(self) -> None:
        for index in range(self.options.workers):
            self.slots.append(Slot(index, self.deployment.start_worker()))

    def wait_ready(self) -> None:
        with psycopg.connect(self.deployment.database_url, autocommit=True) as conn:
            wait_until_ready(self.deployment, self.slots[0].worker, conn, self.options.ready_timeout)
        wait_for(lambda: all("Worker ready" in slot.worker.log() for slot in self.slots),
                 timeout=self.options.ready_timeout, interval=1, what="every worker to log Worker ready")

    def sample_cpu(self) -> None:
        for slot in self.slots:
            pid = slot.worker.process.pid
            if slot.worker.process.poll() is None:
                try:
                    self.cpu_by_pid[pid] = process_cpu_seconds(pid)
                except (OSError, IndexError, ValueError):
                    pass
        for pid in self.broker.pids() if self.broker is not None else []:
            try:
                self.broker_cpu_by_pid[pid] = process_cpu_seconds(pid)
            except (OSError, IndexError, ValueError):
                pass

    def kill(self, fault: Fault) -> None:
        alive = [slot for slot in self.slots if slot.restart_at is None and slot.worker.process.poll() is None]
        if not alive:
            self.skipped.append({"at": round(self.now(), 1), "fault": "kill", "reason": "no worker alive"})
            return
        chosen = [slot for slot in alive if slot.index == fault.worker]
        slot = chosen[0] if chosen else self.rng.choice(alive)
        self.sample_cpu()
        pid = slot.worker.process.pid
        self.deployment.kill_worker(slot.worker)
        at = self.now()
        slot.restart_at = at + self.options.restart_after
        self.events.append(Event(round(at, 1), "kill", slot.index, f"pid {pid}"))
        self.recoveries.append(Recovery("kill", at, set(range(self.partitions)), worker=slot.index))
        print(f"  {at:6.1f} s: kill -9 worker {slot.index} (pid {pid})", file=sys.stderr)

    def supervise(self) -> None:
        """Restarts a killed worker when its time comes, and one that exited on its own."""
        for slot in self.slots:
            if slot.restart_at is None and slot.worker.process.poll() is not None:
                code = slot.worker.process.returncode
                tail = slot.worker.log().splitlines()[-15:]
                self.events.append(Event(round(self.now(), 1), "exit", slot.index, f"exit status {code}; "
                                         + " | ".join(line[:300] for line in tail)))
                slot.restart_at = self.now() + self.options.restart_after
                print(f"  {self.now():6.1f} s: worker {slot.index} exited on its own ({code})", file=sys.stderr)
            if slot.restart_at is not None and self.now() >= slot.restart_at:
                slot.worker = self.deployment.restart_worker(slot.worker)
                slot.restart_at = None
                self.events.append(Event(round(self.now(), 1), "restart", slot.index,
                                         f"pid {slot.worker.process.pid}"))

    # -- services

    async def wait_quiet(self, what: str) -> bool:
        deadline = time.monotonic() + self.options.quiet_wait
        while others := others_using_services():
            if time.monotonic() > deadline:
                self.skipped.append({"at": round(self.now(), 1), "fault": what,
                                     "reason": "others were using the services", "processes": others[:5]})
                print(f"  {self.now():6.1f} s: {what} SKIPPED, others use the services: {others[:3]}",
                      file=sys.stderr)
                return False
            await asyncio.sleep(5)
        return True

    async def postgres_outage(self) -> None:
        if self.cluster is None or not await self.wait_quiet("postgres_stop"):
            return
        stopped = self.now()
        await asyncio.to_thread(stop_postgres, self.cluster)
        self.events.append(Event(round(stopped, 1), "postgres_stop"))
        print(f"  {stopped:6.1f} s: PostgreSQL stopped", file=sys.stderr)
        await asyncio.sleep(max(0.0, self.options.postgres_down - (self.now() - stopped)))
        await asyncio.to_thread(start_postgres, self.cluster)
        back = self.now()
        self.events.append(Event(round(back, 1), "postgres_back"))
        self.recoveries.append(Recovery("postgres_stop", back, set(range(self.partitions)),
                                        down_seconds=round(back - stopped, 1)))
        print(f"  {back:6.1f} s: PostgreSQL back after {back - stopped:.1f} s", file=sys.stderr)

    async def broker_restart(self) -> None:
        broker = running_broker()
        if broker is None:
            self.skipped.append({"at": round(self.now(), 1), "fault": "broker_restart",
                                 "reason": "the broker serving was not started by a checkout's dev/kafka.sh"})
            return
        if not await self.wait_quiet("broker_restart"):
            return
        self.broker = self.stopped_broker = broker
        config_before = broker.properties.read_bytes()
        self.sample_cpu()
        stopped = self.now()
        await asyncio.to_thread(broker.stop)
        self.events.append(Event(round(stopped, 1), "broker_stop",
                                 detail=f"{broker.script} down took {self.now() - stopped:.1f} s"))
        print(f"  {stopped:6.1f} s: broker stopped ({self.now() - stopped:.1f} s)", file=sys.stderr)
        await asyncio.to_thread(broker.start)
        back = self.now()
        changed = broker.properties.read_bytes() != config_before
        self.events.append(Event(round(back, 1), "broker_back",
                                 detail="server.properties CHANGED by dev/kafka.sh up" if changed else ""))
        self.recoveries.append(Recovery("broker_restart", back, set(range(self.partitions)),
                                        down_seconds=round(back - stopped, 1)))
        print(f"  {back:6.1f} s: broker back after {back - stopped:.1f} s", file=sys.stderr)

    async def run_fault(self, fault: Fault) -> None:
        await asyncio.sleep(max(0.0, fault.at - self.now()))
        if fault.action is Action.KILL:
            self.kill(fault)
        elif fault.action is Action.POSTGRES_STOP:
            await self.postgres_outage()
        else:
            await self.broker_restart()

    # -- Postgres, once a second

    def _query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]] | None:
        """Rows, or None while PostgreSQL does not answer (its outage, or the restart after it)."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.deployment.database_url, autocommit=True, connect_timeout=3)
            return self._conn.execute(sql, params).fetchall()
        except psycopg.Error:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            return None

    def sample(self) -> Sample:
        rows = self._query("SELECT (SELECT count(*) FROM occurrences WHERE project_id <> %s),"
                           " (SELECT extract(epoch FROM max(updated_at))::float8 FROM sink_offsets)",
                           (WARM_UP_PROJECT,))
        alive = sum(1 for slot in self.slots if slot.worker.process.poll() is None)
        if rows is None:
            return Sample(round(self.now(), 2), None, None, self.producer.stats.sent, alive)
        count, last_commit = rows[0]
        commit_at = None if last_commit is None else round(last_commit - self.started_wall, 2)
        return Sample(round(self.now(), 2), int(count), commit_at, self.producer.stats.sent, alive)

    def check_partitions(self) -> None:
        """Closes a recovery once every input partition carried a post-fault occurrence to Postgres."""
        open_recoveries = [recovery for recovery in self.recoveries if recovery.every_partition_at is None]
        if not open_recoveries:
            return
        wanted: dict[OccurrenceIdent, list[tuple[Recovery, int]]] = {}
        for recovery in open_recoveries:
            for partition in recovery.partitions:
                for ident in self.producer.first_after(partition, recovery.at):
                    wanted.setdefault(ident, []).append((recovery, partition))
        if wanted:
            projects, ids = zip(*wanted, strict=True)
            rows = self._query("SELECT project_id, id FROM occurrences WHERE (project_id, id) IN"
                               " (SELECT * FROM unnest(%s::bigint[], %s::bpchar[]))", (list(projects), list(ids)))
            for project_id, occurrence_id in rows or []:
                for recovery, partition in wanted.get((int(project_id), occurrence_id), []):
                    recovery.partitions.discard(partition)
        for recovery in open_recoveries:
            if not recovery.partitions:
                recovery.every_partition_at = self.now()

    async def monitor(self, stop: asyncio.Event) -> None:
        printed = -10.0
        while not stop.is_set():
            self.supervise()
            self.sample_cpu()
            sample = await asyncio.to_thread(self.sample)
            self.samples.append(sample)
            await asyncio.to_thread(self.check_partitions)
            if sample.at - printed >= 10:
                printed = sample.at
                print(f"  {sample.at:6.1f} s: sent {sample.produced:,}, occurrence rows "
                      f"{'-' if sample.occurrences is None else f'{sample.occurrences:,}'}, "
                      f"workers alive {sample.workers_alive}", file=sys.stderr)
            try:
                await asyncio.wait_for(stop.wait(), 1)
            except TimeoutError:
                pass

    # -- the whole run

    def start_clock(self) -> None:
        self.started, self.started_wall = time.monotonic(), time.time()

    async def produce_under_faults(self) -> None:
        faults = [asyncio.create_task(self.run_fault(fault)) for fault in self.schedule]
        try:
            await self.producer.run(self.started, status_timeout=self.options.stall_seconds)
            await asyncio.gather(*faults)
            print(f"  {self.now():6.1f} s: production done ({self.producer.stats.sent:,} sent), faults done",
                  file=sys.stderr)
        finally:
            for task in faults:
                task.cancel()

    async def settle(self, truth_expected: Expected) -> tuple[Progress | None, bool]:
        """Postgres once a second until it holds the expected outcome, or nothing moved for the stall limit."""
        truth = truth_expected.truth
        last_counts: tuple[int, ...] | None = None
        moved_at = time.monotonic()
        while True:
            rows = await asyncio.to_thread(self._progress)
            if rows is not None:
                if rows.status_changes_done(truth):
                    return rows, False
                if rows.counts() != last_counts:
                    last_counts, moved_at = rows.counts(), time.monotonic()
            if time.monotonic() - moved_at > self.options.stall_seconds:
                return rows, True
            await asyncio.sleep(1)

    def _progress(self) -> Progress | None:
        try:
            with psycopg.connect(self.deployment.database_url, autocommit=True, connect_timeout=3) as conn:
                return read_progress(conn)
        except psycopg.Error:
            return None


async def read_topic(topic: str, partition_count: int, *, timeout: float = 300) -> list[InputRecord]:
    """Every record of `topic`, from the beginning to the end offsets read at the start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BROKER, enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=MAX_RECORD_BYTES, fetch_max_bytes=32 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, partition) for partition in range(partition_count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[InputRecord] = []
        deadline = time.monotonic() + timeout
        while any(position < ends[tp] for tp, position in
                  zip(partitions, [await consumer.position(tp) for tp in partitions], strict=True)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(records)} records of {topic} in {timeout} s, not up to its end")
            for tp, batch in (await consumer.getmany(*partitions, timeout_ms=500)).items():
                records.extend(InputRecord(tp.partition, record.offset, record.value) for record in batch
                               if record.offset < ends[tp])
        return records
    finally:
        await consumer.stop()


def read_snapshot(conn: psycopg.Connection[Any]) -> Snapshot:
    groups: dict[str, FoundGroup] = {}
    for key, project_id, type_id, times_seen, status, substatus, hourly, linked in conn.execute(
        "SELECT g.group_key, g.project_id, g.type, g.times_seen, g.status, g.substatus,"
        " (SELECT coalesce(sum(h.count), 0) FROM hourly_counts h WHERE h.group_id = g.id),"
        " (SELECT count(*) FROM occurrences o WHERE o.group_id = g.id)"
        " FROM groups g WHERE g.project_id <> %s ORDER BY g.group_key, g.generation", (WARM_UP_PROJECT,)
    ).fetchall():
        found = FoundGroup(int(project_id), int(type_id), int(times_seen), int(status),
                           None if substatus is None else int(substatus), int(hourly), int(linked))
        if key in groups:  # a second generation of one key: the sums are what the key holds in all
            first = groups[key]
            found = FoundGroup(first.project_id, first.type_id, first.times_seen + found.times_seen, found.status,
                               found.substatus, first.hourly + found.hourly, first.linked + found.linked,
                               rows=first.rows + 1)
        groups[key] = found
    occurrences = frozenset((int(project_id), occurrence_id) for project_id, occurrence_id in conn.execute(
        "SELECT project_id, id FROM occurrences WHERE project_id <> %s", (WARM_UP_PROJECT,)).fetchall())
    drops = {(int(project_id), int(type_id), outcome): int(count) for project_id, type_id, outcome, count in
             conn.execute("SELECT project_id, type_id, outcome, count FROM drop_counters WHERE project_id <> %s"
                          " AND count <> 0", (WARM_UP_PROJECT,)).fetchall()}
    dlq = {(topic, partition, offset): reason for topic, partition, offset, reason in conn.execute(
        "SELECT source_topic, source_partition, source_offset, reason FROM dlq_entries").fetchall()}
    return Snapshot(groups, occurrences, drops, dlq)


def run_audit(deployment: Deployment, *, settle_seconds: float = 180.0) -> dict[str, Any]:
    """The product's own audit (spec §2.4.13), when this tree has it: once nothing is in flight any more and
    the ingest group has committed every offset with an outcome (or `settle_seconds` passed), its verdict and
    figures beside the ground truth's. Outcomes run ahead of the commit by design (outputs first, spec
    §2.4.6): right after a rebalance a partition's last outcomes wait for its new owner's first commit."""
    if deployment.cli("audit", "--help").returncode != 0:
        return {"available": False}
    deadline = time.monotonic() + settle_seconds
    while True:
        completed = deployment.cli("audit", "--json", timeout=120)
        lines = completed.stdout.strip().splitlines()
        try:
            verdict = orjson.loads(lines[-1]) if lines else None
        except orjson.JSONDecodeError:
            verdict = None
        if verdict is not None and verdict["in_flight"] == 0 and _commits_caught_up(verdict):
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(3)
    figures = {key: verdict[key] for key in ("ok", "unaccounted", "in_flight", "double_outcomes", "parked", "lost",
                                              "expired", "settled_at")} if verdict else None
    return {"available": True, "exit_status": completed.returncode, "figures": figures,
            "accounted": sum(p["accounted_count"] for p in verdict["partitions"]) if verdict else None,
            "committed": sum(p["committed"] or 0 for p in verdict["partitions"]) if verdict else None,
            "errors": completed.stderr[-2000:]}


def _commits_caught_up(verdict: dict[str, Any]) -> bool:
    return bool(sum(p["accounted_count"] for p in verdict["partitions"])
                == sum(p["committed"] or 0 for p in verdict["partitions"]))


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine (proc(5) /proc/stat; idle and iowait are not busy)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])
    return total - fields[3] - fields[4], total


def worker_logs(root: Path) -> dict[str, Any]:
    logs = {}
    for path in sorted(root.glob("worker-*.log")):
        text = path.read_text(errors="replace")
        logs[path.stem] = {"error_lines": sum(1 for line in text.splitlines() if "[ERROR]" in line),
                           "critical_lines": sum(1 for line in text.splitlines() if "[CRITICAL]" in line),
                           "tracebacks": text.count("Traceback"), "worker_ready_lines": text.count("Worker ready")}
    return logs


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()


async def execute(options: Options, deployment: Deployment, firehose: Firehose,
                  cluster: tuple[str, str] | None) -> dict[str, Any]:
    """Steps 1 to 5 of the module docstring; the result, as the report holds it."""
    run = ChaosRun(options, deployment, firehose, cluster)
    migrated = deployment.cli("migrate")
    if migrated.returncode != 0:
        raise RuntimeError(f"migrate failed: {migrated.stderr}")
    run.start_workers()
    await asyncio.to_thread(run.wait_ready)
    print(f"{options.workers} workers ready; producing {len(run.producer.plan.messages):,} messages at "
          f"{options.rate:g}/s for {options.minutes:g} min; faults: "
          + ", ".join(f"{fault.action}{'' if fault.worker is None else f' w{fault.worker}'} @{fault.at:g}s"
                      for fault in run.schedule), file=sys.stderr)
    cpu_start = {slot.worker.process.pid: process_cpu_seconds(slot.worker.process.pid) for slot in run.slots}
    broker_start = {pid: process_cpu_seconds(pid) for pid in (run.broker.pids() if run.broker else [])}
    busy_before = busy_jiffies()
    load_before = os.getloadavg()
    run.start_clock()
    stop = asyncio.Event()
    monitor = asyncio.create_task(run.monitor(stop))
    try:
        await run.produce_under_faults()
        records = await read_topic(deployment.topic("ingest-occurrences"), deployment.partitions)
        expected = expected_from_topic(records, firehose)
        print(f"  {run.now():6.1f} s: the ingest topic holds {expected.records:,} firehose records "
              f"({expected.foreign} foreign); waiting for Postgres", file=sys.stderr)
        settle_started = run.now()
        progress, stalled = await run.settle(expected)
        settled_at = run.now()
    finally:
        stop.set()
        await monitor
    run.sample_cpu()
    busy_after = busy_jiffies()
    with psycopg.connect(deployment.database_url, autocommit=True) as conn:
        snapshot = read_snapshot(conn)
        e2e_checks = compare(conn, expected.truth)
    ingest = deployment.topic("ingest-occurrences")
    accounting = account(expected, snapshot, ingest)
    unaccounted = unaccounted_offsets(expected, snapshot, ingest)
    audit = run_audit(deployment)
    deployment.stop_workers()

    worker_cpu = sum(cpu - cpu_start.get(pid, 0.0) for pid, cpu in run.cpu_by_pid.items())
    broker_cpu = sum(cpu - broker_start.get(pid, 0.0) for pid, cpu in run.broker_cpu_by_pid.items())
    busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    kills = [event for event in run.events if event.what == "kill"]
    recoveries = [{"fault": recovery.fault, "at": round(recovery.at, 1), "worker": recovery.worker,
                   "down_seconds": recovery.down_seconds,
                   "recovered_after_s": moved_after(recovery.at, run.samples),
                   "every_partition_after_s": None if recovery.every_partition_at is None
                   else round(recovery.every_partition_at - recovery.at, 1),
                   "partitions_not_recovered": sorted(recovery.partitions)}
                  for recovery in run.recoveries]
    return {
        "run": run, "expected": expected, "accounting": accounting, "unaccounted": unaccounted,
        "e2e_checks": e2e_checks, "audit": audit, "progress": progress, "stalled": stalled,
        "settle_seconds": round(settled_at - settle_started, 1), "total_seconds": round(settled_at, 1),
        "worker_cpu_seconds": worker_cpu, "broker_cpu_seconds": broker_cpu, "busy_share": busy,
        "load_before": load_before, "kills": kills, "recoveries": recoveries,
    }


def report(options: Options, firehose: Firehose, outcome: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
    run: ChaosRun = outcome["run"]
    expected: Expected = outcome["expected"]
    accounting = outcome["accounting"]
    unaccounted: list[tuple[int, int, str]] = outcome["unaccounted"]
    produced = expected.records
    audit = outcome["audit"]
    audit_figures = audit.get("figures") or {}
    audit_failed = audit.get("available") and (audit.get("exit_status") != 0 or audit_figures.get("in_flight") != 0
                                               or audit.get("accounted") != audit.get("committed"))
    failures = [reason for reason, failed in (
        ("lost", accounting.lost), ("double_counted", accounting.double_counted), ("wrong", accounting.wrong),
        ("unaccounted_offsets", unaccounted), ("stalled", outcome["stalled"]),
        ("faults_skipped", run.skipped), ("order_violations", expected.order_violations),
        ("status_changes_unsent", run.producer.stats.status_changes_unsent), ("audit", audit_failed),
    ) if failed]
    stats = run.producer.stats
    return {
        "benchmark": f"chaos, {options.workers} workers",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **code_under_test(None),
        "machine": {**machine(), "load_average_before": list(outcome["load_before"]),
                    "load_average_after": list(os.getloadavg())},
        "ok": not failures,
        "failures": failures,
        "produced": produced,
        "lost": accounting.lost,
        "double_counted": accounting.double_counted,
        "wrong": accounting.wrong,
        "unaccounted_offsets": len(unaccounted),
        # The product's own audit (spec §2.4.13), once nothing was in flight: it must agree with the truth.
        "audit_accounted": audit.get("accounted"),
        "audit_unaccounted": audit_figures.get("unaccounted"),
        "audit_double_outcomes": audit_figures.get("double_outcomes"),
        "audit_in_flight": audit_figures.get("in_flight"),
        "unaccounted_by_kind": dict(Counter(kind for _, _, kind in unaccounted)),
        "unaccounted_examples": [list(entry) for entry in unaccounted[:20]],
        "kills": len(outcome["kills"]),
        "recoveries": outcome["recoveries"],
        "stalled": outcome["stalled"],
        "duration": {"minutes": options.minutes, "produce_seconds": round(stats.seconds, 1),
                     "settle_seconds": outcome["settle_seconds"], "total_seconds": outcome["total_seconds"]},
        "workers": options.workers,
        "rate": options.rate,
        "options": asdict(options),
        "worker_env": deployment.extra_env,  # on top of the harness's; --worker-env among them
        "cpu": {"workers_cpu_seconds": round(outcome["worker_cpu_seconds"], 1),
                "worker_cpu_us_per_record": round(outcome["worker_cpu_seconds"] / max(1, produced) * 1e6),
                "broker_cpu_seconds": round(outcome["broker_cpu_seconds"], 1),
                "machine_busy_share": round(outcome["busy_share"], 3),
                "note": "from the start of the production until Postgres settled; the machine's busy share over "
                        "the same time (1.0: both cores busy)"},
        "produced_by_kind": expected.records_by_kind,
        "foreign_records": expected.foreign,
        "producer": {"sent": stats.sent, "sent_by_kind": dict(stats.sent_by_kind), "failed_sends": stats.failed_sends,
                     "producer_restarts": stats.producer_restarts, "first_failure": stats.first_failure,
                     "status_changes_sent": stats.status_changes_sent,
                     "status_changes_unsent": stats.status_changes_unsent},
        "truth": expected.truth.summary(),
        "checks": accounting.to_json(),
        "e2e_checks": outcome["e2e_checks"],
        "order_violations": expected.order_violations[:10],
        "audit": outcome["audit"],
        "schedule": [asdict(fault) for fault in run.schedule],
        "skipped_faults": run.skipped,
        "events": [asdict(event) for event in run.events],
        "worker_exits": [asdict(event) for event in run.events if event.what == "exit"],
        "worker_logs": worker_logs(deployment.root),
        "deployment": {"name": deployment.name, "root": str(deployment.root)},
        "workload": {**asdict(firehose.config), "group_keys": len(firehose.keys)},
        "timeline": [[sample.at, sample.produced, sample.occurrences, sample.workers_alive]
                     for sample in run.samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5, help="how long the producer runs")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=FirehoseConfig.seed, help="the workload's and the faults'")
    parser.add_argument("--kill-every", type=float, default=20, help="seconds between kills; 0: none")
    parser.add_argument("--restart-after", type=float, default=5, help="seconds from a kill to its restart")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="input messages per second")
    parser.add_argument("--no-postgres-stop", dest="postgres", action="store_false")
    parser.add_argument("--no-broker-restart", dest="broker", action="store_false")
    parser.add_argument("--postgres-down", type=float, default=20, help="seconds PostgreSQL stays stopped")
    parser.add_argument("--status-lag", type=float, default=5,
                        help="seconds of messages after the last one of a key before its status change may go")
    parser.add_argument("--status-changes", type=int, default=60)
    parser.add_argument("--stall-seconds", type=float, default=180,
                        help="give up when Postgres has not moved for this long")
    parser.add_argument("--quiet-wait", type=float, default=120,
                        help="seconds to wait for others' tests to end before stopping a shared service")
    parser.add_argument("--ready-timeout", type=float, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the deployment even when the run passed")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra environment variable of the workers, for experiments (repeatable); "
                             "kept in the report")
    parser.add_argument("--remove", metavar="NAME", help="remove the database and topics a failed run kept, and exit")
    arguments = parser.parse_args(argv)
    if arguments.remove:
        Deployment(root=Path(tempfile.gettempdir()), name=arguments.remove).drop_database()
        print(f"dropped database {arguments.remove}; deleted "
              f"{len(asyncio.run(delete_topics_containing(arguments.remove)))} topics")
        return 0
    options = Options(
        minutes=arguments.minutes, workers=arguments.workers, seed=arguments.seed,
        kill_every=arguments.kill_every, restart_after=arguments.restart_after, rate=arguments.rate,
        postgres=arguments.postgres, broker=arguments.broker, postgres_down=arguments.postgres_down,
        status_lag=arguments.status_lag, status_changes=arguments.status_changes,
        stall_seconds=arguments.stall_seconds, quiet_wait=arguments.quiet_wait,
        ready_timeout=arguments.ready_timeout)
    worker_env = dict(pair.split("=", 1) for pair in arguments.worker_env)
    # The broker restart makes the clients log every reconnection; the report says what happened.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    if (options.postgres or options.broker) and (others := others_using_services()):
        print(f"others use the shared services, waiting up to {options.quiet_wait:g} s: {others[:3]}",
              file=sys.stderr)
        try:
            wait_for(lambda: not others_using_services(), timeout=options.quiet_wait, interval=5,
                     what="others' tests to end")
        except AssertionError:
            print("others still use the shared services: not starting", file=sys.stderr)
            return 2
    cluster = postgres_cluster() if options.postgres else None
    broker_at_start = running_broker()  # the one to start again if it is down at the end
    config = FirehoseConfig(occurrences=round(options.rate * options.minutes * 60), seed=options.seed,
                            status_changes=options.status_changes, base_time=float(int(time.time())))
    firehose = generate(config)
    root = Path(tempfile.mkdtemp(prefix="chaos-"))
    deployment = Deployment(root=root, name=f"chaos{uuid.uuid4().hex[:10]}")
    deployment.extra_env.update(
        ISSUE_PLATFORM_GROUPTYPE_MODULES="",
        ISSUE_PLATFORM_SINK_BATCH_SECONDS=str(Settings.model_fields["sink_batch_seconds"].default),
        # The audit judges by the leader's marks: frequent and soon settled, so it can judge every offset
        # within seconds of the run settling (defaults 30 s and 60 s).
        ISSUE_PLATFORM_LEDGER_MARK_SECONDS="2",
        ISSUE_PLATFORM_LEDGER_SETTLE_SECONDS="5",
    )
    deployment.extra_env.update(worker_env)
    deployment.create_database()
    results: dict[str, Any] | None = None
    try:
        outcome = asyncio.run(execute(options, deployment, firehose, cluster))
        results = report(options, firehose, outcome, deployment)
    finally:
        restarted = ensure_services(cluster or postgres_cluster(), broker_at_start)
        if restarted:
            print(f"started again at the end: {', '.join(restarted)}", file=sys.stderr)
        deployment.stop_workers()
        if results is not None and results["ok"] and not arguments.keep:
            deployment.drop_database()
            asyncio.run(delete_topics_containing(deployment.name))
            # The worker logs stay (small), for the recovery times; the data dirs go.
            for data_dir in root.glob("data-*"):
                shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"kept for evidence: {root} (worker logs), database and topics {deployment.name}; remove them "
                  f"with: python -m bench.chaos --remove {deployment.name}", file=sys.stderr)
    arguments.results_dir.mkdir(parents=True, exist_ok=True)
    path = arguments.results_dir / f"chaos-{datetime.now(UTC):%Y%m%d-%H%M%S}-{results['git_commit'][:7]}.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    print_summary(results, path)
    return 0 if results["ok"] else 1


def print_summary(results: dict[str, Any], path: Path) -> None:
    print(f"chaos, {results['workers']} workers, {results['duration']['minutes']:g} min at {results['rate']:g}/s: "
          f"produced {results['produced']:,}, lost {results['lost']}, double counted {results['double_counted']}, "
          f"wrong {results['wrong']}, unaccounted offsets {results['unaccounted_offsets']}, kills {results['kills']}, "
          f"worker CPU {results['cpu']['worker_cpu_us_per_record']:,} µs per record, "
          f"machine busy {results['cpu']['machine_busy_share']:.0%}")
    for recovery in results["recoveries"]:
        print(f"  {recovery['fault']:>14} at {recovery['at']:6.1f} s: moved after {recovery['recovered_after_s']} s, "
              f"every partition after {recovery['every_partition_after_s']} s")
    print("PASS" if results["ok"] else f"FAIL: {', '.join(results['failures'])}")
    print(f"results: {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")


if __name__ == "__main__":
    raise SystemExit(main())
