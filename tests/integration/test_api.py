"""The read API over real workers, Kafka and Postgres: visibility flags (§10.3.3, §20.6.5) and listing (§20.5)."""
from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.integration.harness import Deployment, Worker, make_occurrence, produce, wait_for
from tests.integration.test_flags import both_workers_own_partitions

pytestmark = pytest.mark.integration

DEAD_CLICK = 5001  # replay_click_dead: unreleased (spec §9.6)
BULK = 9801  # it_bulk: released, no noise, a large quota (tests/integration/plugin_types.py)
FEEDBACK = 6001  # released, in_default_search = false
INGEST_FLAG = "replay-click-dead-ingest"
VISIBLE_FLAG = "replay-click-dead-visible"


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.json: Any = orjson.loads(body) if body else None

    @property
    def hits(self) -> int:
        return int(self.headers["X-Hits"])

    def link(self, rel: str) -> tuple[bool, str]:
        match = re.search(rf'rel="{rel}"; results="(true|false)"; cursor="([^"]+)"', self.headers["Link"])
        assert match, self.headers["Link"]
        return match.group(1) == "true", match.group(2)


def get(worker: Worker, path: str, **params: str | list[str]) -> Answer:
    url = f"http://127.0.0.1:{worker.web_port}/api/0/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


def api_up(worker: Worker) -> bool:
    try:
        return get(worker, "health/").status == 200
    except OSError:
        return False


def flag_stage(worker: Worker, gate: str) -> str | None:
    try:
        return get(worker, "grouptypes/replay_click_dead/").json["flags"][gate]["stage"]
    except OSError:
        return None


def ids(answer: Answer) -> list[str]:
    assert answer.status == 200, answer.json
    return [issue["id"] for issue in answer.json]


