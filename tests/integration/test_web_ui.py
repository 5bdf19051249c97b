"""The web UI over HTTP (spec §21) on a real worker, Kafka and Postgres: what the pages show, and the forms'
session token, CSRF and origin checks (issue 13 item 5)."""
from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import orjson
import pytest
from yarl import URL

from tests.integration.harness import (
    Deployment,
    Worker,
    make_occurrence,
    produce,
    wait_for,
)

pytestmark = pytest.mark.integration

TOKEN = "ui-test-token"
BULK = 9801  # it_bulk: released, no noise (tests/integration/plugin_types.py)
DEAD_CLICK = 5001  # replay_click_dead: unreleased, visible flag off (spec §10.3.3)


def api_json(worker: Worker, path: str) -> Any:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/api/0/{path}", timeout=10) as response:
            return orjson.loads(response.read())
    except (OSError, urllib.error.HTTPError):
        return None


def start(deployment: Deployment) -> Worker:
    deployment.extra_env["ISSUE_PLATFORM_API_TOKEN"] = TOKEN
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    wait_for(lambda: (api_json(worker, "health/") or {}).get("status") == "ok", timeout=60, what="the API")
    return worker


def occurrence(fingerprint: str, title: str, *, environment: str = "production", type_id: int = BULK,
               evidence: str = "120 ms", **fields: Any) -> dict[str, Any]:
    """An occurrence (spec §4) of `title`, its evidence an important Duration and a span; `fields` override."""
    payload = make_occurrence(1, fingerprint, type_id=type_id, environment=environment)
    payload.update({"issue_title": title, "culprit": f"app.{fingerprint}", **fields})
    payload["evidence_display"] = [{"name": "Offending span", "value": f"span of {title}", "important": False},
                                   {"name": "Duration", "value": evidence, "important": True}]
    return payload


