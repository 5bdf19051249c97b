"""The `github` tracker against a local server implementing GitHub's REST issues API (spec §24.2, §24.3)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from streams.trackers import (
    ExternalIssue,
    InvalidForm,
    TrackerAnswerError,
    TrackerHttpClient,
    TrackerTimeout,
    with_marker,
)
from streams.trackers.builtin.github import GitHubTracker
from tests.unit.trackers.conftest import (
    EVENT,
    ISSUE,
    FakeService,
    assert_secrets_absent,
)

TOKEN = "ghp_0123456789abcdefSECRET"
CLAIMED_AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class FakeGitHub:
    """Issues of any repository, as `POST/GET /repos/{owner}/{repo}/issues[/{number}]` serve them
    (https://docs.github.com/en/rest/issues/issues)."""

    def __init__(self, service: FakeService) -> None:
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}
        service.route("POST", "/repos/{owner}/{repo}/issues", self.create)
        service.route("GET", "/repos/{owner}/{repo}/issues/{number}", self.get)
        service.route("GET", "/repos/{owner}/{repo}/issues", self.list)

    def add(self, repo: str, title: str, body: str, *, updated: str = "2026-11-30T12:00:05Z", **extra: Any) -> int:
        number = len(self.issues) + 1
        self.issues[(repo, number)] = {
            "id": 1000 + number, "number": number, "title": title, "body": body, "state": "open",
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "created_at": updated, "updated_at": updated, **extra,
        }
        return number

    @staticmethod
    def _refused(request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Bad credentials", "status": "401"}, status=401)
        return None

    async def create(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        payload = await request.json()
        if not payload.get("title"):
            return web.json_response({
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
            }, status=422)
        repo = f"{request.match_info['owner']}/{request.match_info['repo']}"
        number = self.add(repo, payload["title"], payload.get("body", ""))
        return web.json_response(self.issues[(repo, number)], status=201)

    async def get(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        repo = f"{request.match_info['owner']}/{request.match_info['repo']}"
        issue = self.issues.get((repo, int(request.match_info["number"])))
        if issue is None:
            return web.json_response({"message": "Not Found"}, status=404)
        return web.json_response(issue)

    async def list(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        repo = f"{request.match_info['owner']}/{request.match_info['repo']}"
        since = request.query.get("since", "")
        matching = [
            issue for (issue_repo, _), issue in self.issues.items()
            if issue_repo == repo and issue["updated_at"] >= since
        ]
        matching.sort(key=lambda issue: issue["created_at"], reverse=True)
        per_page, page = int(request.query.get("per_page", "30")), int(request.query.get("page", "1"))
        return web.json_response(matching[(page - 1) * per_page: page * per_page])


@pytest.fixture
async def github(service: FakeService) -> FakeGitHub:
    return FakeGitHub(service)


@pytest.fixture
async def config(service: FakeService, github: FakeGitHub) -> dict[str, str]:
    return {"base_url": await service.start(), "repo": "acme/web", "token": TOKEN}


async def test_create_posts_the_issue_and_answers_its_number_and_page(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    tracker = GitHubTracker(http)
    form = {"title": "N+1 Query", "description": "See https://issues.example/issues/4711/"}

    created = await tracker.create_issue(config, ISSUE, form, request_id="r-1")

    [request] = service.received
    assert (request.method, request.path) == ("POST", "/repos/acme/web/issues")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.headers["User-Agent"]
    assert request.json() == {"title": "N+1 Query", "body": "See https://issues.example/issues/4711/"}
    assert created == ExternalIssue("acme/web#1", "N+1 Query", "https://github.com/acme/web/issues/1")
    assert await tracker.issue_label(created) == "GH-1"
    assert await tracker.issue_url(config, created) == "https://github.com/acme/web/issues/1"


async def test_create_with_a_wrong_token_is_a_502_carrying_githubs_401_and_no_retry(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    config = {**config, "token": "ghp_wrong_token_WRONGSECRET"}
    with pytest.raises(TrackerAnswerError) as raised:
        await GitHubTracker(http).create_issue(config, ISSUE, {"title": "t"}, request_id="r-1")
    error = raised.value
    assert (error.api_status, error.code, error.status, error.in_doubt) == (502, "tracker_error", 401, False)
    assert error.body() == {
        "code": "tracker_error",
        "message": "GitHub answered 401 to POST /repos/acme/web/issues: Bad credentials",
        "details": {"tracker": "github", "status": 401},
    }
    assert_secrets_absent(str(error), "ghp_wrong_token_WRONGSECRET")
    assert len(service.received) == 1


async def test_create_rejected_by_validation_names_githubs_message(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], github: FakeGitHub
) -> None:
    # The tracker refuses an empty title itself; a title GitHub still refuses shows GitHub's own reasons.
    with pytest.raises(InvalidForm) as invalid:
        await GitHubTracker(http).create_issue(config, ISSUE, {"title": "  "}, request_id="r-1")
    assert invalid.value.errors == {"title": "Title is a required field."}
    assert service.received == []

    service.fail_next.append((422, {"message": "Validation Failed", "errors": [{"code": "invalid", "field": "body"}]}))
    with pytest.raises(TrackerAnswerError) as raised:
        await GitHubTracker(http).create_issue(config, ISSUE, {"title": "t"}, request_id="r-1")
    assert raised.value.status == 422
    assert "Validation Failed" in raised.value.message and "field: body" in raised.value.message


async def test_create_answered_with_a_5xx_is_in_doubt_and_not_retried(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], github: FakeGitHub
) -> None:
    service.fail_next.append((502, {"message": "Server Error"}))
    with pytest.raises(TrackerAnswerError) as raised:
        await GitHubTracker(http).create_issue(config, ISSUE, {"title": "t"}, request_id="r-1")
    assert (raised.value.status, raised.value.in_doubt) == (502, True)
    # A POST is sent once: the failed create may have opened the ticket (spec §24.5).
    assert [request.method for request in service.received] == ["POST"]
    assert github.issues == {}


async def test_create_without_an_answer_times_out_as_a_504_that_may_have_created_the_ticket(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    service.stall = True
    started = time.monotonic()
    with pytest.raises(TrackerTimeout) as raised:
        await GitHubTracker(http).create_issue(config, ISSUE, {"title": "t"}, request_id="r-1")
    assert time.monotonic() - started < 2
    error = raised.value
    assert (error.api_status, error.code, error.status, error.in_doubt) == (504, "tracker_timeout", None, True)
    assert error.message == (
        "GitHub did not answer POST /repos/acme/web/issues within 0.5 s; the ticket may have been created."
    )
    assert len(service.received) == 1


async def test_link_verifies_the_issue_with_a_get(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], github: FakeGitHub
) -> None:
    github.add("acme/web", "Checkout is slow", "")
    github.add("acme/api", "Other repository", "")
    tracker = GitHubTracker(http)

    linked = await tracker.link_issue(config, ISSUE, {"issue_id": "#1"})
    other = await tracker.link_issue(config, ISSUE, {"issue_id": "acme/api#2"})
    by_url = await tracker.link_issue(config, ISSUE, {"issue_id": "https://github.com/acme/api/issues/2"})

    assert [(r.method, r.path) for r in service.received] == [
        ("GET", "/repos/acme/web/issues/1"), ("GET", "/repos/acme/api/issues/2"), ("GET", "/repos/acme/api/issues/2"),
    ]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in service.received)
    assert linked == ExternalIssue("acme/web#1", "Checkout is slow", "https://github.com/acme/web/issues/1")
    assert other.id == by_url.id == "acme/api#2"
    assert await tracker.issue_label(other) == "GH-2"


async def test_link_to_a_missing_issue_is_githubs_404(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    with pytest.raises(TrackerAnswerError) as raised:
        await GitHubTracker(http).link_issue(config, ISSUE, {"issue_id": "42"})
    assert (raised.value.status, raised.value.in_doubt) == (404, False)
    assert raised.value.message == "GitHub answered 404 to GET /repos/acme/web/issues/42: Not Found"


async def test_link_get_is_retried_after_a_5xx(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], github: FakeGitHub
) -> None:
    github.add("acme/web", "Checkout is slow", "")
    service.fail_next.extend([(503, {"message": "Unavailable"}), (500, {"message": "Oops"})])
    linked = await GitHubTracker(http).link_issue(config, ISSUE, {"issue_id": "1"})
    assert linked.id == "acme/web#1"
    assert [(r.method, r.path) for r in service.received] == [("GET", "/repos/acme/web/issues/1")] * 3


@pytest.mark.parametrize("reference", ["not an issue", "acme/web1", "#0", "acme/web#", "https://github.com/acme/web/pull/1"])
async def test_link_with_an_unreadable_reference_asks_nothing(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], reference: str
) -> None:
    with pytest.raises(InvalidForm) as invalid:
        await GitHubTracker(http).link_issue(config, ISSUE, {"issue_id": reference})
    assert list(invalid.value.errors) == ["issue_id"]
    assert service.received == []


async def test_find_by_marker_lists_issues_since_the_claim_and_adopts_the_one_with_the_marker(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], github: FakeGitHub
) -> None:
    marker = "5c8e2f4a-7f0e-5b8e-9d59-1f2a3b4c5d6e"
    github.add("acme/web", "Unrelated", f"mentions {marker} in passing")
    github.add("acme/web", "A pull request", with_marker("body", marker), pull_request={"url": "…"})
    number = github.add("acme/web", "N+1 Query", with_marker("description", marker))
    tracker = GitHubTracker(http)

    found = await tracker.find_by_marker(config, marker, CLAIMED_AT)
    missing = await tracker.find_by_marker(config, "0" * 36, CLAIMED_AT)

    assert found == ExternalIssue(f"acme/web#{number}", "N+1 Query", f"https://github.com/acme/web/issues/{number}")
    assert missing is None
    request = service.received[0]
    assert (request.method, request.path) == ("GET", "/repos/acme/web/issues")
    assert request.query["state"] == "all"
    assert request.query["since"] == "2026-11-30T12:00:00Z"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert GitHubTracker.can_find_by_marker()


async def test_default_fields_are_title_and_a_markdown_description_and_the_link_reference(
    http: TrackerHttpClient,
) -> None:
    tracker = GitHubTracker(http)
    title, description = await tracker.new_issue_fields(ISSUE, EVENT)
    assert (title.name, title.default, description.name, description.type) == (
        "title", "N+1 Query", "description", "textarea",
    )
    assert description.default is not None and description.default.startswith(ISSUE.url)
    [issue_id] = await tracker.link_issue_fields(ISSUE, EVENT)
    assert (issue_id.name, issue_id.required) == ("issue_id", True)


async def test_issue_url_without_a_stored_url_follows_the_configured_host() -> None:
    tracker = GitHubTracker()
    external = ExternalIssue("acme/web#7")
    assert await tracker.issue_url({"repo": "acme/web"}, external) == "https://github.com/acme/web/issues/7"
    enterprise = {"base_url": "https://ghe.example/api/v3", "repo": "acme/web"}
    assert await tracker.issue_url(enterprise, external) == "https://ghe.example/acme/web/issues/7"
    await tracker.http.close()


async def test_is_configured_needs_a_repo_and_a_token() -> None:
    tracker = GitHubTracker()
    assert await tracker.is_configured({"repo": "acme/web", "token": TOKEN})
    assert not await tracker.is_configured({"repo": "acme/web"})
    assert not await tracker.is_configured({"repo": "not a repo", "token": TOKEN})
