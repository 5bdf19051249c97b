"""The per-message baseline: what the reference's occurrence consumer does, one occurrence at a time.

The reference (`save_issue_occurrence` behind an Arroyo consumer) handles each occurrence on its own: look
up the fingerprint's GroupHash, count the occurrence in a noise counter when there is no group yet,
get-or-create the group in its own transaction, update the group's counters and store the occurrence.
This module does exactly that for the firehose's messages, directly against Postgres, with the same
validation as ours (`streams.core.payload.parse_payload`), one transaction per message, and the consumer's
offsets committed once per fetched batch. Its tables are its own (`pm_*`, in a database of its own).

It does less than our worker does for a message (no stored event, no hourly counts, no dedupe window, no
activity or post-process message, no ledger), so its rate is an upper bound of the reference's design on
this machine, and ours / per-message is a lower bound of what batching buys.

    .venv/bin/python -m bench.per_message --messages 5000
"""
from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from aiokafka import AIOKafkaConsumer

from bench.firehose import FirehoseConfig, Kind, generate
from bench.passthrough import PARTITIONS, fill
from bench.topics import create_topics, delete_topics_containing
from grouptypes import default_registry
from streams.core.payload import Occurrence, parse_payload
from streams.core.rejection import Rejection
from streams.settings import MAX_RECORD_BYTES
from tests.integration.harness import ADMIN_DATABASE_URL, BROKER, database_url

SCHEMA = """
CREATE TABLE pm_groups (
    id bigserial PRIMARY KEY, project_id bigint NOT NULL, type integer NOT NULL, title text NOT NULL,
    culprit text NOT NULL, level smallint NOT NULL, times_seen bigint NOT NULL, first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL
);
CREATE TABLE pm_group_hashes (
    project_id bigint NOT NULL, hash text NOT NULL, group_id bigint NOT NULL REFERENCES pm_groups (id),
    PRIMARY KEY (project_id, hash)
);
CREATE TABLE pm_noise (project_id bigint NOT NULL, hash text NOT NULL, count integer NOT NULL,
                       PRIMARY KEY (project_id, hash));
CREATE TABLE pm_occurrences (
    project_id bigint NOT NULL, id char(32) NOT NULL, group_id bigint, received timestamptz NOT NULL,
    payload jsonb NOT NULL, PRIMARY KEY (project_id, id)
);
CREATE TABLE pm_dlq (id bigserial PRIMARY KEY, reason text NOT NULL, raw bytea NOT NULL);
"""


@dataclass(frozen=True)
class PerMessageResult:
    messages: int
    seconds: float
    messages_per_second: float
    cpu_seconds: float
    cpu_us_per_message: float
    groups: int
    transactions: int
    design: str


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def noise_limit(type_id: int) -> int:
    noise = default_registry.get_by_type_id(type_id).noise_config
    return noise.ignore_limit if noise is not None else 1


async def save_occurrence(conn: psycopg.AsyncConnection[Any], occurrence: Occurrence, raw: bytes) -> None:
    """One occurrence, one transaction: the reference's GroupHash lookup, noise count and get-or-create."""
    received = datetime.now(UTC)
    key = occurrence.group_key
    async with conn.transaction():
        row = await (await conn.execute(
            "SELECT group_id FROM pm_group_hashes WHERE project_id = %s AND hash = %s",
            (occurrence.project_id, key))).fetchone()
        if row is None:
            limit = noise_limit(occurrence.type)
            if limit > 1:
                counted = await (await conn.execute(
                    "INSERT INTO pm_noise VALUES (%s, %s, 1) ON CONFLICT (project_id, hash)"
                    " DO UPDATE SET count = pm_noise.count + 1 RETURNING count",
                    (occurrence.project_id, key))).fetchone()
                assert counted is not None
                if counted[0] < limit:
                    await conn.execute("INSERT INTO pm_occurrences VALUES (%s, %s, NULL, %s, %s::jsonb)"
                                       " ON CONFLICT DO NOTHING", (occurrence.project_id, occurrence.id, received, raw.decode()))
                    return
            created = await (await conn.execute(
                "INSERT INTO pm_groups (project_id, type, title, culprit, level, times_seen, first_seen, last_seen)"
                " VALUES (%s, %s, %s, %s, %s, 1, %s, %s) RETURNING id",
                (occurrence.project_id, occurrence.type, occurrence.issue_title, occurrence.culprit,
                 occurrence.level_value, received, received))).fetchone()
            assert created is not None
            await conn.execute("INSERT INTO pm_group_hashes VALUES (%s, %s, %s)",
                               (occurrence.project_id, key, created[0]))
            group_id = created[0]
        else:
            group_id = row[0]
            await conn.execute("UPDATE pm_groups SET times_seen = times_seen + 1,"
                               " last_seen = greatest(last_seen, %s) WHERE id = %s", (received, group_id))
        await conn.execute("INSERT INTO pm_occurrences VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
                           (occurrence.project_id, occurrence.id, group_id, received, raw.decode()))