def cookie_header(response: aiohttp.ClientResponse, name: str) -> str:
    headers = [value for value in response.headers.getall("Set-Cookie", []) if value.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.getall("Set-Cookie", [])
    return headers[0]


def rows(html: str) -> list[str]:
    """The titles of the stream's rows, in order."""
    return re.findall(r'<a class="issue-title" href="/issues/\d+/">([^<]*)</a>', html)


async def test_pages_show_what_kafka_brought_and_forms_need_the_session_token_and_this_origin(
    deployment: Deployment,
) -> None:
    worker = start(deployment)
    assert deployment.cli("flag", "set", "replay-click-dead-ingest", "la", "--projects", "1").returncode == 0
    wait_for(lambda: (api_json(worker, "grouptypes/replay_click_dead/") or {}).get("flags", {})
             .get("ingest", {}).get("stage") == "la", timeout=15, what="the ingest flag")
    sent = [
        occurrence("checkout", "Checkout total is wrong", evidence="3 carts"),
        occurrence("io", "File I/O on Main Thread", environment="staging"),
        occurrence("io", "File I/O on Main Thread", environment="staging"),
        occurrence("dead", "Hidden dead click", type_id=DEAD_CLICK),
    ]
    await produce(deployment.topic("ingest-occurrences"), [(None, orjson.dumps(o)) for o in sent])
    wait_for(lambda: deployment.query("SELECT count(*) FROM groups") == [(3,)], timeout=60, what="3 groups")
    ids = {title: (str(gid), short) for title, gid, short in deployment.query("SELECT title, id, short_id FROM groups")}
    checkout_id, checkout_short = ids["Checkout total is wrong"]
    dead_id, _ = ids["Hidden dead click"]
    base = f"http://127.0.0.1:{worker.web_port}"
    origin = {"Origin": base}

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        home = await http.get(f"{base}/", allow_redirects=False)
        assert (home.status, home.headers["Location"]) == (303, "/projects/1/issues/")

        # The stream: the default query in the box, the visible issues only (spec §21, §10.3.3).
        stream = await http.get(f"{base}/projects/1/issues/")
        html = await stream.text()
        assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/html")
        assert 'value="is:unresolved issue.priority:[high,medium]"' in html
        assert sorted(rows(html)) == ["Checkout total is wrong", "File I/O on Main Thread"]
        assert "Hidden dead click" not in html and "2 issues" in html
        assert f"P1-{checkout_short}" in html and "app.checkout" in html and 'class="spark"' in html
        csrf = cookie_header(stream, "ip_csrf")
        assert "HttpOnly" in csrf and "SameSite=Strict" in csrf and "Path=/" in csrf and "Secure" not in csrf
        assert stream.headers["Content-Security-Policy"].startswith("default-src 'none'")

        # Search narrows it, with the API's language; the environment filter too; a bad query says why.
        search = await (await http.get(f"{base}/projects/1/issues/", params={"query": "checkout"})).text()
        assert rows(search) == ["Checkout total is wrong"] and "1 issue<" in search
        staging = await (await http.get(f"{base}/projects/1/issues/",
                                        params={"query": "", "environment": "staging"})).text()
        assert rows(staging) == ["File I/O on Main Thread"]
        assert '<option value="staging" selected>staging</option>' in staging
        bad = await http.get(f"{base}/projects/1/issues/", params={"query": "color:blue"})
        assert bad.status == 400 and "invalid_query" in await bad.text()

        # Cursors: one row a page, the next link leads to the other row.
        first = await (await http.get(f"{base}/projects/1/issues/", params={"query": "", "limit": "1"})).text()
        next_link = re.search(r'<a class="btn" rel="next" href="([^"]+)"', first)
        assert next_link and len(rows(first)) == 1
        second = await (await http.get(base + next_link.group(1).replace("&amp;", "&"))).text()
        assert len(rows(second)) == 1 and rows(second) != rows(first)

        # The issue page, by group id and by short id: its evidence, important entry first, and its occurrence.
        for ref in (checkout_id, f"P1-{checkout_short}"):
            page = await http.get(f"{base}/issues/{ref}/")
            issue = await page.text()
            assert page.status == 200, issue
            assert issue.index("Duration") < issue.index("Offending span") and "3 carts" in issue
            assert deployment.query("SELECT id FROM occurrences WHERE group_id = %s", (int(checkout_id),))[0][0] in issue
            assert "Read-only: enter the API token" in issue and 'class="bars"' in issue
        hidden = await http.get(f"{base}/issues/{dead_id}/")
        assert hidden.status == 404 and "Hidden dead click" not in await hidden.text()

        # Sign in: a wrong token is refused by the API and no cookie is kept; the right one is kept HttpOnly.
        token_csrf = http.cookie_jar.filter_cookies(URL(base))["ip_csrf"].value
        form = {"csrf": token_csrf, "action": "signin", "next": f"/issues/{checkout_id}/"}
        wrong = await http.post(f"{base}/ui/session/", data={**form, "token": "nope"}, headers=origin,
                                allow_redirects=False)
        assert wrong.status == 303 and "ip_token" not in http.cookie_jar.filter_cookies(URL(base))
        shown = await (await http.get(base + wrong.headers["Location"])).text()
        assert "Not signed in: HTTP 401 unauthorized" in shown
        right = await http.post(f"{base}/ui/session/", data={**form, "token": TOKEN}, headers=origin,
                                allow_redirects=False)
        token_cookie = cookie_header(right, "ip_token")
        assert right.status == 303 and "HttpOnly" in token_cookie and "SameSite=Strict" in token_cookie
        assert TOKEN not in token_cookie  # encoded, never the raw value in a header a proxy might log

        # Forms without the session's CSRF token, or from another origin, are refused and change nothing.
        action = f"{base}/issues/{checkout_id}/actions/"
        for data, headers in (
            ({"action": "resolve"}, origin),
            ({"action": "resolve", "csrf": "forged"}, origin),
            ({"action": "resolve", "csrf": token_csrf}, {"Origin": "http://evil.example"}),
            ({"action": "resolve", "csrf": token_csrf}, {}),
        ):
            refused = await http.post(action, data=data, headers=headers, allow_redirects=False)
            assert refused.status == 403, (data, headers)
            assert "Refused" in await refused.text()
        assert (await http.post(f"{base}/ui/session/", data={"action": "signout"}, headers=origin)).status == 403
        await asyncio.sleep(2)
        assert deployment.query("SELECT status FROM groups WHERE id = %s", (int(checkout_id),)) == [(0,)]

        # A form the UI cannot send is said so, and nothing is sent.
        odd = await http.post(action, data={"action": "archive", "archive": "count", "count": "0", "csrf": token_csrf},
                              headers=origin)
        assert "needs N, a whole number of at least 1" in await odd.text()

        # The real thing: Resolve goes through the API and the stream, and the page says so.
        done = await http.post(action, data={"action": "resolve", "csrf": token_csrf}, headers=origin,
                               allow_redirects=False)
        assert (done.status, done.headers["Location"]) == (303, f"/issues/{checkout_id}/")
        after = await (await http.get(base + done.headers["Location"])).text()
        assert "Resolved." in after and 'id="issue-status">Resolved</span>' in after
        assert deployment.query("SELECT status FROM groups WHERE id = %s", (int(checkout_id),)) == [(1,)]
        again = await (await http.get(base + done.headers["Location"])).text()
        assert "Resolved." not in again  # a flash shows once

        # Priority and assignee are §20.8 updates: the priority is locked (spec §17), the assignee recorded.
        io_id, _ = ids["File I/O on Main Thread"]
        io_action = f"{base}/issues/{io_id}/actions/"
        high = await http.post(io_action, data={"action": "priority", "priority": "high", "csrf": token_csrf},
                               headers=origin)
        assert "Priority set to high." in await high.text()
        assigned = await http.post(io_action, data={"action": "assign", "assignee": "team:7", "csrf": token_csrf},
                                   headers=origin)
        assert "Assigned to team:7." in await assigned.text()
        assert deployment.query("SELECT priority, priority_locked_at IS NOT NULL, assignee FROM groups WHERE id = %s",
                                (int(io_id),)) == [(75, True, "team:7")]

        # Delete goes back to the project's stream, where the issue is gone; a GET of a form's target is its page.
        gone = await http.post(io_action, data={"action": "delete", "project": "1", "csrf": token_csrf},
                               headers=origin, allow_redirects=False)
        assert (gone.status, gone.headers["Location"]) == (303, "/projects/1/issues/")
        listed = await (await http.get(f"{base}/projects/1/issues/", params={"query": ""})).text()
        assert "Deleted." in listed and rows(listed) == ["Checkout total is wrong"]
        assert deployment.query("SELECT count(*) FROM groups WHERE id = %s", (int(io_id),)) == [(0,)]
        stray = await http.get(action, allow_redirects=False)
        assert (stray.status, stray.headers["Location"]) == (303, f"/issues/{checkout_id}/")
