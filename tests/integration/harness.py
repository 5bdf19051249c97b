"""Runs real workers against the real broker and database: one isolated deployment per test."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

BROKER = os.environ.get("ISSUE_PLATFORM_TEST_BROKER", "127.0.0.1:9092")
ADMIN_DATABASE_URL = os.environ.get(
    "ISSUE_PLATFORM_TEST_ADMIN_DATABASE_URL",
    "postgresql://issue_platform:issue_platform@127.0.0.1:5432/issue_platform",
)
CLI = str(Path(sys.executable).with_name("issue-platform"))
REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(name: str) -> str:
    base, _, _ = ADMIN_DATABASE_URL.rpartition("/")
    return f"{base}/{name}"


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    web_port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 40) -> None:
        self.signal_stop()
        self.wait_stopped(timeout)

    def signal_stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 40) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@dataclass
class Deployment:
    """A private namespace on the shared services: own topics, consumer group and database."""

    root: Path
    partitions: int = 12
    name: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    workers: list[Worker] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def topic_prefix(self) -> str:
        return f"{self.name}."

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    @property
    def app_id(self) -> str:
        return f"issue-platform-{self.name}"

    @property
    def consumer_group(self) -> str:
        """The Kafka consumer group of this deployment's workers, named as the worker names it."""
        from streams.settings import load_settings

        return load_settings(app_id=self.app_id, topic_prefix=self.topic_prefix).deployment_id

    @property
    def database_url(self) -> str:
        return database_url(self.name)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ISSUE_PLATFORM_APP_ID=self.app_id,
            ISSUE_PLATFORM_TOPIC_PREFIX=self.topic_prefix,
            ISSUE_PLATFORM_BROKER_URL=f"kafka://{BROKER}",
            ISSUE_PLATFORM_DATABASE_URL=self.database_url,
            ISSUE_PLATFORM_PARTITIONS=str(self.partitions),
            ISSUE_PLATFORM_SINK_BATCH_SECONDS="0.2",
            ISSUE_PLATFORM_GROUPTYPE_MODULES="tests.integration.plugin_types",
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        )
        env.update(self.extra_env)
        return env

    def delete_topics(self) -> None:
        """Every topic of this deployment (its prefix), so a whole run does not pile up partitions: the broker
        keeps files open for each, and a few hundred deployments of 171 partitions reach its open-file limit."""
        asyncio.run(_delete_topics_with_prefix(self.topic_prefix))

    def create_database(self) -> None:
        with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop_database(self) -> None:
        # FORCE cannot end a backend of another role (an autovacuum worker, say, that just started on the
        # database): that is InsufficientPrivilege, gone a moment later, so try again for a few seconds.
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
                return
            except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, *args], env=self.env(), capture_output=True, text=True, timeout=timeout,
                              cwd=self.root)

    def start_worker(self) -> Worker:
        index = len(self.workers)
        port = free_port()
        log_path = self.root / f"worker-{index}.log"
        process = subprocess.Popen(
            [CLI, "--datadir", str(self.root / f"data-{index}"), "worker", "-l", "info",
             "--web-host", "127.0.0.1", "--web-port", str(port)],
            env=self.env(), cwd=self.root, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
        )
        worker = Worker(process, port, log_path)
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: Worker) -> None:
        """kill -9: no shutdown, no commit, no flush (the crash the delivery guarantees are about)."""
        worker.process.kill()
        worker.process.wait(10)

    def restart_worker(self, worker: Worker) -> Worker:
        """The same data dir and web port again, as an operator restarting a crashed worker would."""
        index = self.workers.index(worker)
        process = subprocess.Popen(
            [CLI, "--datadir", str(self.root / f"data-{index}"), "worker", "-l", "info",
             "--web-host", "127.0.0.1", "--web-port", str(worker.web_port)],
            env=self.env(), cwd=self.root, stdout=worker.log_path.open("ab"), stderr=subprocess.STDOUT,
        )
        restarted = Worker(process, worker.web_port, worker.log_path)
        self.workers[index] = restarted
        return restarted

    def stop_workers(self) -> None:
        # All at once: stopped one by one, each departure started a rebalance that the next worker had to
        # shut down in the middle of, and aiokafka can hang there until the kill.
        for worker in self.workers:
            worker.signal_stop()
        for worker in self.workers:
            worker.wait_stopped()

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, tuple(params)).fetchall()  # type: ignore[arg-type]

    def execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        with psycopg.connect(self.database_url) as conn:
            conn.execute(sql, tuple(params))  # type: ignore[arg-type]


