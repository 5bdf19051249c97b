"""Projects, the occurrence rate limit and DLQ replay over HTTP, against two real workers, Kafka and PostgreSQL.

`PUT /api/0/projects/{id}/` and `issue-platform project set` through the options topic (spec §11.1, §20.11.1):
400 `invalid_body`, 409 on a taken slug, `p{id}` reserved, two PUTs of one slug at once settled without stopping
a worker; the occurrence rate limit (§11.2) dropping exactly the excess of a burst over keys owned by both workers,
existing groups too, and nothing once it is off; `POST /api/0/dlq/replay/` (§20.11.5); an Idempotency-Key bound to
its request (422 for another one) and `?wait=1` reporting a change that found its issue gone (§20.8).
"""
from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import orjson
import psycopg
import pytest

from storage.api_requests import bind_request_key, prune_api_requests
from storage.projects import SettingsApplied, apply_project_settings, settings_offset
from tests.integration.harness import Deployment, make_occurrence, produce, wait_for
from tests.integration.test_api_auth_trackers import Answer, api_up, assert_error, call
from tests.integration.test_api_mutations import AUTH, BULK, TOKEN, group_key, mutate, settled

pytestmark = pytest.mark.integration

RATE = {"enabled": True, "window_seconds": 3600, "granularity_seconds": 60, "limit": 5}
BURST_KEYS = 12  # over 12 partitions: both workers own some of them
BURST = 9  # occurrences per key, 5 allowed


