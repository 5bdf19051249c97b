"""The `jira` tracker against a local server implementing Jira's REST API v2 create/get issue (spec §24.2)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from streams.trackers import (
    ExternalIssue,
    InvalidForm,
    MarkerSearchUnsupported,
    TrackerAnswerError,
    TrackerHttpClient,
    TrackerTimeout,
)
from streams.trackers.builtin.jira import JiraTracker
from tests.unit.trackers.conftest import ISSUE, FakeService, assert_secrets_absent

USER, API_TOKEN = "ops@acme.example", "ATATT3xSECRETjiratoken"
BASIC = "Basic " + base64.b64encode(f"{USER}:{API_TOKEN}".encode()).decode()


class FakeJira:
    """`POST /rest/api/2/issue` and `GET /rest/api/2/issue/{issueIdOrKey}`
    (https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issues/)."""

    def __init__(self, service: FakeService) -> None:
        self.issues: dict[str, dict[str, Any]] = {}
        self.projects = {"OPS"}
        self.issue_types = {"Bug", "Task"}
        service.route("POST", "/rest/api/2/issue", self.create)
        service.route("GET", "/rest/api/2/issue/{key}", self.get)

    async def create(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != BASIC:
            return web.json_response({"errorMessages": ["You are not authenticated."], "errors": {}}, status=401)
        fields = (await request.json())["fields"]
        errors: dict[str, str] = {}
        if fields.get("project", {}).get("key") not in self.projects:
            errors["project"] = "valid project is required"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if fields.get("issuetype", {}).get("name") not in self.issue_types:
            errors["issuetype"] = "valid issue type is required"
        if errors:
            return web.json_response({"errorMessages": [], "errors": errors}, status=400)
        key = f"{fields['project']['key']}-{len(self.issues) + 1}"
        issue_id = str(10000 + len(self.issues))
        self.issues[key] = {"id": issue_id, "key": key, "fields": {"summary": fields["summary"]}}
        return web.json_response({"id": issue_id, "key": key, "self": f"{request.url.origin()}/rest/api/2/issue/{issue_id}"},
                                 status=201)

    async def get(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != BASIC:
            return web.json_response({"errorMessages": ["You are not authenticated."], "errors": {}}, status=401)
        issue = self.issues.get(request.match_info["key"])
        if issue is None:
            return web.json_response(
                {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}},
                status=404,
            )
        return web.json_response(issue)


@pytest.fixture
async def jira(service: FakeService) -> FakeJira:
    return FakeJira(service)


@pytest.fixture
async def config(service: FakeService, jira: FakeJira) -> dict[str, str]:
    return {"base_url": await service.start() + "/", "username": USER, "api_token": API_TOKEN, "project_key": "OPS"}


async def test_create_posts_the_documented_fields_with_basic_auth(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    tracker = JiraTracker(http)
    created = await tracker.create_issue(
        config, ISSUE, {"title": "N+1 Query", "description": "details"}, request_id="r"
    )

    [request] = service.received
    assert (request.method, request.path) == ("POST", "/rest/api/2/issue")
    assert request.headers["Authorization"] == BASIC
    assert request.json() == {"fields": {
        "project": {"key": "OPS"}, "summary": "N+1 Query", "description": "details", "issuetype": {"name": "Bug"},
    }}
    base = config["base_url"].rstrip("/")
    assert created == ExternalIssue("OPS-1", "N+1 Query", f"{base}/browse/OPS-1")
    assert await tracker.issue_label(created) == "OPS-1"
    assert await tracker.issue_url(config, ExternalIssue("OPS-1")) == f"{base}/browse/OPS-1"


async def test_create_refused_by_jira_names_its_field_errors(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    with pytest.raises(TrackerAnswerError) as raised:
        await JiraTracker(http).create_issue(
            {**config, "issue_type": "Epic"}, ISSUE, {"title": "t"}, request_id="r"
        )
    assert (raised.value.status, raised.value.in_doubt) == (400, False)
    assert raised.value.message == "Jira answered 400 to POST /rest/api/2/issue: issuetype: valid issue type is required"


async def test_wrong_credentials_are_jiras_401_without_the_token_in_the_message(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    with pytest.raises(TrackerAnswerError) as raised:
        await JiraTracker(http).create_issue(
            {**config, "api_token": "ATATT3xWRONGsecret"}, ISSUE, {"title": "t"}, request_id="r"
        )
    assert raised.value.status == 401
    assert_secrets_absent(str(raised.value), "ATATT3xWRONGsecret", API_TOKEN)


async def test_create_answered_with_a_5xx_or_nothing_is_in_doubt(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], jira: FakeJira
) -> None:
    service.fail_next.append((503, {"errorMessages": ["Service Unavailable"]}))
    with pytest.raises(TrackerAnswerError) as failed:
        await JiraTracker(http).create_issue(config, ISSUE, {"title": "t"}, request_id="r")
    assert (failed.value.status, failed.value.in_doubt) == (503, True)
    assert failed.value.message.endswith(": Service Unavailable")

    service.stall = True
    with pytest.raises(TrackerTimeout):
        await JiraTracker(http).create_issue(config, ISSUE, {"title": "t"}, request_id="r")
    assert [r.method for r in service.received] == ["POST", "POST"]
    assert jira.issues == {}


async def test_link_gets_the_issue_by_key(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], jira: FakeJira
) -> None:
    jira.issues["OPS-7"] = {"id": "10007", "key": "OPS-7", "fields": {"summary": "Checkout is slow"}}
    linked = await JiraTracker(http).link_issue(config, ISSUE, {"issue_id": " ops-7 "})

    [request] = service.received
    assert (request.method, request.path, request.query) == ("GET", "/rest/api/2/issue/OPS-7", {"fields": "summary"})
    assert request.headers["Authorization"] == BASIC
    assert linked == ExternalIssue("OPS-7", "Checkout is slow", config["base_url"].rstrip("/") + "/browse/OPS-7")


async def test_link_to_a_missing_issue_is_jiras_404_and_a_malformed_key_asks_nothing(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    with pytest.raises(TrackerAnswerError) as raised:
        await JiraTracker(http).link_issue(config, ISSUE, {"issue_id": "OPS-99"})
    assert raised.value.status == 404
    assert "Issue does not exist" in raised.value.message
    with pytest.raises(InvalidForm):
        await JiraTracker(http).link_issue(config, ISSUE, {"issue_id": "99"})
    assert len(service.received) == 1


async def test_jira_has_no_marker_search(http: TrackerHttpClient) -> None:
    assert not JiraTracker.can_find_by_marker()
    with pytest.raises(MarkerSearchUnsupported):
        await JiraTracker(http).find_by_marker({}, "m", datetime.now(UTC))
