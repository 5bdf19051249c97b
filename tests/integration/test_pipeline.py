"""The first slice end to end on the real broker and database: ingest → grouping → sink → post-process."""
from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from typing import Any

import orjson
import pytest

from streams.core.fingerprint import group_key, hash_fingerprint
from tests.integration.harness import Deployment, consume_all, json_value, make_occurrence, produce, wait_for

pytestmark = pytest.mark.integration


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return orjson.loads(response.read())


def get_json_or_none(port: int, path: str) -> Any:
    try:
        return get_json(port, path)
    except urllib.error.HTTPError as error:
        if error.code in (404, 503):
            return None
        raise


def groups_by_key(deployment: Deployment) -> dict[str, tuple[int, int]]:
    rows = deployment.query("SELECT group_key, id, times_seen FROM groups")
    return {key: (group_id, times_seen) for key, group_id, times_seen in rows}


async def _three_and_one(deployment: Deployment) -> dict[str, tuple[int, int]]:
    first = [make_occurrence(1, "fp-a") for _ in range(3)]
    second = make_occurrence(1, "fp-b")
    # Keys as the reference producer writes them; never relied on (spec §2.1).
    await produce(
        deployment.topic("ingest-occurrences"),
        [(b"fp-a-1", orjson.dumps(p)) for p in first] + [(b"fp-b-1", orjson.dumps(second))],
    )
    key_a = group_key(1, hash_fingerprint(["fp-a"]))
    key_b = group_key(1, hash_fingerprint(["fp-b"]))

    def settled() -> dict[str, tuple[int, int]] | None:
        groups = groups_by_key(deployment)
        return groups if groups.get(key_a, (0, 0))[1] == 3 and key_b in groups else None

    groups = wait_for(settled, what="two groups with times_seen 3 and 1")
    assert {key: seen for key, (_, seen) in groups.items()} == {key_a: 3, key_b: 1}
    assert deployment.query("SELECT count(*) FROM occurrences WHERE group_id IS NOT NULL") == [(4,)]

    records = await consume_all(deployment.topic("issue-platform-post-process"), expected=4)
    messages = [json_value(r) for r in records]
    assert len(messages) == 4
    by_key: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        by_key.setdefault(message["group_key"], []).append(message)
    assert {message["group_id"] for message in by_key[key_a]} == {groups[key_a][0]}
    assert {message["group_id"] for message in by_key[key_b]} == {groups[key_b][0]}
    assert sorted(message["times_seen"] for message in by_key[key_a]) == [1, 2, 3]
    assert [message["is_new"] for message in sorted(by_key[key_a], key=lambda m: m["times_seen"])] == [
        True, False, False,
    ]
    assert {message["id"] for message in messages} == {uuid.UUID(p["id"]).hex for p in [*first, second]}
    return groups


async def test_three_occurrences_of_one_fingerprint_and_one_of_another_make_two_groups(
    deployment: Deployment,
) -> None:
    assert deployment.cli("migrate").returncode == 0
    deployment.start_worker()
    await _three_and_one(deployment)


async def test_two_workers_split_the_partitions_and_give_the_same_result(deployment: Deployment) -> None:
    assert deployment.cli("migrate").returncode == 0
    first, second = deployment.start_worker(), deployment.start_worker()
    groups = await _three_and_one(deployment)
    assert first.process.poll() is None and second.process.poll() is None

    # Faust's router view: the groups table's partitions are split between the two workers.
    routes = wait_for(lambda: (r := get_json(first.web_port, "/router/groups/")) and len(r) == 2 and r,
                      timeout=30, what="two hosts in the groups table's routes")
    owned = [set(partitions) for topics in routes.values() for partitions in topics.values()]
    assert all(owned) and set.union(*owned) == set(range(deployment.partitions))
    assert not set.intersection(*owned)

    # Faust's table view answers for any key on either worker, proxying to the owner. A late rebalance
    # can make a key briefly unavailable (404), so each read is retried for a while.
    for worker in (first, second):
        for key, (_, times_seen) in groups.items():
            state = wait_for(lambda w=worker, k=key: get_json_or_none(w.web_port, f"/table/groups/{k}/"),
                             timeout=30, what=f"table view of {key}")
            assert state["group"]["times_seen"] == times_seen and state["group"]["group_key"] == key


def test_migrate_twice_changes_nothing_the_second_time(deployment: Deployment) -> None:
    first = deployment.cli("migrate")
    assert first.returncode == 0, first.stderr
    schema = deployment.query(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' ORDER BY 1, 2"
    )
    applied = deployment.query("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1")
    second = deployment.cli("migrate")
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    assert deployment.query(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' ORDER BY 1, 2"
    ) == schema
    assert deployment.query("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1") == applied
    assert len(applied) >= 1
