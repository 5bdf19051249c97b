"""API mutations against two real workers, Kafka and PostgreSQL (spec §20.8, §20.9): each request goes through the
grouping topic to the key's owner and the sink, and is read back from PostgreSQL and the API; `?wait=1`, bulk by
ids and by query, a retried request applied once, the §20.1.3 errors, the bearer token (§20.1.2), and a delete after
which the same fingerprint makes a new group through the noise gate again (§19)."""
from __future__ import annotations

import asyncio
import hashlib
import time
import urllib.parse
import urllib.request
from typing import Any

import orjson
import pytest

from streams.core.decide import activity_id
from tests.integration.harness import Deployment, Worker, consume_all, json_value, make_occurrence, produce, wait_for
from tests.integration.test_api_auth_trackers import Answer, api_up, assert_error, call
from tests.integration.test_event_sweep import sweep

pytestmark = pytest.mark.integration

TOKEN = "mutations-token-5b7e20"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BULK = 9801  # it_bulk: released, no noise, a large quota (tests/integration/plugin_types.py)
NOISY = 9802  # it_noisy: NoiseConfig(3, 1 h), a large quota
MANY = 1001  # one more than a bulk update may touch (spec §20.8.3)


def group_key(project_id: int, fingerprint: str) -> str:
    return f"{project_id}:{hashlib.md5(fingerprint.encode()).hexdigest()}"  # spec §1.2


def mutate(worker: Worker, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
           **params: str | list[str]) -> Answer:
    query = f"?{urllib.parse.urlencode(params, doseq=True)}" if params else ""
    return call(worker, method, f"/api/0/{path}{query}", body, {**AUTH, **(headers or {})})


def settled(workers: list[Worker]) -> None:
    """Both workers in the consumer group and recovered (as tests/integration/test_flags.py waits, with the token
    that /router/ needs once one is configured, spec §10.3.3)."""

    def two_hosts() -> bool:
        request = urllib.request.Request(f"http://127.0.0.1:{workers[-1].web_port}/router/groups/", headers=AUTH)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return len(orjson.loads(response.read())) == 2
        except OSError:
            return False

    def ready(worker: Worker) -> bool:
        log = worker.log()
        return log.rfind("Worker ready") > log.rfind("Setting newly assigned partitions") >= 0

    def still_settled() -> bool:
        if not (two_hosts() and all(map(ready, workers))):
            return False
        time.sleep(2)
        return two_hosts() and all(map(ready, workers))

    wait_for(still_settled, timeout=120, what="both workers in the consumer group, recovered")


def group_ids(deployment: Deployment, project_id: int) -> dict[str, int]:
    """group key → id of the project's live groups."""
    return dict(deployment.query("SELECT group_key, id FROM groups WHERE project_id = %s", (project_id,)))


def row(deployment: Deployment, group_id: int) -> tuple[Any, ...] | None:
    rows = deployment.query("SELECT status, substatus, priority, priority_locked_at IS NOT NULL, assignee, "
                            "snooze_count FROM groups WHERE id = %s", (group_id,))
    return rows[0] if rows else None


def activities(deployment: Deployment, group_id: int) -> list[tuple[Any, ...]]:
    return deployment.query("SELECT id, type, data, actor, source, cause_id FROM activities WHERE group_id = %s "
                            "ORDER BY datetime, id", (group_id,))


def rows_of(deployment: Deployment, group_id: int) -> dict[str, int]:
    """What PostgreSQL still holds of a group (spec §19)."""
    counts = {}
    for table in ("groups", "group_hashes", "occurrences", "activities", "hourly_counts", "group_environments"):
        column = "id" if table == "groups" else "group_id"
        counts[table] = deployment.query(f"SELECT count(*) FROM {table} WHERE {column} = %s", (group_id,))[0][0]
    return counts


