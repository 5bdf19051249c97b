"""Create, link and unlink tickets of an issue against two real workers, Kafka and PostgreSQL (spec §24.3, §24.4):
API → tracker → grouping topic → sink → PostgreSQL → API read, with the activity and analytics topics. The tracker
is GitHub's REST API as documented (`POST /repos/{owner}/{repo}/issues`, `GET /repos/{owner}/{repo}/issues/{n}`),
served by a local HTTP server inside the test that records and checks what it receives."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import orjson
import pytest
from yarl import URL

from streams.core.decide import activity_id
from tests.integration.harness import Deployment, Worker, consume_all, json_value, make_occurrence, produce, wait_for
from tests.integration.test_api_auth_trackers import Answer, api_up, assert_error, call
from tests.integration.test_api_mutations import TOKEN, group_ids, group_key, settled

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TOKEN}"}  # the token test_api_mutations.settled reads /router/ with
GH_TOKEN = "ghp_trackerTest_0a1b2c"
REPO = "acme/web"
BULK = 9801  # it_bulk: released, no noise (tests/integration/plugin_types.py)


class GitHubStub:
    """GitHub's issues endpoints: creates make issues 7, 8, …, 12 exists, any other number is 404; the repository's
    issue list (`GET /repos/{owner}/{repo}/issues`, what `find_by_marker` reads, spec §24.5) holds the created ones.
    `create_failures` are statuses the next creates answer instead (a 4xx makes nothing, a 5xx still makes the
    issue, as an overloaded GitHub may). Any POST to `/hook…` answers 500: a webhook tracker's receiver in trouble."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, str | None, Any]] = []  # (method, path, Authorization, JSON body)
        self.issues: list[dict[str, Any]] = []
        self.create_failures: list[int] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # quiet test output
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = orjson.dumps(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802  # http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                body = orjson.loads(self.rfile.read(length)) if length else None
                stub.received.append(("POST", self.path, self.headers.get("Authorization"), body))
                if self.path.startswith("/hook"):
                    return self._answer(500, {"message": "Internal Server Error"})
                if self.path != f"/repos/{REPO}/issues":
                    return self._answer(404, {"message": "Not Found"})
                with stub.lock:
                    failure = stub.create_failures.pop(0) if stub.create_failures else None
                    if failure is not None and failure < 500:
                        return self._answer(failure, {"message": "Validation Failed"})
                    number = 7 + len(stub.issues)
                    issue = {"number": number, "title": body["title"], "body": body["body"],
                             "html_url": f"https://github.example/{REPO}/issues/{number}"}
                    stub.issues.append(issue)
                self._answer(failure or 201, issue if failure is None else {"message": "Server Error"})

            def do_GET(self) -> None:  # noqa: N802
                stub.received.append(("GET", self.path, self.headers.get("Authorization"), None))
                if self.path.split("?")[0] == f"/repos/{REPO}/issues":  # newest first, one page
                    with stub.lock:
                        return self._answer(200, list(reversed(stub.issues)))
                if self.path == f"/repos/{REPO}/issues/12":
                    return self._answer(200, {"number": 12, "title": "Known crash",
                                              "html_url": f"https://github.example/{REPO}/issues/12"})
                self._answer(404, {"message": "Not Found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> GitHubStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def github() -> Iterator[GitHubStub]:
    with GitHubStub() as stub:
        yield stub


def post(worker: Worker, path: str, body: Any = None) -> Answer:
    return call(worker, "POST", f"/api/0/{path}", {} if body is None else body, AUTH)


def links(deployment: Deployment, group_id: int) -> list[tuple[Any, ...]]:
    return deployment.query("SELECT tracker, external_id, url, label, title, actor FROM external_issues "
                            "WHERE group_id = %s", (group_id,))


def create_issue_activities(deployment: Deployment, group_id: int) -> list[tuple[Any, ...]]:
    return deployment.query("SELECT id, data, actor, cause_id FROM activities WHERE group_id = %s AND type = 7 "
                            "ORDER BY datetime, id", (group_id,))


def start(deployment: Deployment) -> list[Worker]:
    assert deployment.cli("migrate").returncode == 0
    deployment.extra_env["ISSUE_PLATFORM_API_TOKEN"] = TOKEN
    workers = [deployment.start_worker(), deployment.start_worker()]
    settled(workers)
    wait_for(lambda: all(map(api_up, workers)), timeout=30, what="the API on both workers")
    return workers


def test_create_link_and_unlink_go_through_the_stream_and_are_read_back(
    deployment: Deployment, github: GitHubStub
) -> None:
    first, second = start(deployment)
    no_event = make_occurrence(1, "tracked-no-event", type_id=BULK)
    asyncio.run(produce(deployment.topic("ingest-occurrences"), [
        (None, orjson.dumps(make_occurrence(1, "tracked", type_id=BULK))), (None, orjson.dumps(no_event))]))
    wait_for(lambda: len(group_ids(deployment, 1)) == 2, timeout=120, interval=1, what="2 groups in project 1")
    ids = group_ids(deployment, 1)
    issue, bare = ids[group_key(1, "tracked")], ids[group_key(1, "tracked-no-event")]
    # An issue whose event is no longer stored (ingest refuses an occurrence naming none, spec §5.6).
    deployment.execute("DELETE FROM events WHERE project_id = 1 AND event_id = %s", (no_event["event"]["event_id"],))

    # Not configured yet: 400 tracker_not_configured, the tracker never called (spec §24.3).
    assert_error(post(first, f"issues/{issue}/trackers/github/create/", {"title": "x"}), 400, "tracker_not_configured")
    assert call(first, "GET", f"/api/0/issues/{issue}/trackers/").json == []
    configured = call(first, "PUT", "/api/0/projects/1/trackers/github/",
                      {"config": {"base_url": github.url, "repo": REPO, "token": GH_TOKEN}}, AUTH)
    assert configured.status == 200, configured.json
    assert_error(post(first, f"issues/{issue}/trackers/gitlab/create/", {"title": "x"}), 400, "tracker_not_configured")

    # The form: its fields with the defaults of §24.1.
    form = call(second, "GET", f"/api/0/issues/{issue}/trackers/github/create/")
    assert form.status == 200, form.json
    assert [(field["name"], field["default"]) for field in form.json][0] == ("title", "File I/O on Main Thread")
    assert f"/issues/{issue}/" in form.json[1]["default"]

    # Validation and refusals: nothing reaches the tracker.
    empty = post(first, f"issues/{issue}/trackers/github/create/", {"title": " ", "description": "d"})
    assert_error(empty, 400, "invalid_body")
    assert empty.json["details"]["errors"] == {"title": "Title is a required field."}
    assert_error(post(first, f"issues/{bare}/trackers/github/create/", {"title": "x"}), 400, "no_event")
    assert post(first, f"issues/{bare}/trackers/github/create/", {"title": "x"}).json["message"] == (
        "Unable to create issues: there are no events associated with this group")
    assert_error(call(first, "POST", f"/api/0/issues/{issue}/trackers/github/create/", {"title": "x"}), 401,
                 "unauthorized")
    assert_error(post(first, "issues/999999/trackers/github/create/", {"title": "x"}), 404, "not_found")
    assert_error(post(first, f"issues/{issue}/trackers/no-such/create/", {"title": "x"}), 404, "not_found")
    assert github.received == []

    # Create: the tracker's documented request, then the link recorded through the stream (spec §24.4).
    created = post(first, f"issues/{issue}/trackers/github/create/", {"title": "Boom", "description": "what broke"})
    assert created.status == 200, created.json
    url7 = f"https://github.example/{REPO}/issues/7"
    assert created.json == {"issue_url": url7, "link": url7, "label": "GH-7", "id": f"{REPO}#7", "recorded": True}
    assert github.received == [("POST", f"/repos/{REPO}/issues", f"Bearer {GH_TOKEN}",
                                {"title": "Boom", "body": "what broke"})]
    assert links(deployment, issue) == [("github", f"{REPO}#7", url7, "GH-7", "Boom", "api")]
    ((create_id, create_data, actor, create_cause),) = create_issue_activities(deployment, issue)
    assert create_data == {"title": "Boom", "provider": "GitHub", "location": url7, "label": "GH-7"}
    assert actor == "api" and create_id == activity_id(create_cause, 0)
    read = call(second, "GET", f"/api/0/issues/{issue}/").json
    assert read["externalIssues"] == [{"tracker": "github", "issue_id": f"{REPO}#7", "url": url7, "label": "GH-7",
                                       "title": "Boom"}]
    assert [a["typeName"] for a in read["activity"]][0] == "CREATE_ISSUE"
    listed = call(second, "GET", f"/api/0/issues/{issue}/trackers/").json
    assert listed == [{"slug": "github", "title": "GitHub", "allowed_actions": ["create", "link", "unlink"],
                       "issue": {"issue_id": f"{REPO}#7", "url": url7, "label": "GH-7"}}]

    # Link: verified with a GET first; it replaces the link (one per tracker, spec §24.3).
    missing = post(second, f"issues/{issue}/trackers/github/link/", {"issue_id": "404"})
    assert_error(missing, 502, "tracker_error")
    assert missing.json["details"] == {"tracker": "github", "status": 404}
    assert GH_TOKEN not in orjson.dumps(missing.json).decode()
    linked = post(second, f"issues/{issue}/trackers/github/link/", {"issue_id": "12"})
    assert linked.status == 200, linked.json
    url12 = f"https://github.example/{REPO}/issues/12"
    assert linked.json == {"message": "Successfully linked issue.", "link": url12, "label": "GH-12",
                           "id": f"{REPO}#12", "recorded": True}
    assert github.received[-1] == ("GET", f"/repos/{REPO}/issues/12", f"Bearer {GH_TOKEN}", None)
    assert links(deployment, issue) == [("github", f"{REPO}#12", url12, "GH-12", "Known crash", "api")]
    assert len(create_issue_activities(deployment, issue)) == 2

    # Unlink: no tracker call; then nothing is left to unlink.
    calls = len(github.received)
    unlinked = post(first, f"issues/{issue}/trackers/github/unlink/")
    assert unlinked.status == 200, unlinked.json
    assert unlinked.json == {"message": "Successfully unlinked issue.", "recorded": True}
    assert links(deployment, issue) == []
    again = post(first, f"issues/{issue}/trackers/github/unlink/")
    assert (again.status, again.json) == (400, {"message": "No issues to unlink."})
    assert len(github.received) == calls
    assert call(second, "GET", f"/api/0/issues/{issue}/").json["externalIssues"] == []
    assert len(create_issue_activities(deployment, issue)) == 2  # unlink records no activity

    # After commit: the activity messages and one `issue_tracker.used` record per action (spec §24.4, §2.1).
    activity = [json_value(r) for r in asyncio.run(consume_all(deployment.topic("issue-platform-activity"),
                                                                expected=3, timeout=30))]
    created_activity = [m for m in activity if m["type"] == 7]
    assert [(m["group_id"], m["data"]["label"], m["type_name"], m["actor"]) for m in created_activity] == [
        (issue, "GH-7", "create_issue", "api"), (issue, "GH-12", "create_issue", "api")]
    used = [json_value(r) for r in asyncio.run(consume_all(deployment.topic("issue-platform-analytics"),
                                                            expected=3, timeout=30))]
    assert [(u["type"], u["tracker"], u["action"], u["project_id"], u["group_id"], u["actor"]) for u in used] == [
        ("issue_tracker.used", "github", action, 1, issue, "api") for action in ("create", "link", "unlink")]
    assert len({u["id"] for u in used}) == 3


async def create_through_the_issue_page(worker: Worker, issue: int) -> None:
    """The issue page's Create form (spec §24.7): the session's token and CSRF token, as every form of the page."""
    base = f"http://127.0.0.1:{worker.web_port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await (await http.get(f"{base}/issues/{issue}/")).text()
        assert 'id="tracker-github"' in page and "No linked ticket." in page and 'name="field_title"' in page
        csrf = http.cookie_jar.filter_cookies(URL(base))["ip_csrf"].value
        signed_in = await http.post(f"{base}/ui/session/", headers={"Origin": base}, allow_redirects=False,
                                    data={"csrf": csrf, "action": "signin", "next": f"/issues/{issue}/", "token": TOKEN})
        assert signed_in.status == 303
        form = {"csrf": csrf, "action": "tracker_create", "tracker": "github", "field_title": "From the page",
                "field_description": "made in the UI"}
        forged = await http.post(f"{base}/issues/{issue}/actions/", data={**form, "csrf": "forged"},
                                 headers={"Origin": base}, allow_redirects=False)
        assert forged.status == 403
        done = await http.post(f"{base}/issues/{issue}/actions/", data=form, headers={"Origin": base},
                               allow_redirects=False)
        assert (done.status, done.headers["Location"]) == (303, f"/issues/{issue}/")
        after = await (await http.get(base + done.headers["Location"])).text()
        assert "Ticket created." in after
        assert f'<a href="https://github.example/{REPO}/issues/7" rel="noopener noreferrer" class="ticket">GH-7</a>' \
            in after and 'value="tracker_unlink"' in after


def github_event(worker: Worker, body: dict[str, Any], secret: str, *, delivery: str) -> Answer:
    """GitHub's `issues` webhook delivery: no bearer token, signed with the repository webhook's secret."""
    raw = orjson.dumps(body)
    signed = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return call(worker, "POST", "/api/0/projects/1/trackers/github/webhook/", raw,
                {"X-GitHub-Event": "issues", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signed})


def test_a_signed_github_close_resolves_the_issue_and_a_bad_signature_changes_nothing(
    deployment: Deployment, github: GitHubStub
) -> None:  # spec §24.6
    first, second = start(deployment)
    asyncio.run(produce(deployment.topic("ingest-occurrences"),
                        [(None, orjson.dumps(make_occurrence(1, "closable", type_id=BULK)))]))
    wait_for(lambda: len(group_ids(deployment, 1)) == 1, timeout=120, interval=1, what="1 group in project 1")
    issue = group_ids(deployment, 1)[group_key(1, "closable")]
    secret = "whsec-closing-5e2a"
    configured = call(first, "PUT", "/api/0/projects/1/trackers/github/", {"config": {
        "base_url": github.url, "repo": REPO, "token": GH_TOKEN, "webhook_secret": secret}}, AUTH)
    assert configured.status == 200 and configured.json["config"]["webhook_secret"] == "********"
    asyncio.run(create_through_the_issue_page(first, issue))  # spec §24.7
    assert links(deployment, issue) == [("github", f"{REPO}#7", f"https://github.example/{REPO}/issues/7", "GH-7",
                                         "From the page", "api")]
    assert post(first, f"issues/{issue}/trackers/github/link/", {"issue_id": "12"}).json["recorded"] is True

    def status() -> tuple[Any, ...]:
        return deployment.query("SELECT status, substatus FROM groups WHERE id = %s", (issue,))[0]

    def tracker_activities() -> list[tuple[Any, ...]]:
        return deployment.query("SELECT type, actor, source FROM activities WHERE group_id = %s AND source = "
                                "'tracker' ORDER BY datetime, id", (issue,))

    closed = {"action": "closed", "issue": {"number": 12, "state": "closed"}, "repository": {"full_name": REPO}}
    # A bad signature, or none: 401 whatever the bearer token, and nothing produced.
    assert_error(github_event(first, closed, "not-the-secret", delivery="d-0"), 401, "unauthorized")
    unsigned = call(first, "POST", "/api/0/projects/1/trackers/github/webhook/", closed,
                    {"X-GitHub-Event": "issues", **AUTH})
    assert_error(unsigned, 401, "unauthorized")
    # A ticket no issue links: 200, nothing changes.
    other = {**closed, "issue": {"number": 99, "state": "closed"}}
    assert github_event(second, other, secret, delivery="d-1").json == {"status": "resolved", "issues": []}

    resolved = github_event(second, closed, secret, delivery="d-2")
    assert (resolved.status, resolved.json) == (200, {"status": "resolved", "issues": [str(issue)]})
    wait_for(lambda: status() == (1, None), what="the issue resolved by the closed ticket")
    again = github_event(first, closed, secret, delivery="d-2")  # GitHub's redelivery: applied once
    assert again.status == 200
    reopened = github_event(first, {**closed, "action": "reopened"}, secret, delivery="d-3")
    assert reopened.json == {"status": "unresolved", "issues": [str(issue)]}
    wait_for(lambda: status() == (0, 3), what="the issue unresolved (ongoing) by the reopened ticket")
    # Exactly the two changes of the signed deliveries, none of the refused ones (SET_RESOLVED, SET_UNRESOLVED).
    assert tracker_activities() == [(1, "tracker:github", "tracker"), (2, "tracker:github", "tracker")]
    assert call(second, "GET", f"/api/0/issues/{issue}/").json["status"] == "unresolved"
