"""Automatic tickets against real workers, Kafka and PostgreSQL (spec §24.5): a new high-priority issue of a project
whose GitHub config has `auto_create` gets exactly one ticket, recorded as §24.4 records a person's (actor `auto`),
also after a 4xx (retried), a 5xx that made the ticket anyway (found by its marker) and a kill -9 right after the
tracker call (found by its marker); a tracker that cannot search leaves its in-doubt claim to a person, listed by
`GET /api/0/trackers/failures/`. One deployment, the scenarios in sequence; the tracker is tests/integration/
test_tracker_actions.GitHubStub, which serves the repository's issue list that `find_by_marker` reads."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from streams.core.tracker_auto import claim_id
from streams.trackers.issue_text import marker_line
from tests.integration.harness import (
    Deployment,
    committed_to_end,
    consume_all,
    json_value,
    make_occurrence,
    produce,
    wait_for,
)
from tests.integration.test_api_auth_trackers import api_up, assert_error, call
from tests.integration.test_api_mutations import group_ids, group_key
from tests.integration.test_tracker_actions import (
    AUTH,
    BULK,
    GH_TOKEN,
    REPO,
    GitHubStub,
    create_issue_activities,
    links,
    start,
)

pytestmark = pytest.mark.integration

HIGH = 75
AUTO_CREATE = {"on": ["new"], "min_priority": "high", "types": [BULK]}


@pytest.fixture
def github() -> Iterator[GitHubStub]:
    with GitHubStub() as stub:
        yield stub


def occurrence(project_id: int, fingerprint: str, priority: int | None = None) -> tuple[None, bytes]:
    made = make_occurrence(project_id, fingerprint, type_id=BULK)
    if priority is not None:
        made["priority"] = priority  # spec §4.3: the given priority becomes the new group's
    return None, orjson.dumps(made)


def send(deployment: Deployment, *messages: tuple[None, bytes]) -> None:
    asyncio.run(produce(deployment.topic("ingest-occurrences"), list(messages)))


def group(deployment: Deployment, project_id: int, fingerprint: str) -> int:
    key = group_key(project_id, fingerprint)
    return wait_for(lambda: group_ids(deployment, project_id).get(key), timeout=120, interval=0.5,
                    what=f"the group of {fingerprint}")


def claim(deployment: Deployment, group_id: int) -> tuple[Any, ...] | None:
    rows = deployment.query("SELECT tracker, state, attempts, in_doubt, external_id, id FROM tracker_auto "
                            "WHERE group_id = %s", (group_id,))
    return rows[0] if rows else None


def creates(stub: GitHubStub) -> list[Any]:
    return [body for method, path, _, body in stub.received if method == "POST" and path == f"/repos/{REPO}/issues"]


def assert_one_auto_ticket(deployment: Deployment, stub: GitHubStub, group_id: int, number: int) -> None:
    """The ticket recorded through the stream as §24.4 records one, actor `auto`; the claim done."""
    url = f"https://github.example/{REPO}/issues/{number}"
    wait_for(lambda: links(deployment, group_id), timeout=90, what=f"the link of group {group_id}")
    assert links(deployment, group_id) == [("github", f"{REPO}#{number}", url, f"GH-{number}",
                                            "File I/O on Main Thread", "auto")]
    ((_, data, actor, cause),) = create_issue_activities(deployment, group_id)
    assert (data, actor, cause) == ({"title": "File I/O on Main Thread", "provider": "GitHub", "location": url,
                                     "label": f"GH-{number}"}, "auto", claim_id(group_id, "github"))
    assert deployment.query("SELECT source FROM activities WHERE group_id = %s AND type = 7", (group_id,)) == [
        ("auto",)]  # spec §24.6: actor and source `auto`
    wait_for(lambda: (claim(deployment, group_id) or ())[1:2] == ("done",), timeout=30, what="the claim done")
    made = [issue for issue in stub.issues if marker_line(claim_id(group_id, "github")) in issue["body"].splitlines()]
    assert [issue["number"] for issue in made] == [number]  # exactly one ticket carries the group's marker


def test_automatic_tickets_are_made_once_whatever_fails(deployment: Deployment, github: GitHubStub) -> None:
    first, second = start(deployment)
    send(deployment, occurrence(1, "warm-up"), occurrence(2, "warm-up"))  # the projects exist from here
    group(deployment, 1, "warm-up")
    group(deployment, 2, "warm-up")
    # The agent reads activities a batch at a time: the warm-ups' FIRST_SEEN are done with before any config exists.
    asyncio.run(consume_all(deployment.topic("issue-platform-activity"), expected=2))  # sent after the groups' commit
    asyncio.run(committed_to_end(deployment, deployment.topic("issue-platform-activity")))

    # auto_create is validated (§24.3, §24.5), then stored with the config.
    bad = call(first, "PUT", "/api/0/projects/1/trackers/github/", {
        "config": {"base_url": github.url, "repo": REPO, "token": GH_TOKEN},
        "auto_create": {"on": ["new", "sometimes"], "min_priority": "urgent", "types": None}}, AUTH)
    assert_error(bad, 400, "invalid_body")
    assert {error["path"] for error in bad.json["details"]["errors"]} == {"auto_create.on", "auto_create.min_priority"}
    configured = call(first, "PUT", "/api/0/projects/1/trackers/github/", {
        "config": {"base_url": github.url, "repo": REPO, "token": GH_TOKEN}, "auto_create": AUTO_CREATE}, AUTH)
    assert configured.status == 200 and configured.json["auto_create"] == AUTO_CREATE, configured.json
    # A webhook tracker cannot search its tickets: an in-doubt claim waits for a person. Its receiver answers 500.
    hooked = call(second, "PUT", "/api/0/projects/2/trackers/webhook/", {
        "config": {"url": f"{github.url}/hook", "secret": "hook-secret"},
        "auto_create": {"on": ["new"], "min_priority": "low", "types": None}}, AUTH)
    assert hooked.status == 200, hooked.json

    # A new high-priority issue: one ticket, the marker in its body; a medium one and the 500 webhook: none.
    send(deployment, occurrence(1, "auto-high", HIGH), occurrence(1, "auto-medium"), occurrence(2, "auto-hooked"))
    high, medium, in_doubt = (group(deployment, 1, "auto-high"), group(deployment, 1, "auto-medium"),
                              group(deployment, 2, "auto-hooked"))
    assert_one_auto_ticket(deployment, github, high, 7)
    assert len(creates(github)) == 1
    assert claim(deployment, medium) is None
    wait_for(lambda: (claim(deployment, in_doubt) or ())[1:2] == ("in_doubt",), timeout=30,
             what="the webhook's claim in doubt")
    failures = call(first, "GET", "/api/0/trackers/failures/")
    assert failures.status == 200
    assert [(f["group_id"], f["project_id"], f["tracker"], f["state"], f["trigger"], f["attempts"])
            for f in failures.json] == [(in_doubt, 2, "webhook", "in_doubt", "new", 1)]
    assert "500" in failures.json[0]["last_error"] and failures.json[0]["id"] == claim_id(in_doubt, "webhook")
    assert [path for method, path, _, _ in github.received if path.startswith("/hook")] == ["/hook"]  # never again

    # A 4xx proves nothing was made: retried after 1 s, one ticket. A 5xx that made it anyway: found by its marker.
    github.create_failures = [422]
    send(deployment, occurrence(1, "auto-retried", HIGH))
    retried = group(deployment, 1, "auto-retried")
    assert_one_auto_ticket(deployment, github, retried, 8)
    assert len(creates(github)) == 3 and claim(deployment, retried)[2] == 2  # type: ignore[index]
    github.create_failures = [503]
    send(deployment, occurrence(1, "auto-5xx", HIGH))
    adopted = group(deployment, 1, "auto-5xx")
    assert_one_auto_ticket(deployment, github, adopted, 9)
    assert len(creates(github)) == 4  # the second attempt searched instead of creating again
    assert any(method == "GET" and path.startswith(f"/repos/{REPO}/issues?") for method, path, _, _ in github.received)

    # kill -9 right after the tracker call, before anything knows the ticket: one worker, armed (test only).
    second.stop()
    deployment.extra_env["ISSUE_PLATFORM_FAULT_INJECTION"] = "kill_at:trackers.after_call:1"
    first.stop()
    first = deployment.restart_worker(first)
    wait_for(lambda: api_up(first), timeout=60, what="the armed worker's API")
    send(deployment, occurrence(1, "auto-killed", HIGH))
    killed = group(deployment, 1, "auto-killed")
    assert wait_for(lambda: first.process.poll(), timeout=60, what="the kill after the call") == -9
    assert "injected: killing the worker at trackers.after_call" in first.log()
    assert len(creates(github)) == 5 and claim(deployment, killed)[1] == "calling"  # type: ignore[index]
    del deployment.extra_env["ISSUE_PLATFORM_FAULT_INJECTION"]
    first = deployment.restart_worker(first)
    # The claim's lease runs out (30 s), the restarted worker takes it in doubt and finds the ticket by its marker.
    assert_one_auto_ticket(deployment, github, killed, 10)
    assert len(creates(github)) == 5
    assert call(first, "GET", "/api/0/trackers/failures/").json[0]["tracker"] == "webhook"

    # The activity messages carry the group's type_id (§18.2), what `auto_create.types` is matched against.
    stored = deployment.query("SELECT count(*) FROM activities")[0][0]
    activity = [json_value(r) for r in asyncio.run(consume_all(deployment.topic("issue-platform-activity"),
                                                                expected=stored, timeout=30))]
    assert {m["type_id"] for m in activity} == {BULK}
    # At least once under stable ids (§2.3.4): the kill may have the sink send some again.
    created = {m["id"]: (m["group_id"], m["actor"], m["source"]) for m in activity if m["type"] == 7}
    assert sorted(created.values()) == sorted((group_id, "auto", "auto") for group_id in (high, retried, adopted, killed))