def test_every_mutation_goes_through_the_stream_and_is_read_back(deployment: Deployment) -> None:
    assert deployment.cli("migrate").returncode == 0
    deployment.extra_env["ISSUE_PLATFORM_API_TOKEN"] = TOKEN
    workers = [deployment.start_worker(), deployment.start_worker()]
    settled(workers)
    wait_for(lambda: all(map(api_up, workers)), timeout=30, what="the API on both workers")
    first, second = workers
    topic = deployment.topic("ingest-occurrences")

    names = [f"mutable-{i}" for i in range(5)]
    noisy = "noisy-0"
    asyncio.run(produce(topic, [(None, orjson.dumps(make_occurrence(1, name, type_id=BULK))) for name in names]
                        + [(noisy.encode(), orjson.dumps(make_occurrence(1, noisy, type_id=NOISY)))
                           for _ in range(3)]
                        + [(None, orjson.dumps(make_occurrence(2, f"many-{i}", type_id=BULK))) for i in range(MANY)]))
    wait_for(lambda: len(group_ids(deployment, 1)) == 6 and len(group_ids(deployment, 2)) == MANY, timeout=120,
             interval=1, what="6 groups in project 1 and 1001 in project 2")
    ids = group_ids(deployment, 1)
    a, b, c, d, e = (ids[group_key(1, name)] for name in names)
    n = ids[group_key(1, noisy)]

    # The bearer token (spec §20.1.2): refused before any handler, nothing produced, nothing changed.
    for method, path, params in [("PUT", f"issues/{a}/", {}), ("PUT", "projects/1/issues/", {"id": str(a)}),
                                 ("DELETE", f"issues/{a}/", {}), ("DELETE", "projects/1/issues/", {"id": str(a)})]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        for headers in (None, {"Authorization": "Bearer not-the-token"}):
            refused = call(first, method, f"/api/0/{path}{query}", {"status": "resolved"}, headers)
            assert_error(refused, 401, "unauthorized")
            assert refused.headers["WWW-Authenticate"] == "Bearer"

    # A single status change: 202 with its change id; applied by the owner, persisted by the sink (spec §20.8).
    resolved = mutate(first, "PUT", f"issues/{a}/", {"status": "resolved"})
    assert resolved.status == 202, resolved.json
    (change,) = resolved.json["changes"]
    assert resolved.json == {"ids": [str(a)], "changes": [{"id": change["id"], "kind": "status_change",
                                                             "issue": str(a)}], "status": "resolved"}
    wait_for(lambda: row(deployment, a) == (1, None, 50, False, None, None), what="the issue resolved")
    issue = call(second, "GET", f"/api/0/issues/{a}/").json
    assert (issue["status"], issue["substatus"]) == ("resolved", None) and issue["resolvedAt"] is not None
    api_activities = [activity for activity in activities(deployment, a) if activity[4] == "api"]
    assert api_activities == [(activity_id(change["id"], 0), 1, {}, "api", "api", change["id"])]  # §18.2
    # Nothing else was applied: the refused requests never reached the stream.
    assert [activity[1] for activity in activities(deployment, a)] == [9, 1]

    # ?wait=1: 200 with the issue as it is once applied; priority set and locked (spec §17), assigned (§18.3).
    updated = mutate(second, "PUT", f"issues/{b}/", {"priority": "high", "assignedTo": "user:7"}, wait="1")
    assert updated.status == 200, updated.json
    assert (updated.json["id"], updated.json["priority"], updated.json["assignedTo"]) == (str(b), "high", "user:7")
    assert updated.json["priorityLockedAt"] is not None
    assert row(deployment, b) == (0, 7, 75, True, "user:7", None)
    assert sorted((activity[1], orjson.dumps(activity[2], option=orjson.OPT_SORT_KEYS))
                  for activity in activities(deployment, b) if activity[3] == "api") == [
        (11, b'{"assignee":"7","assigneeType":"user"}'), (26, b'{"priority":"high","reason":"user"}')]

    # A snooze (spec §14.4) through the short id of the path (spec §20.1.1).
    short_id = call(first, "GET", f"/api/0/issues/{c}/").json["shortId"]
    snoozed = mutate(first, "PUT", f"issues/{short_id}/", {"status": "ignored", "statusDetails": {"ignoreCount": 3}},
                     wait="1")
    assert snoozed.status == 200, snoozed.json
    assert (snoozed.json["status"], snoozed.json["substatus"], snoozed.json["statusDetails"]) == (
        "ignored", "archived_until_condition_met", {"ignoreCount": 3})

    # Bulk by ids, waited for: the issues in the order named (spec §20.8.3).
    assigned = mutate(first, "PUT", "projects/1/issues/", {"assignedTo": "team:ops"}, id=[str(e), str(d)], wait="1")
    assert assigned.status == 200, assigned.json
    assert [(issue["id"], issue["assignedTo"]) for issue in assigned.json] == [(str(e), "team:ops"),
                                                                               (str(d), "team:ops")]

    # Bulk by query, evaluated at request time: the unresolved bulk issues are b, d and e.
    by_query = mutate(second, "PUT", "projects/1/issues/", {"status": "resolved"},
                      query="is:unresolved issue.type:it_bulk")
    assert by_query.status == 202, by_query.json
    assert sorted(by_query.json["ids"]) == sorted(map(str, (b, d, e)))
    assert [change["kind"] for change in by_query.json["changes"]] == ["status_change"] * 3
    wait_for(lambda: all(row(deployment, group)[0] == 1 for group in (b, d, e)),  # type: ignore[index]
             what="the issues the query matched resolved")
    assert call(first, "GET", "/api/0/projects/1/issues/?query=is%3Aunresolved+issue.type%3Ait_bulk").json == []

    # A retried request (same Idempotency-Key) has the same change ids and is applied at most once (spec §2.4).
    key = {"Idempotency-Key": "retry-d-1"}
    once = mutate(first, "PUT", f"issues/{d}/", {"assignedTo": "user:1"}, headers=key)
    wait_for(lambda: row(deployment, d)[4] == "user:1", what="user:1 assigned")  # type: ignore[index]
    assert mutate(second, "PUT", f"issues/{d}/", {"assignedTo": "user:2"}, wait="1").json["assignedTo"] == "user:2"
    retried = mutate(second, "PUT", f"issues/{d}/", {"assignedTo": "user:1"}, headers=key)
    assert retried.status == 202 and retried.json["changes"] == once.json["changes"]
    after = mutate(first, "PUT", f"issues/{d}/", {"priority": "low"}, wait="1")  # applied after the retry
    assert (after.json["assignedTo"], after.json["priority"]) == ("user:2", "low")
    assert [activity[2] for activity in activities(deployment, d) if activity[1] == 11] == [
        {"assignee": "ops", "assigneeType": "team"}, {"assignee": "1", "assigneeType": "user"},
        {"assignee": "2", "assigneeType": "user"}]

    # Every 4xx of §20.1.3 that a mutation can meet, once.
    assert_error(mutate(second, "PUT", f"issues/{a}/", {"hasSeen": True}), 400, "invalid_body")
    assert_error(mutate(second, "PUT", "projects/1/issues/", {"status": "resolved"}), 400, "invalid_parameter")
    bad_query = mutate(second, "PUT", "projects/1/issues/", {"status": "resolved"}, query="colour:red")
    assert_error(bad_query, 400, "invalid_query")
    assert bad_query.json["details"] == {"token": "colour", "position": 0}
    too_many = mutate(second, "PUT", "projects/2/issues/", {"status": "resolved"}, query="")
    assert_error(too_many, 400, "too_many_matches")
    assert too_many.json["details"] == {"count": MANY}
    assert_error(mutate(second, "DELETE", "projects/1/issues/"), 400, "ids_required")
    unknown = mutate(second, "PUT", "projects/1/issues/", {"status": "resolved"}, id=[str(a), "999999", "x"])
    assert_error(unknown, 404, "not_found")
    assert unknown.json["details"] == {"ids": ["999999", "x"]}
    other_project = mutate(second, "DELETE", "projects/2/issues/", id=str(a))  # a is project 1's
    assert_error(other_project, 404, "not_found")
    assert_error(mutate(second, "PUT", "issues/999999/", {"status": "resolved"}), 404, "not_found")
    assert_error(mutate(second, "DELETE", "projects/77/issues/", id=str(a)), 404, "not_found")
    assert_error(mutate(second, "PUT", f"issues/{a}/", b" " * (1024 * 1024 + 1)), 413, "payload_too_large")
    not_allowed = mutate(second, "POST", f"issues/{a}/", {})
    assert_error(not_allowed, 405, "method_not_allowed")
    assert not_allowed.headers["Allow"] == "GET, PUT, DELETE"
    assert deployment.query("SELECT count(*) FROM groups WHERE project_id = 2 AND status = 0") == [(MANY,)]
    assert row(deployment, a)[0] == 1  # type: ignore[index]

    # Delete one issue, waited for: its rows are gone (spec §19), and it is 404. Its events, only queued for the
    # housekeeping sweep (an occurrence naming one may be on its way), go once marked past the grace.
    events = [event for (event,) in deployment.query("SELECT event_id FROM occurrences WHERE group_id = %s", (n,))]
    assert len(events) == 3
    deleted = mutate(first, "DELETE", f"issues/{n}/", wait="1")
    assert deleted.status == 200, deleted.json
    assert deleted.json["ids"] == [str(n)] and [c["kind"] for c in deleted.json["changes"]] == ["delete"]
    assert rows_of(deployment, n) == dict.fromkeys(rows_of(deployment, n), 0)
    assert deployment.query("SELECT count(*) FROM event_sweep WHERE event_id = ANY(%s)", (events,)) == [(3,)]
    assert asyncio.run(sweep(deployment.database_url)).marked == 3
    assert asyncio.run(sweep(deployment.database_url)).deleted == 3
    assert deployment.query("SELECT count(*) FROM events WHERE event_id = ANY(%s)", (events,)) == [(0,)]
    assert_error(call(second, "GET", f"/api/0/issues/{n}/"), 404, "not_found")

    # The same fingerprint again: a new group, through the noise gate again (3 occurrences) and the quota.
    noisy_key = group_key(1, noisy)
    asyncio.run(produce(topic, [(noisy.encode(), orjson.dumps(make_occurrence(1, noisy, type_id=NOISY)))]))
    # The deleted group's held-back occurrences went with it: this one is the first of the new window.
    wait_for(lambda: deployment.query("SELECT count(*) FROM occurrences WHERE group_key = %s AND outcome = 'held_back'",
                                      (noisy_key,)) == [(1,)], what="the first new occurrence held back")
    assert noisy_key not in group_ids(deployment, 1)
    asyncio.run(produce(topic, [(noisy.encode(), orjson.dumps(make_occurrence(1, noisy, type_id=NOISY)))
                                for _ in range(2)]))
    wait_for(lambda: noisy_key in group_ids(deployment, 1), what="the fingerprint's new group")
    recreated = deployment.query("SELECT id, generation, times_seen, status FROM groups WHERE group_key = %s",
                                 (noisy_key,))
    assert len(recreated) == 1 and recreated[0][0] != n and recreated[0][1:] == (1, 3, 0)

    # Bulk delete by ids (spec §20.9): 202 with the ids, then the groups are gone.
    gone = mutate(second, "DELETE", "projects/1/issues/", id=[str(a), str(b)])
    assert gone.status == 202 and gone.json["ids"] == [str(a), str(b)]
    assert [change["kind"] for change in gone.json["changes"]] == ["delete", "delete"]
    wait_for(lambda: deployment.query("SELECT count(*) FROM groups WHERE id = ANY(%s)", ([a, b],)) == [(0,)],
             what="both issues deleted")
    assert sorted(group_ids(deployment, 1).values()) == sorted([c, d, e, recreated[0][0]])

    # Activities of API changes reach the activity topic with actor and source `api` (spec §18.2).
    messages = [json_value(record) for record in asyncio.run(consume_all(
        deployment.topic("issue-platform-activity"), expected=MANY + 10, timeout=30))]
    resolved_message = next(message for message in messages if message["id"] == activity_id(change["id"], 0))
    assert (resolved_message["actor"], resolved_message["source"], resolved_message["cause_id"],
            resolved_message["type_name"], resolved_message["group_id"]) == ("api", "api", change["id"],
                                                                            "set_resolved", a)