async def test_invisible_type_is_left_out_of_lists_and_404_on_both_workers_until_its_visible_flag_is_set(
    deployment: Deployment,
) -> None:
    assert deployment.cli("migrate").returncode == 0
    workers = [deployment.start_worker(), deployment.start_worker()]
    both_workers_own_partitions(workers)
    wait_for(lambda: all(map(api_up, workers)), timeout=30, what="the API on both workers")

    # Create dead-click groups: ingest on for project 1, visible still off (spec §10.3).
    assert deployment.cli("flag", "set", INGEST_FLAG, "la", "--projects", "1").returncode == 0
    wait_for(lambda: all(flag_stage(worker, "ingest") == "la" for worker in workers), timeout=15,
             what="the ingest flag on both workers")
    assert all(flag_stage(worker, "visible") == "off" for worker in workers)
    occurrences = (
        [make_occurrence(1, f"dead-{i}", type_id=DEAD_CLICK) for i in range(3)]
        + [make_occurrence(1, f"bulk-{i}", type_id=BULK) for i in range(4)]
        + [make_occurrence(1, "feedback-0", type_id=FEEDBACK)]
    )
    await produce(deployment.topic("ingest-occurrences"), [(None, orjson.dumps(o)) for o in occurrences])
    wait_for(lambda: deployment.query("SELECT count(*) FROM groups") == [(8,)], timeout=60, what="8 groups")
    groups = dict(deployment.query("SELECT id::text, type FROM groups"))
    dead = sorted(group_id for group_id, type_id in groups.items() if type_id == DEAD_CLICK)
    bulk = sorted(group_id for group_id, type_id in groups.items() if type_id == BULK)
    feedback = [group_id for group_id, type_id in groups.items() if type_id == FEEDBACK]
    dead_short_ids = [f"P1-{short_id}" for (short_id,) in
                      deployment.query("SELECT short_id FROM groups WHERE type = %s", (DEAD_CLICK,))]
    assert len(dead) == 3 and len(bulk) == 4 and len(feedback) == 1

    for worker in workers:
        everything = get(worker, "projects/1/issues/", query="")
        assert sorted(ids(everything)) == bulk  # dead clicks invisible, feedback out of default search
        assert everything.hits == 4
        named = get(worker, "projects/1/issues/", query="issue.type:replay_click_dead")
        assert (ids(named), named.hits) == ([], 0)  # naming the type does not reveal it
        assert ids(get(worker, "projects/1/issues/", query="issue.category:feedback")) == feedback
        for ref in dead + dead_short_ids:
            hidden = get(worker, f"issues/{ref}/")
            assert hidden.status == 404, (ref, hidden.json)
            assert hidden.json == {"code": "not_found", "message": f"no issue {ref}", "details": {}}
            for sub_resource in ("occurrences/latest/", "occurrences/", "activities/"):
                assert get(worker, f"issues/{ref}/{sub_resource}").status == 404
        assert get(worker, f"issues/{bulk[0]}/").status == 200
        assert get(worker, f"issues/{feedback[0]}/").status == 200  # out of search, not invisible

    # Visible for project 1, while both workers run: no restart (spec §10.4.1).
    flipped = deployment.cli("flag", "set", VISIBLE_FLAG, "la", "--projects", "1")
    assert flipped.returncode == 0, flipped.stderr
    flipped_at = time.monotonic()
    wait_for(lambda: all(get(worker, "projects/1/issues/", query="").hits == 7 for worker in workers),
             timeout=10, interval=0.2, what="the dead clicks listed on both workers")
    assert time.monotonic() - flipped_at < 10
    for worker in workers:
        listed = get(worker, "projects/1/issues/", query="")
        assert sorted(ids(listed)) == sorted(bulk + dead) and listed.hits == 7
        named = get(worker, "projects/1/issues/", query="issue.type:replay_click_dead")
        assert sorted(ids(named)) == dead and named.hits == 3
        for ref in dead + dead_short_ids:
            shown = get(worker, f"issues/{ref}/")
            assert shown.status == 200, (ref, shown.json)
            assert shown.json["issueType"] == "replay_click_dead" and shown.json["typeId"] == DEAD_CLICK
            assert get(worker, f"issues/{ref}/occurrences/latest/").json["typeId"] == DEAD_CLICK
        assert get(worker, "grouptypes/5001/").json["flags"]["visible"] == {
            "name": VISIBLE_FLAG, "stage": "la", "projects": [1],
        }
        flags = {flag["name"]: flag for flag in get(worker, "flags/").json}
        assert flags[VISIBLE_FLAG] == {"name": VISIBLE_FLAG, "type_slug": "replay_click_dead", "gate": "visible",
                                       "stage": "la", "projects": [1]}
        options = {option["name"]: option for option in get(worker, "options/").json}
        assert options[f"flag:{INGEST_FLAG}"]["value"] == {"stage": "la", "projects": [1]}
    assert all(worker.process.poll() is None for worker in workers)


def bulk_occurrence(index: int, at: datetime, **fields: Any) -> dict[str, Any]:
    occurrence = make_occurrence(1, f"fp-{index}", type_id=BULK, detected_at=at)
    occurrence.update(fields)
    return occurrence