def put_project(worker: Any, project_id: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return call(worker, "PUT", f"/api/0/projects/{project_id}/", body, {**AUTH, **(headers or {})})


def project_row(deployment: Deployment, project_id: int) -> tuple[Any, ...] | None:
    rows = deployment.query("SELECT slug, resolve_age_hours, occurrence_rate_limit FROM projects WHERE id = %s",
                            (project_id,))
    return rows[0] if rows else None


def times_seen(deployment: Deployment, project_id: int) -> dict[str, int]:
    return dict(deployment.query("SELECT group_key, times_seen FROM groups WHERE project_id = %s", (project_id,)))


def rate_limited(deployment: Deployment, project_id: int) -> int:
    rows = deployment.query("SELECT coalesce(sum(count), 0) FROM drop_counters WHERE project_id = %s "
                            "AND outcome = 'rate_limited'", (project_id,))
    return int(rows[0][0])


def test_projects_rate_limit_and_dlq_replay(deployment: Deployment) -> None:
    assert deployment.cli("migrate").returncode == 0
    deployment.extra_env["ISSUE_PLATFORM_API_TOKEN"] = TOKEN
    workers = [deployment.start_worker(), deployment.start_worker()]
    settled(workers)
    wait_for(lambda: all(map(api_up, workers)), timeout=30, what="the API on both workers")
    first, second = workers
    topic = deployment.topic("ingest-occurrences")

    # Auth as every mutation (spec §20.1.2).
    assert_error(call(first, "PUT", "/api/0/projects/7/", {"slug": "team-a"}), 401, "unauthorized")
    assert_error(call(first, "POST", "/api/0/dlq/replay/", {"reason": "invalid_json"}), 401, "unauthorized")

    # A PUT creates the project (spec §11.1) and answers 200 once the options agent has applied it.
    created = put_project(first, 7, {"slug": "team-a", "resolve_age_hours": 48})
    assert created.status == 200, created.json
    assert created.json["settings"] == {"slug": "team-a", "resolve_age_hours": 48, "occurrence_rate_limit": {
        "enabled": False, "window_seconds": 3600, "granularity_seconds": 60, "limit": 1000}}
    assert project_row(deployment, 7)[:2] == ("team-a", 48)  # type: ignore[index]
    assert call(second, "GET", "/api/0/projects/7/").json["slug"] == "team-a"

    # 400 with the §20.1.3 body, every problem by path; 409 on a slug another project holds; p{id} reserved.
    bad = put_project(second, 7, {"slug": "Team A", "resolve_age_hours": 8761, "colour": "red",
                                  "occurrence_rate_limit": {"window_seconds": 100, "granularity_seconds": 30}})
    assert_error(bad, 400, "invalid_body")
    assert [error["path"] for error in bad.json["details"]["errors"]] == [
        "colour", "slug", "resolve_age_hours", "occurrence_rate_limit.granularity_seconds"]
    assert_error(put_project(second, 7, b"{"), 400, "invalid_body")
    reserved = put_project(second, 7, {"slug": "p8"})
    assert_error(reserved, 400, "invalid_body")
    assert reserved.json["details"]["errors"][0]["path"] == "slug"
    clash = put_project(second, 8, {"slug": "team-a"})
    assert_error(clash, 409, "conflict")
    assert clash.json["details"] == {"slug": "team-a", "project": "7"}
    assert project_row(deployment, 8) is None  # nothing was produced
    assert_error(put_project(second, 0, {"slug": "zero"}), 404, "not_found")

    # Two PUTs of one slug at once, on both workers: one takes it, the other answers 409 and keeps p{id}; no
    # worker stops (the options agent never fails on a clash, spec §11.1).
    answers: dict[int, Answer] = {}

    def race(worker: Any, project_id: int) -> None:
        answers[project_id] = put_project(worker, project_id, {"slug": "shared", "resolve_age_hours": 5})

    threads = [threading.Thread(target=race, args=(worker, pid)) for worker, pid in ((first, 21), (second, 22))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status for answer in answers.values()) == [200, 409], {p: a.json for p, a in answers.items()}
    winner = next(pid for pid, answer in answers.items() if answer.status == 200)
    loser = 43 - winner
    assert project_row(deployment, winner)[:2] == ("shared", 5)  # type: ignore[index]
    loser_row = project_row(deployment, loser)
    assert loser_row is None or loser_row[0] == f"p{loser}"
    assert all(worker.process.poll() is None for worker in workers)

    # The CLI sets the same settings (spec §22).
    cli = deployment.cli("project", "set", "9", "--slug", "cli-made", "--rate-limit", "50/600/60")
    assert cli.returncode == 0, cli.stderr
    wait_for(lambda: project_row(deployment, 9) == ("cli-made", None, {
        "enabled": True, "window_seconds": 600, "granularity_seconds": 60, "limit": 50}), what="project 9 set")
    taken = deployment.cli("project", "set", "10", "--slug", "cli-made")
    assert taken.returncode == 1 and "project 9 already has slug cli-made" in taken.stderr
    assert deployment.cli("project", "set", "10", "--resolve-age-hours", "0").returncode == 2

    # The rate limit (spec §11.2): an existing group, then a burst over 12 keys, 9 each; 5 per key are kept.
    names = [f"burst-{i}" for i in range(BURST_KEYS)]
    asyncio.run(produce(topic, [(names[0].encode(), orjson.dumps(make_occurrence(7, names[0], type_id=BULK)))]))
    wait_for(lambda: times_seen(deployment, 7) == {group_key(7, names[0]): 1}, what="the existing group")
    limited = put_project(first, 7, {"occurrence_rate_limit": RATE})
    assert limited.status == 200 and limited.json["settings"]["occurrence_rate_limit"] == RATE, limited.json
    assert call(second, "GET", "/api/0/projects/7/").json["settings"]["occurrence_rate_limit"] == RATE
    time.sleep(3)  # every worker's grouping reads the options table once a second
    asyncio.run(produce(topic, [(name.encode(), orjson.dumps(make_occurrence(7, name, type_id=BULK)))
                                for _ in range(BURST) for name in names]))
    expected = {group_key(7, name): 5 + (name == names[0]) for name in names}
    wait_for(lambda: times_seen(deployment, 7) == expected and rate_limited(deployment, 7) == BURST_KEYS * 4,
             timeout=120, what="5 occurrences kept per key, 4 per key rate-limited")
    time.sleep(2)
    assert times_seen(deployment, 7) == expected
    assert rate_limited(deployment, 7) == BURST_KEYS * (BURST - 5)
    stored = deployment.query("SELECT count(*) FROM occurrences WHERE project_id = 7")
    assert stored == [(sum(expected.values()),)]  # refused ones are not stored
    drops = call(second, "GET", "/api/0/projects/7/").json["drops"]
    assert drops["rate_limited"] == {"it_bulk": BURST_KEYS * (BURST - 5)}

    # Off again: every occurrence is kept.
    off = put_project(second, 7, {"occurrence_rate_limit": {"enabled": False}})
    assert off.status == 200 and off.json["settings"]["occurrence_rate_limit"] == {**RATE, "enabled": False}
    time.sleep(3)
    asyncio.run(produce(topic, [(names[1].encode(), orjson.dumps(make_occurrence(7, names[1], type_id=BULK)))
                                for _ in range(4)]))
    wait_for(lambda: times_seen(deployment, 7)[group_key(7, names[1])] == 9, what="4 more kept without the limit")
    assert rate_limited(deployment, 7) == BURST_KEYS * (BURST - 5)

    # DLQ replay over HTTP (spec §20.11.5): by ids (all or nothing) and by reason; the input fails again into a
    # new entry, and the old one records the replay.
    asyncio.run(produce(topic, [(b"broken", b"{not json")]))
    wait_for(lambda: deployment.query("SELECT count(*) FROM dlq_entries WHERE reason = 'invalid_json'") == [(1,)],
             what="the dead letter")
    ((entry_id,),) = deployment.query("SELECT id FROM dlq_entries")
    missing = "f" * 32
    unknown = call(first, "POST", "/api/0/dlq/replay/", {"ids": [entry_id, missing]}, AUTH)
    assert_error(unknown, 404, "not_found")
    assert unknown.json["details"] == {"ids": [missing]}
    assert_error(call(first, "POST", "/api/0/dlq/replay/", {"reason": "nope"}, AUTH), 400, "invalid_body")
    assert_error(call(first, "GET", "/api/0/dlq/replay/"), 405, "method_not_allowed")
    assert deployment.query("SELECT replay_count FROM dlq_entries WHERE id = %s", (entry_id,)) == [(0,)]
    replayed = call(first, "POST", "/api/0/dlq/replay/", {"ids": [entry_id.upper()]}, AUTH)
    assert replayed.status == 202 and replayed.json == {"replayed": 1, "ids": [entry_id]}, replayed.json
    assert deployment.query("SELECT replay_count FROM dlq_entries WHERE id = %s", (entry_id,)) == [(1,)]
    wait_for(lambda: deployment.query("SELECT count(*) FROM dlq_entries WHERE reason = 'invalid_json'") == [(2,)],
             what="the replayed input dead-lettered again")
    by_reason = call(second, "POST", "/api/0/dlq/replay/", {"reason": "invalid_json", "limit": 10}, AUTH)
    assert by_reason.status == 202 and by_reason.json["replayed"] == 1  # only the entry never replayed
    assert by_reason.json["ids"] != [entry_id]

    # An Idempotency-Key binds its request (spec §20.8): the same request again is the same answer and applied
    # once, another request with it is 422 and nothing is produced.
    issue = times_seen(deployment, 7)
    ((group_id,),) = deployment.query("SELECT id FROM groups WHERE group_key = %s", (group_key(7, names[2]),))
    key = {"Idempotency-Key": "projects-test-1"}
    once = mutate(first, "PUT", f"issues/{group_id}/", {"assignedTo": "user:1"}, headers=key, wait="1")
    assert once.status == 200 and once.json["assignedTo"] == "user:1", once.json
    again = mutate(second, "PUT", f"issues/{group_id}/", {"assignedTo": "user:1"}, headers=key)
    assert again.status == 202
    other = mutate(second, "PUT", f"issues/{group_id}/", {"assignedTo": "user:2"}, headers=key)
    assert_error(other, 422, "idempotency_key_reused")
    time.sleep(2)
    assert deployment.query("SELECT assignee FROM groups WHERE id = %s", (group_id,)) == [("user:1",)]
    assert deployment.query("SELECT count(*) FROM activities WHERE group_id = %s AND type = 11", (group_id,)) == [(1,)]
    assert times_seen(deployment, 7) == issue

    # ?wait=1 for a change whose issue is deleted before it reaches the owner: 404 naming it, never a 200.
    ((doomed,),) = deployment.query("SELECT id FROM groups WHERE group_key = %s", (group_key(7, names[3]),))
    assert mutate(first, "DELETE", f"issues/{doomed}/").status == 202
    late = mutate(second, "PUT", f"issues/{doomed}/", {"status": "resolved"}, wait="1")
    assert_error(late, 404, "not_found")
    if "changes" in late.json["details"]:  # the PUT found the issue before the delete was applied
        assert late.json["details"]["ids"] == [str(doomed)]
        assert [change["outcome"] for change in late.json["details"]["changes"]] == ["group_not_found"]
    assert all(worker.process.poll() is None for worker in workers)


async def test_a_slug_clash_that_slips_past_the_api_keeps_the_rest_and_never_fails(database: str) -> None:
    """storage.projects against the real PostgreSQL: in options-topic order, the first record takes a slug; a later
    record asking it keeps its project's slug and applies the rest; a record read again changes nothing (§2.4.2)."""
    limit = {**RATE, "limit": 7}
    async with await psycopg.AsyncConnection.connect(database) as conn:
        assert await apply_project_settings(conn, 31, {"slug": "web", "resolve_age_hours": None,
                                                       "occurrence_rate_limit": RATE}, 10) == SettingsApplied("web")
        lost = await apply_project_settings(conn, 32, {"slug": "web", "resolve_age_hours": 12,
                                                       "occurrence_rate_limit": limit}, 11)
        assert lost == SettingsApplied("p32", slug_taken_by=31)
        again = await apply_project_settings(conn, 31, {"slug": "other", "resolve_age_hours": 1,
                                                        "occurrence_rate_limit": RATE}, 10)
        assert again.redelivered and again.slug == "web"
        assert await settings_offset(conn, 32) == 11 and await settings_offset(conn, 33) is None
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT id, slug, resolve_age_hours, occurrence_rate_limit, settings_offset FROM projects "
                            "ORDER BY id").fetchall()
    assert rows == [(31, "web", None, RATE, 10), (32, "p32", 12, limit, 11)]


async def test_an_idempotency_key_is_bound_to_its_first_request_for_a_day(database: str) -> None:
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        assert await bind_request_key(conn, "k1", "a" * 64) == "a" * 64
        assert await bind_request_key(conn, "k1", "b" * 64) == "a" * 64  # bound: the caller answers 422
        await conn.execute("UPDATE api_requests SET created_at = now() - interval '25 hours'")
        assert await prune_api_requests(conn, timedelta(days=1)) == 1
        assert await bind_request_key(conn, "k1", "b" * 64) == "b" * 64
