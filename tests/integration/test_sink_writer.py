"""The sink's batch writer against the real PostgreSQL (spec §2.4.3, §13.4, §19)."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from storage.migrate import migrate
from storage.sink_writer import ChangeRecord, write_batch
from bench.workload import group_changes
from tests.integration.harness import Deployment

pytestmark = pytest.mark.integration

TOPIC = "issue-platform-group-changes"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    deployment = Deployment(root=tmp_path)
    deployment.create_database()
    migrate(deployment.database_url)
    try:
        yield deployment.database_url
    finally:
        deployment.drop_database()


async def write(database_url: str, records: list[ChangeRecord]) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        async with conn.transaction():
            await write_batch(conn, TOPIC, records)


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    tables = {
        "groups": "SELECT id, group_key, short_id, times_seen, status, version FROM groups ORDER BY id",
        "occurrences": "SELECT project_id, id, group_id, outcome FROM occurrences ORDER BY 1, 2",
        "activities": "SELECT id, group_id, type FROM activities ORDER BY id",
        "hourly_counts": "SELECT group_id, hour, count FROM hourly_counts ORDER BY 1, 2",
        "drop_counters": "SELECT * FROM drop_counters ORDER BY 1, 2, 3",
        "projects": "SELECT id, next_short_id FROM projects ORDER BY id",
        "sink_offsets": 'SELECT topic, partition, "offset" FROM sink_offsets ORDER BY 1, 2',
    }
    with psycopg.connect(database_url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in tables.items()}  # type: ignore[arg-type]


async def test_replaying_the_same_batch_leaves_postgres_identical(database: str) -> None:  # spec §2.4.3
    records = [ChangeRecord(0, offset, body) for offset, body in enumerate(group_changes(1, ["a", "b", "c"]))]
    await write(database, records)
    first = snapshot(database)
    assert [row[3] for row in first["groups"]] == [2, 2, 2]
    assert sum(row[2] for row in first["hourly_counts"]) == 6
    await write(database, records)  # the whole batch re-read after a crash before the ack
    await write(database, records[2:5])  # and a partial overlap
    assert snapshot(database) == first


async def test_two_sinks_writing_one_projects_groups_concurrently_never_deadlock(database: str) -> None:
    # Two partitions of the same project, each written by its own sink, with rows in opposite orders.
    left = [ChangeRecord(0, o, b) for o, b in enumerate(group_changes(5, [f"l{i}" for i in range(150)]))]
    right = [ChangeRecord(1, o, b) for o, b in enumerate(group_changes(5, [f"r{i}" for i in range(150)]))]
    third = len(left) // 3
    for start in (0, third, 2 * third):
        end = start + third if start < 2 * third else len(left)
        batches = [left[start:end], list(reversed(right[start:end]))]
        await asyncio.wait_for(asyncio.gather(*(write(database, batch) for batch in batches)), timeout=60)
    with psycopg.connect(database) as conn:
        short_ids = [row[0] for row in conn.execute("SELECT short_id FROM groups WHERE project_id = 5").fetchall()]
    assert len(short_ids) == 300
    assert len(set(short_ids)) == 300  # unique per project (spec §13.4.1)


def ingest_drop(drop_id: str) -> dict[str, Any]:
    return {"kind": "drop", "outcome": "ingest_disabled", "t": 1_700_000_000.0, "group_key": "9:" + "a" * 32,
            "project_id": 9, "type_id": 5001, "id": drop_id, "group": None, "occurrence": None, "event": None}


async def test_an_ingest_drop_re_produced_after_a_restart_is_counted_once(database: str) -> None:  # §2.4.1
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    await write(database, [ChangeRecord(0, 0, ingest_drop(first)), ChangeRecord(0, 1, ingest_drop(second))])
    # The input of `first` was read again after a restart: same derived id, new group-changes offset.
    await write(database, [ChangeRecord(0, 2, ingest_drop(first))])
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count FROM drop_counters WHERE outcome = 'ingest_disabled'").fetchall() == [(2,)]