async def test_list_filters_sorts_and_pages_real_rows(deployment: Deployment) -> None:
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    wait_for(lambda: api_up(worker), timeout=60, what="the API")

    # Seven issues, fingerprint i seen i + 1 times, at distinct times, with different priorities and levels.
    now = datetime.now(UTC).replace(microsecond=0)
    occurrences = []
    for index in range(7):
        first = now - timedelta(hours=(index * 3) % 7 + 10)
        last = now - timedelta(hours=index + 1)
        fields: dict[str, Any] = {"priority": [25, 50, 75][index % 3], "level": "error" if index < 2 else "info"}
        if index == 3:
            fields["culprit"] = "app.Checkout.pay"
        for seen in range(index + 1):
            occurrence = bulk_occurrence(index, first if seen == 0 else last, **fields)
            if index == 2:
                occurrence["event"]["environment"] = "staging"
            occurrences.append(occurrence)
    await produce(deployment.topic("ingest-occurrences"),
                  [(None, orjson.dumps(o)) for o in occurrences] + [(b"k", b"\xffnot json")])
    wait_for(lambda: deployment.query("SELECT count(*), sum(times_seen) FROM groups") == [(7, 28)], timeout=60,
             what="7 groups seen 28 times")
    rows = deployment.query("SELECT id::text, first_seen, last_seen, times_seen, priority, level, culprit FROM groups")
    by_id = {row[0]: row for row in rows}
    expected = {
        "date": sorted(by_id, key=lambda i: (by_id[i][2], int(i)), reverse=True),
        "new": sorted(by_id, key=lambda i: (by_id[i][1], int(i)), reverse=True),
        "freq": sorted(by_id, key=lambda i: (by_id[i][3], int(i)), reverse=True),
        "priority": sorted(by_id, key=lambda i: (by_id[i][4], by_id[i][2], int(i)), reverse=True),
    }
    assert len(set(map(tuple, expected.values()))) == 4  # the four sorts really differ on this data

    # Sorts (§20.7), each walked forward in pages of 3 and back again through the Link cursors (§20.2).
    for sort, order in expected.items():
        first_page = get(worker, "projects/1/issues/", query="", sort=sort, limit="3")
        assert first_page.hits == 7
        assert first_page.link("previous")[0] is False
        seen, page = ids(first_page), first_page
        while page.link("next")[0]:
            page = get(worker, "projects/1/issues/", query="", sort=sort, limit="3", cursor=page.link("next")[1])
            seen += ids(page)
        assert seen == order, sort
        back, last_ids = [], ids(page)
        while page.link("previous")[0]:
            page = get(worker, "projects/1/issues/", query="", sort=sort, limit="3", cursor=page.link("previous")[1])
            back = ids(page) + back
        assert back + last_ids == order, sort

    # Filters (§20.6) and their X-Hits.
    def matching(query: str, **params: str | list[str]) -> tuple[set[str], int]:
        answer = get(worker, "projects/1/issues/", query=query, **params)
        return set(ids(answer)), answer.hits

    errors = {i for i, row in by_id.items() if row[5] == 40}
    assert matching("level:error") == (errors, 2)
    assert matching("!level:error") == (set(by_id) - errors, 5)
    frequent = {i for i, row in by_id.items() if row[3] >= 5}
    assert matching("times_seen:>=5") == (frequent, 3)
    checkout = {i for i, row in by_id.items() if row[6] == "app.Checkout.pay"}
    assert matching("checkout") == (checkout, 1)
    assert matching('"CHECKOUT.pay" is:unresolved is:new') == (checkout, 1)
    assert matching("", environment="staging") == ({i for i, row in by_id.items() if row[3] == 3}, 1)
    assert matching("", environment=["staging", "production"])[1] == 7
    default = {i for i, row in by_id.items() if row[4] in (50, 75)}
    assert set(ids(get(worker, "projects/1/issues/"))) == default  # is:unresolved issue.priority:[high,medium]
    recent = {i for i, row in by_id.items() if row[2] >= now - timedelta(hours=2, minutes=30)}
    assert 0 < len(recent) < 7
    assert matching("lastSeen:-150m") == (recent, len(recent))
    assert matching("", statsPeriod="150m") == (recent, len(recent))
    assert matching("lastSeen:+150m") == (set(by_id) - recent, 7 - len(recent))

    # Stats and details of one issue (§20.3, §20.10).
    top = get(worker, "projects/1/issues/", query="", sort="freq", limit="1").json[0]
    assert top["count"] == 7 and len(top["stats"]["24h"]) == 24
    details = get(worker, f"issues/{top['shortId'].lower()}/").json
    assert details["id"] == top["id"] and details["environments"] == ["production"]
    assert details["latestOccurrence"]["groupId"] == top["id"]
    assert details["importantEvidence"] == {"name": "Duration", "value": "120 ms", "important": True}
    assert [activity["typeName"] for activity in details["activity"]] == ["FIRST_SEEN"]
    assert sum(count for _, count in details["stats"]["14d"]) == 7
    latest = get(worker, f"issues/{top['id']}/occurrences/latest/").json
    assert latest["id"] == details["latestOccurrence"]["id"]
    assert latest["event"]["event_id"] == latest["eventId"] and latest["event"]["environment"] == "production"
    stored = [row[0] for row in deployment.query(
        "SELECT id FROM occurrences WHERE group_id = %s ORDER BY received DESC, id DESC", (int(top["id"]),))]
    assert len(stored) == 7
    page = get(worker, f"issues/{top['id']}/occurrences/", limit="3")
    listed = ids(page)
    while page.link("next")[0]:
        page = get(worker, f"issues/{top['id']}/occurrences/", limit="3", cursor=page.link("next")[1])
        listed += ids(page)
    assert listed == stored and listed[0] == latest["id"]
    activities = get(worker, f"issues/{top['shortId']}/activities/")
    assert [activity["typeName"] for activity in activities.json] == ["FIRST_SEEN"]
    assert activities.link("next")[0] is False

    # Errors (§20.1.3).
    bad = get(worker, "projects/1/issues/", query="is:unresolved colour:red")
    assert (bad.status, bad.json) == (400, {
        "code": "invalid_query",
        "message": bad.json["message"],
        "details": {"token": "colour", "position": 14},
    })
    assert get(worker, "projects/1/issues/", sort="hot").json["details"] == {"parameter": "sort"}
    assert get(worker, "projects/1/issues/", cursor="nope").json["details"] == {"parameter": "cursor"}
    assert get(worker, "projects/2/issues/").json["code"] == "not_found"
    projects = get(worker, "projects/")
    assert [project["id"] for project in projects.json] == ["1"] and projects.link("next")[0] is False
    assert get(worker, "projects/1/").json["settings"]["slug"] == "p1"
    assert get(worker, "projects/2/").status == 404
    assert get(worker, "issues/999999/").status == 404
    assert get(worker, "grouptypes/no_such_type/").status == 404
    assert len(get(worker, "grouptypes/").json) >= 26
    assert get(worker, "health/").json == {"status": "ok", "checks": {"kafka": "ok", "postgres": "ok", "parked": 0}}
    assert get(worker, "health").json["code"] == "not_found"  # paths end with a slash
    assert get(worker, "no/such/thing/").json == {
        "code": "not_found", "message": "no resource /api/0/no/such/thing/", "details": {"path": "/api/0/no/such/thing/"},
    }

    # A resolved issue has no substatus: negated substatus terms must still match it (§8.3, §20.6.4).
    resolve = {"payload_type": "status_change", "project_id": 1, "fingerprint": ["fp-0"], "new_status": 1,
               "new_substatus": None}
    await produce(deployment.topic("ingest-occurrences"), [(None, orjson.dumps(resolve))])
    resolved = wait_for(lambda: deployment.query("SELECT id::text FROM groups WHERE status = 1"), timeout=30,
                        what="the resolved group")[0][0]
    assert matching("is:resolved") == ({resolved}, 1)
    assert resolved in matching("!is:new")[0] and resolved not in matching("is:new")[0]
    assert resolved in matching("!is:[ongoing,archived_forever]")[0]
    assert resolved not in matching("is:unresolved")[0]
    assert get(worker, f"issues/{resolved}/").json["substatus"] is None

    # The dead-letter entry of the one bad input (§20.11.5).
    wait_for(lambda: get(worker, "dlq/").json, timeout=30, what="the DLQ entry")
    entries = get(worker, "dlq/", reason="invalid_json")
    assert [entry["reason"] for entry in entries.json] == ["invalid_json"]
    assert entries.link("next")[0] is False
    assert get(worker, "dlq/", reason="invalid_field").json == []
    entry = get(worker, f"dlq/{entries.json[0]['id']}/").json
    assert (entry["payload"], entry["payloadEncoding"], entry["key"]) == ("/25vdCBqc29u", "base64", "k")
    assert get(worker, "dlq/0123456789abcdef0123456789abcdef/").status == 404