async def consume(source: str, count: int, database_url: str, *, timeout: float) -> tuple[float, float, int]:
    """Handles `count` records; (seconds, CPU seconds, transactions) from the first fetched batch to the last
    commit."""
    consumer = AIOKafkaConsumer(source, bootstrap_servers=BROKER, group_id=f"{source}-group",
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=MAX_RECORD_BYTES)
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    await consumer.start()
    try:
        handled = transactions = 0
        started: float | None = None
        cpu_started = 0.0
        deadline = time.monotonic() + timeout
        while handled < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"handled {handled} of {count} records in {timeout} s")
            batches = await consumer.getmany(timeout_ms=1000)
            if not batches:
                continue
            if started is None:
                started, cpu_started = time.monotonic(), process_cpu_seconds()
            for records in batches.values():
                for record in records:
                    payload = parse_payload(record.value or b"", is_registered_type=default_registry.is_registered)
                    if isinstance(payload, Rejection):
                        await conn.execute("INSERT INTO pm_dlq (reason, raw) VALUES (%s, %s)",
                                           (payload.reason.value, record.value or b""))
                    elif isinstance(payload, Occurrence):
                        await save_occurrence(conn, payload, record.value)
                    transactions += 1
                    handled += 1
            await consumer.commit()
        assert started is not None
        return time.monotonic() - started, process_cpu_seconds() - cpu_started, transactions
    finally:
        await consumer.stop()
        await conn.close()


async def run(count: int, config: FirehoseConfig, *, timeout: float = 900) -> PerMessageResult:
    firehose = generate(config)
    records = [(message.key, message.value) for message in firehose.messages if message.kind != Kind.STATUS_CHANGE]
    name = f"bench-per-message-{uuid.uuid4().hex[:10]}"
    database = name.replace("-", "_")
    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        with psycopg.connect(database_url(database), autocommit=True) as conn:
            conn.execute(SCHEMA)
        await create_topics([f"{name}.in"], PARTITIONS)
        await fill(f"{name}.in", records, count)
        seconds, cpu, transactions = await consume(f"{name}.in", count, database_url(database), timeout=timeout)
        with psycopg.connect(database_url(database), autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pm_groups").fetchone()
            groups = int(row[0]) if row else 0
    finally:
        await delete_topics_containing(name)
        with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return PerMessageResult(
        messages=count, seconds=round(seconds, 3), messages_per_second=round(count / seconds, 1),
        cpu_seconds=round(cpu, 3), cpu_us_per_message=round(cpu / count * 1e6, 1), groups=groups,
        transactions=transactions,
        design="one Postgres transaction per message (GroupHash lookup, noise count, get-or-create, counters, "
               "occurrence row), offsets committed per fetched batch",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="records to handle (the firehose is cycled)")
    parser.add_argument("--occurrences", type=int, default=FirehoseConfig.occurrences,
                        help="size of the firehose whose messages are used (bench/firehose.py)")
    parser.add_argument("--seed", type=int, default=FirehoseConfig.seed)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a sentence")
    arguments = parser.parse_args(argv)
    result = asyncio.run(run(arguments.messages,
                             FirehoseConfig(occurrences=arguments.occurrences, seed=arguments.seed)))
    if arguments.json:
        sys.stdout.write(orjson.dumps(asdict(result)).decode() + "\n")
    else:
        print(f"per-message: {result.messages} messages in {result.seconds} s: "
              f"{result.messages_per_second:,.0f} msg/s, {result.cpu_us_per_message} us CPU per message, "
              f"{result.groups} groups")


if __name__ == "__main__":
    main()
