"""The `gitlab` tracker against a local server implementing GitLab's REST API v4 issues (spec §24.2, §24.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

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
from streams.trackers.builtin.gitlab import GitLabTracker
from tests.unit.trackers.conftest import ISSUE, FakeService, assert_secrets_absent

TOKEN = "glpat-SECRETtoken0123456789"
PROJECTS = {42: "acme/web", 43: "acme/api"}
CLAIMED_AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class FakeGitLab:
    """`POST/GET /api/v4/projects/:id/issues[/:issue_iid]`, `:id` a numeric id or a URL-encoded path
    (https://docs.gitlab.com/api/issues/)."""

    def __init__(self, service: FakeService) -> None:
        self.issues: list[dict[str, Any]] = []
        service.route("POST", "/api/v4/projects/{id}/issues", self.create)
        service.route("GET", "/api/v4/projects/{id}/issues/{iid}", self.get)
        service.route("GET", "/api/v4/projects/{id}/issues", self.list)

    def add(self, project_id: int, title: str, description: str, created_at: str = "2026-11-30T12:00:05Z") -> dict:
        iid = 1 + sum(1 for issue in self.issues if issue["project_id"] == project_id)
        issue = {
            "id": 9000 + len(self.issues), "iid": iid, "project_id": project_id, "title": title,
            "description": description, "state": "opened", "created_at": created_at,
            "web_url": f"https://gitlab.example/{PROJECTS[project_id]}/-/issues/{iid}",
        }
        self.issues.append(issue)
        return issue

    @staticmethod
    def _project(request: web.Request) -> int | None:
        ident = unquote(request.match_info["id"])
        if ident.isdigit():
            return int(ident) if int(ident) in PROJECTS else None
        return next((pid for pid, path in PROJECTS.items() if path == ident), None)

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("PRIVATE-TOKEN") != TOKEN:
            return web.json_response({"message": "401 Unauthorized"}, status=401)
        if self._project(request) is None:
            return web.json_response({"message": "404 Project Not Found"}, status=404)
        return None

    async def create(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        payload = await request.json()
        if not payload.get("title"):
            return web.json_response({"message": {"title": ["can't be blank"]}}, status=400)
        project_id = self._project(request)
        assert project_id is not None
        return web.json_response(self.add(project_id, payload["title"], payload.get("description", "")), status=201)

    async def get(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        project_id, iid = self._project(request), int(request.match_info["iid"])
        for issue in self.issues:
            if (issue["project_id"], issue["iid"]) == (project_id, iid):
                return web.json_response(issue)
        return web.json_response({"message": "404 Not found"}, status=404)

    async def list(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        project_id, query = self._project(request), request.query
        assert query.get("in") == "description"
        found = [
            issue for issue in self.issues
            if issue["project_id"] == project_id
            and query.get("search", "") in issue["description"]
            and issue["created_at"] >= query.get("created_after", "")
        ]
        return web.json_response(found)


@pytest.fixture
async def gitlab(service: FakeService) -> FakeGitLab:
    return FakeGitLab(service)


@pytest.fixture
async def config(service: FakeService, gitlab: FakeGitLab) -> dict[str, str]:
    return {"base_url": await service.start(), "project": "42", "token": TOKEN}


async def test_create_posts_to_the_project_and_answers_project_and_iid(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    tracker = GitLabTracker(http)
    created = await tracker.create_issue(config, ISSUE, {"title": "N+1 Query", "description": "body"}, request_id="r")

    [request] = service.received
    assert (request.method, request.path) == ("POST", "/api/v4/projects/42/issues")
    assert request.headers["PRIVATE-TOKEN"] == TOKEN
    assert "Authorization" not in request.headers
    assert request.json() == {"title": "N+1 Query", "description": "body"}
    assert created == ExternalIssue("42#1", "N+1 Query", "https://gitlab.example/acme/web/-/issues/1")
    assert await tracker.issue_label(created) == "GL-1"
    assert await tracker.issue_url(config, created) == "https://gitlab.example/acme/web/-/issues/1"


async def test_a_project_path_is_sent_url_encoded_and_the_id_uses_the_numeric_project(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    created = await GitLabTracker(http).create_issue(
        {**config, "project": "acme/api"}, ISSUE, {"title": "t"}, request_id="r"
    )
    assert service.received[0].raw_path == "/api/v4/projects/acme%2Fapi/issues"
    assert created.id == "43#1"


async def test_create_errors_carry_gitlabs_status_and_message(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    tracker = GitLabTracker(http)
    with pytest.raises(TrackerAnswerError) as unauthorized:
        await tracker.create_issue({**config, "token": "glpat-WRONGsecret"}, ISSUE, {"title": "t"}, request_id="r")
    assert (unauthorized.value.status, unauthorized.value.in_doubt) == (401, False)
    assert unauthorized.value.message == "GitLab answered 401 to POST /api/v4/projects/42/issues: 401 Unauthorized"
    assert_secrets_absent(unauthorized.value.message, "glpat-WRONGsecret")

    service.fail_next.append((400, {"message": {"title": ["is too long (maximum is 255 characters)"]}}))
    with pytest.raises(TrackerAnswerError) as invalid:
        await tracker.create_issue(config, ISSUE, {"title": "t"}, request_id="r")
    assert invalid.value.status == 400
    assert invalid.value.message.endswith("title: is too long (maximum is 255 characters)")

    service.fail_next.append((500, {"message": "500 Internal Server Error"}))
    with pytest.raises(TrackerAnswerError) as failed:
        await tracker.create_issue(config, ISSUE, {"title": "t"}, request_id="r")
    assert (failed.value.status, failed.value.in_doubt, failed.value.api_status) == (500, True, 502)
    assert [r.method for r in service.received] == ["POST", "POST", "POST"]


async def test_create_timeout_is_a_504(service: FakeService, http: TrackerHttpClient, config: dict[str, str]) -> None:
    service.stall = True
    with pytest.raises(TrackerTimeout) as raised:
        await GitLabTracker(http).create_issue(config, ISSUE, {"title": "t"}, request_id="r")
    assert raised.value.body()["code"] == "tracker_timeout"
    assert "may have been created" in raised.value.message


async def test_link_gets_the_issue_of_the_configured_or_named_project(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], gitlab: FakeGitLab
) -> None:
    gitlab.add(42, "Checkout is slow", "")
    gitlab.add(43, "In another project", "")
    tracker = GitLabTracker(http)

    linked = await tracker.link_issue(config, ISSUE, {"issue_id": "#1"})
    other = await tracker.link_issue(config, ISSUE, {"issue_id": "acme/api#1"})

    assert [(r.method, r.raw_path) for r in service.received] == [
        ("GET", "/api/v4/projects/42/issues/1"), ("GET", "/api/v4/projects/acme%2Fapi/issues/1"),
    ]
    assert linked == ExternalIssue("42#1", "Checkout is slow", "https://gitlab.example/acme/web/-/issues/1")
    assert other.id == "43#1"


async def test_link_to_a_missing_issue_is_gitlabs_404_after_one_get(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    with pytest.raises(TrackerAnswerError) as raised:
        await GitLabTracker(http).link_issue(config, ISSUE, {"issue_id": "7"})
    assert raised.value.status == 404
    assert len(service.received) == 1  # a 4xx is an answer, not worth asking again

    for unreadable in ("seven", "acme/web7", "#", "42#0"):
        with pytest.raises(InvalidForm):
            await GitLabTracker(http).link_issue(config, ISSUE, {"issue_id": unreadable})
    assert len(service.received) == 1


async def test_find_by_marker_searches_descriptions_created_since_the_claim(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], gitlab: FakeGitLab
) -> None:
    marker = "5c8e2f4a-7f0e-5b8e-9d59-1f2a3b4c5d6e"
    gitlab.add(42, "Quotes it", f"see {marker}")
    issue = gitlab.add(42, "N+1 Query", with_marker("description", marker))
    tracker = GitLabTracker(http)

    found = await tracker.find_by_marker(config, marker, CLAIMED_AT)
    too_late = await tracker.find_by_marker(config, marker, datetime(2026, 12, 1, tzinfo=UTC))

    assert found == ExternalIssue(f"42#{issue['iid']}", "N+1 Query", issue["web_url"])
    assert too_late is None
    request = service.received[0]
    assert (request.method, request.path) == ("GET", "/api/v4/projects/42/issues")
    assert request.query["search"] == marker
    assert request.query["created_after"] == "2026-11-30T12:00:00Z"
    assert request.headers["PRIVATE-TOKEN"] == TOKEN
