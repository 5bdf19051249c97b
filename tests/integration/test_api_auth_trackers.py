"""Against real workers, Kafka and Postgres: the bearer token of mutations (spec §20.1.2, §20.1.3, §10.3.3) and
a project's tracker config over the API, read back from PostgreSQL (§24.3, §24.3.1)."""
from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest

from tests.integration.harness import Deployment, Worker, wait_for

pytestmark = pytest.mark.integration

TOKEN = "it-token-8f2c41d0"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROJECT = 42
SECRET = "ghp_itSecretValue_5d1e"  # a GitHub token as a person would paste it


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.json: Any = orjson.loads(body) if body else None


def call(worker: Worker, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Answer:
    data = None if body is None else (body if isinstance(body, bytes) else orjson.dumps(body))
    request = urllib.request.Request(f"http://127.0.0.1:{worker.web_port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


def api_up(worker: Worker) -> bool:
    try:
        return call(worker, "GET", "/api/0/health/").status == 200
    except OSError:
        return False


def start(deployment: Deployment, token: str) -> Worker:
    # "" is how a worker runs without a token whatever the environment of the test run holds.
    deployment.extra_env["ISSUE_PLATFORM_API_TOKEN"] = token
    return deployment.start_worker()


def assert_error(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, (answer.status, answer.json)
    assert answer.headers["Content-Type"].startswith("application/json")
    assert set(answer.json) == {"code", "message", "details"}, answer.json
    assert answer.json["code"] == code, answer.json


async def test_mutations_need_the_token_before_routing_and_faust_views_need_it_once_configured(
    deployment: Deployment,
) -> None:
    assert deployment.cli("migrate").returncode == 0
    guarded, open_worker = start(deployment, TOKEN), start(deployment, "")
    wait_for(lambda: api_up(guarded) and api_up(open_worker), timeout=90, what="the API on both workers")

    for method, path in [("PUT", "/api/0/issues/1/"), ("POST", "/api/0/dlq/replay/"), ("DELETE", "/api/0/issues/"),
                         ("PATCH", "/api/0/flags/"), ("POST", "/api/0/no/such/resource/")]:
        for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            refused = call(guarded, method, path, {}, headers)
            assert_error(refused, 401, "unauthorized")
            assert refused.json["details"] == {}
            assert refused.headers["WWW-Authenticate"] == "Bearer"
        # Without a configured token nothing can change, whatever the caller sends (never open by default).
        disabled = call(open_worker, method, path, {}, AUTH)
        assert_error(disabled, 403, "mutations_disabled")
        assert "WWW-Authenticate" not in disabled.headers

    # With the token, routing decides: a resource without that method is 405, an unknown path 404.
    # (The list of flags takes no PUT; one flag, /api/0/flags/{name}/, does: test_flags_options_api.)
    not_allowed = call(guarded, "PUT", "/api/0/flags/", {}, AUTH)
    assert_error(not_allowed, 405, "method_not_allowed")
    assert not_allowed.headers["Allow"] == "GET"
    assert_error(call(guarded, "POST", "/api/0/no/such/resource/", {}, AUTH), 404, "not_found")
    # Reads need no token.
    assert call(guarded, "GET", "/api/0/flags/").status == 200

    # Faust's own views show state of invisible types (§10.3.3): closed without the token once one is set.
    for path in ("/router/groups/", "/table/groups/"):
        assert_error(call(guarded, "GET", path), 401, "unauthorized")
        assert_error(call(guarded, "GET", path, headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
        assert call(guarded, "GET", path, headers=AUTH).status == 200
        assert call(open_worker, "GET", path).status == 200


def stored(deployment: Deployment) -> list[tuple[Any, ...]]:
    return deployment.query("SELECT project_id, tracker, config, auto_create FROM tracker_configs ORDER BY 1, 2")


async def test_tracker_registry_and_a_projects_tracker_config_with_masked_secrets(deployment: Deployment) -> None:
    assert deployment.cli("migrate").returncode == 0
    # The project exists as the first occurrence would have created it (§11.1); its config is this test's subject.
    deployment.execute("INSERT INTO projects (id, slug) VALUES (%s, %s)", (PROJECT, f"p{PROJECT}"))
    worker = start(deployment, TOKEN)
    wait_for(lambda: api_up(worker), timeout=90, what="the API")
    path = f"/api/0/projects/{PROJECT}/trackers/github/"

    registry = call(worker, "GET", "/api/0/trackers/")
    assert registry.status == 200
    slugs = [tracker["slug"] for tracker in registry.json]
    assert {"github", "gitlab", "jira", "webhook"} <= set(slugs)
    github = registry.json[slugs.index("github")]
    assert github["allowed_actions"] == ["create", "link", "unlink"]
    token_field = next(field for field in github["config_fields"] if field["name"] == "token")
    assert token_field["secret"] is True

    before = call(worker, "GET", path)
    assert (before.status, before.json["config"], before.json["auto_create"]) == (200, {}, None)

    config = {"repo": "acme/app", "token": SECRET}
    auto = {"on": ["new"], "min_priority": "high", "types": None}
    assert_error(call(worker, "PUT", path, {"config": config}), 401, "unauthorized")
    assert stored(deployment) == []

    put = call(worker, "PUT", path, {"config": config, "auto_create": auto}, AUTH)
    assert put.status == 200, put.json
    assert put.json["config"]["token"] == "********"
    assert put.json["config"]["repo"] == "acme/app"
    assert stored(deployment) == [(PROJECT, "github", config, auto)]

    read = call(worker, "GET", path)
    assert read.status == 200
    assert read.json["config"] == {"repo": "acme/app", "token": "********"}
    assert read.json["auto_create"] == auto
    assert read.json["updated_at"] is not None

    # What a client read back, sent again with another repo: the mask keeps the stored secret.
    again = call(worker, "PUT", path, {"config": {**read.json["config"], "repo": "acme/other"}}, AUTH)
    assert again.status == 200, again.json
    assert stored(deployment) == [(PROJECT, "github", {"repo": "acme/other", "token": SECRET}, None)]

    unknown = call(worker, "PUT", f"/api/0/projects/{PROJECT}/trackers/no-such-tracker/", {"config": {}}, AUTH)
    assert_error(unknown, 404, "not_found")
    assert_error(call(worker, "GET", f"/api/0/projects/{PROJECT}/trackers/no-such-tracker/"), 404, "not_found")
    assert_error(call(worker, "GET", "/api/0/projects/999/trackers/github/"), 404, "not_found")

    bad = call(worker, "PUT", path, {"config": {"repo": 5, "token": "********", "colour": "red"},
                                     "auto_create": {"on": ["sometimes"], "min_priority": "high"}}, AUTH)
    assert_error(bad, 400, "invalid_body")
    assert [error["path"] for error in bad.json["details"]["errors"]] == [
        "config.repo", "config.colour", "auto_create.on"]
    assert_error(call(worker, "PUT", path, b"{not json", AUTH), 400, "invalid_body")
    assert_error(call(worker, "POST", path, {}, AUTH), 405, "method_not_allowed")
    assert stored(deployment) == [(PROJECT, "github", {"repo": "acme/other", "token": SECRET}, None)]

    assert SECRET not in worker.log()  # never logged (§24.3.1)
