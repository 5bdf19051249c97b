"""The web UI in a real browser (spec §21; issue 13 item 5): headless Chromium, driven by Playwright, against a
real worker, Kafka and Postgres. A person opens the stream, searches, opens an issue, enters the token, resolves
it and sees it leave the unresolved stream, archives it until escalating, then creates a ticket in the project's
GitHub (test_tracker_actions' stub) with the Trackers panel's Create form and sees it linked (spec §24.7).

Debian's `chromium` is the browser (`make test` installs it when missing); Playwright only drives it, so no
browser is downloaded. Screenshots of both pages go to tests/artifacts/ (git-ignored) on every run.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.integration.harness import REPO_ROOT, Deployment, produce, wait_for
from tests.integration.test_api_auth_trackers import call
from tests.integration.test_tracker_actions import GH_TOKEN, REPO, GitHubStub
from tests.integration.test_web_ui import TOKEN, occurrence, start

pytestmark = pytest.mark.integration

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
ISSUES = (  # (fingerprint, title, how many occurrences, other §4 fields)
    ("checkout", "Checkout total is wrong", 7, {"subtitle": "cart.total != sum(line items)", "level": "error",
                                                "culprit": "shop.checkout.confirm", "priority": 75}),
    ("search", "Search is slow for long queries", 3, {"subtitle": "p95 2.4 s over 40 characters",
                                                      "culprit": "/api/search"}),
    ("n-plus-one", "N+1 query in the order history", 12, {"subtitle": "SELECT * FROM orders WHERE id = %s",
                                                          "culprit": "shop.orders.history", "level": "error"}),
    ("io", "File I/O on Main Thread", 2, {"subtitle": "open('/etc/app.conf') blocked the UI thread",
                                          "culprit": "app.io.read_config", "level": "info"}),
)


def chromium_path() -> str:
    found = os.environ.get("ISSUE_PLATFORM_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if not found:
        pytest.fail("no chromium: `make test` installs Debian's package (apt-get install -y chromium)")
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def shoot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_a_person_searches_opens_resolves_and_archives_an_issue(deployment: Deployment) -> None:
    worker = start(deployment)
    sent = [occurrence(fingerprint, title, **fields) for fingerprint, title, count, fields in ISSUES
            for _ in range(count)]
    asyncio.run(produce(deployment.topic("ingest-occurrences"), [(None, orjson.dumps(o)) for o in sent]))
    wait_for(lambda: deployment.query("SELECT count(*), sum(times_seen) FROM groups") == [(4, len(sent))],
             timeout=60, what="4 groups with every occurrence")
    (checkout_id,) = deployment.query("SELECT id FROM groups WHERE title = %s", ("Checkout total is wrong",))[0]
    base = f"http://127.0.0.1:{worker.web_port}"
    # Started after the produce above: Playwright's sync API keeps an event loop of its own in this thread.
    with GitHubStub() as github, chromium() as browser:
        configured = call(worker, "PUT", "/api/0/projects/1/trackers/github/",
                          {"config": {"base_url": github.url, "repo": REPO, "token": GH_TOKEN}},
                          {"Authorization": f"Bearer {TOKEN}"})
        assert configured.status == 200, configured.json
        look_and_act(browser, deployment, base, checkout_id, github)


def look_and_act(browser: Browser, deployment: Deployment, base: str, checkout_id: int, github: GitHubStub) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})

    # The stream: every issue, then a search narrows it.
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/projects/1/issues/")
    expect(page.locator("a.issue-title")).to_have_count(4)
    shoot(page, "ui-stream.png")
    page.get_by_label("Search query").fill("is:unresolved checkout")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("a.issue-title")).to_have_text(["Checkout total is wrong"])
    expect(page.locator("#hits")).to_have_text("1 issue")

    # The issue: read-only until the token is entered.
    page.get_by_role("link", name="Checkout total is wrong").click()
    expect(page).to_have_url(f"{base}/issues/{checkout_id}/")
    expect(page.locator("#read-only-hint")).to_be_visible()
    expect(page.get_by_role("button", name="Resolve", exact=True)).to_be_disabled()
    expect(page.locator("table.evidence")).to_contain_text("Duration")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".flash")).to_contain_text("Signed in")
    expect(page.locator("#read-only-hint")).to_have_count(0)

    # Resolve: the API applies it through the stream, and the issue leaves the unresolved stream.
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator(".flash")).to_have_text("Resolved.")
    expect(page.locator("#issue-status")).to_have_text("Resolved")
    page.get_by_role("link", name=re.compile("issues$")).first.click()
    page.get_by_label("Search query").fill("is:unresolved")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("a.issue-title")).to_have_count(3)
    expect(page.locator("a.issue-title", has_text="Checkout total is wrong")).to_have_count(0)
    assert deployment.query("SELECT status, substatus FROM groups WHERE id = %s", (checkout_id,)) == [(1, None)]

    # Archive until escalating: the substatus the API shows, on the page and in Postgres (spec §8.2).
    page.goto(f"{base}/issues/{checkout_id}/")
    page.get_by_role("button", name="Until escalating").click()
    expect(page.locator(".flash")).to_have_text("Archived until escalating.")
    expect(page.locator("#issue-status")).to_have_text("Archived · Until escalating")
    assert deployment.query("SELECT status, substatus FROM groups WHERE id = %s", (checkout_id,)) == [(2, 1)]
    archived = page.context.request.get(f"{base}/api/0/issues/{checkout_id}/").json()
    assert (archived["status"], archived["substatus"]) == ("ignored", "archived_until_escalating")

    # A ticket from the Trackers panel's Create form: the tracker called once, the link shown (spec §24.3, §24.7).
    tracker = page.locator("#tracker-github")
    expect(tracker).to_contain_text("No linked ticket.")
    tracker.get_by_text("Create a ticket…").click()
    tracker.get_by_label("Title").fill("Checkout total ignores discounts")
    tracker.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator(".flash")).to_have_text("Ticket created.")
    ticket = page.locator("#tracker-github a.ticket")
    expect(ticket).to_have_text("GH-7")
    expect(ticket).to_have_attribute("href", f"https://github.example/{REPO}/issues/7")
    ((method, path, auth, body),) = github.received
    assert (method, path, auth, body["title"]) == ("POST", f"/repos/{REPO}/issues", f"Bearer {GH_TOKEN}",
                                                   "Checkout total ignores discounts")
    assert f"/issues/{checkout_id}/" in body["body"]  # the form's default description links back to the issue
    page.reload()  # the flash is gone: the screenshot shows the page as a person returns to it
    shoot(page, "ui-issue.png")

    # A phone: neither page scrolls sideways.
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    for path in ("/projects/1/issues/?query=", f"/issues/{checkout_id}/"):
        phone.goto(base + path)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
    shoot(phone, "ui-issue-phone.png")