def wait_for(predicate: Callable[[], T], *, timeout: float = 90, interval: float = 0.5, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last: T = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: last={last!r}")
        time.sleep(interval)
        last = predicate()
    return last


async def _delete_topics_with_prefix(prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names, timeout_ms=30_000)
    finally:
        await admin.close()


@asynccontextmanager
async def temporary_topic(name: str, partitions: int) -> AsyncIterator[str]:
    """A topic of its own for one test (broker auto-create is off), deleted afterwards."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()


async def produce(topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, max_request_size=8 * 1024 * 1024, linger_ms=5)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def committed_to_end(deployment: Deployment, topic: str, *, timeout: float = 30) -> None:
    """Wait until the deployment's consumer group has committed every record now on `topic`: its workers are
    done with them, not only past them (Faust commits every few seconds)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BROKER)
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await consumer.start()
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        tps = [TopicPartition(topic, p["partition"]) for p in sorted(described["partitions"], key=lambda p: p["partition"])]
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets(deployment.consumer_group, partitions=tps)
            behind = {tp.partition for tp in tps
                      if ends[tp] and (tp not in committed or committed[tp].offset < ends[tp])}
            if not behind:
                return
            assert time.monotonic() < deadline, f"{topic} partitions {sorted(behind)} never committed"
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
        await consumer.stop()


async def consume_all(topic: str, *, expected: int, timeout: float = 60) -> list[Any]:
    """Every record on `topic` from the beginning, waiting until at least `expected` have arrived."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BROKER, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_bytes=16 * 1024 * 1024,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        partitions = None
        while not partitions:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                if time.monotonic() > deadline:
                    raise AssertionError(f"topic {topic} never appeared")
                await consumer._client.force_metadata_update()  # noqa: SLF001  # topic may be created late
                await asyncio.sleep(0.5)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        records: list[Any] = []
        while len(records) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
        # Anything beyond `expected` that is already there counts too (a test asserting "exactly").
        batch = await consumer.getmany(timeout_ms=1000)
        for part in batch.values():
            records.extend(part)
        return records
    finally:
        await consumer.stop()


def json_value(record: Any) -> Any:
    return orjson.loads(record.value)


def status_change(project_id: int, fingerprint: str, change_id: str, new_status: int, new_substatus: int | None,
                  **fields: Any) -> bytes:
    """A status-change payload (spec §6) as a detector sends it to the ingest topic; `fields` adds or overrides."""
    return orjson.dumps({"payload_type": "status_change", "fingerprint": [fingerprint], "project_id": project_id,
                         "id": change_id, "new_status": new_status, "new_substatus": new_substatus, **fields})


def make_occurrence(
    project_id: int,
    fingerprint: str,
    *,
    type_id: int = 2001,
    occurrence_id: str | None = None,
    environment: str = "production",
    detected_at: datetime | None = None,
) -> dict[str, Any]:
    """A valid occurrence with an embedded event, as a detector would produce it (spec §4, §5)."""
    when = (detected_at or datetime.now(UTC)).isoformat()
    return {
        "id": occurrence_id or str(uuid.uuid4()),
        "project_id": project_id,
        "fingerprint": [fingerprint],
        "issue_title": "File I/O on Main Thread",
        "subtitle": "open('/etc/app.conf') blocked the UI thread",
        "culprit": "app.io.read_config",
        "type": type_id,
        "detection_time": when,
        "level": "warning",
        "evidence_display": [{"name": "Duration", "value": "120 ms", "important": True}],
        "evidence_data": {"duration_ms": 120},
        "event": {
            "event_id": uuid.uuid4().hex,
            "project_id": project_id,
            "platform": "python",
            "timestamp": when,
            "environment": environment,
        },
    }
