"""The bearer token of mutations (spec §20.1.2, §20.1.3) and of Faust's table and router views (§10.3.3)."""
from __future__ import annotations

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.web.auth import bearer_matches, request_refusal
from streams.web.guard import install

TOKEN = "s3cret-token"
GOOD = f"Bearer {TOKEN}"


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "PATCH", "put"])
def test_a_mutation_with_the_token_passes(method: str) -> None:
    assert request_refusal(method, "/api/0/issues/1/", GOOD, TOKEN) is None


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
                                           TOKEN, f"Bearer {TOKEN[:-1]}"])
def test_a_mutation_without_the_right_token_is_401_unauthorized(authorization: str | None) -> None:
    error = request_refusal("POST", "/api/0/dlq/replay/", authorization, TOKEN)
    assert error is not None
    assert (error.status, error.code, error.details) == (401, "unauthorized", {})


@pytest.mark.parametrize("token", [None, "", "   "])
def test_without_a_configured_token_every_mutation_is_403_mutations_disabled_even_with_a_header(
    token: str | None,
) -> None:
    for authorization in (None, "Bearer ", "Bearer    ", GOOD):
        error = request_refusal("PUT", "/api/0/projects/1/", authorization, token)
        assert error is not None
        assert error.body() == {"code": "mutations_disabled",
                                "message": "Mutations are disabled: API_TOKEN is not configured", "details": {}}
        assert error.status == 403


def test_the_check_comes_before_routing_so_unknown_paths_are_refused_too() -> None:
    error = request_refusal("DELETE", "/api/0/no/such/thing/", None, TOKEN)
    assert error is not None and error.status == 401
    assert request_refusal("DELETE", "/api/0/no/such/thing/", GOOD, TOKEN) is None


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_need_no_token_configured_or_not(method: str) -> None:
    assert request_refusal(method, "/api/0/issues/1/", None, TOKEN) is None
    assert request_refusal(method, "/api/0/issues/1/", None, None) is None


@pytest.mark.parametrize("path", ["/table/groups/", "/table/groups/1:abc/", "/router/groups/", "/router/"])
def test_faust_state_views_need_the_token_once_one_is_configured(path: str) -> None:
    error = request_refusal("GET", path, None, TOKEN)
    assert error is not None and (error.status, error.code) == (401, "unauthorized")
    assert request_refusal("GET", path, "Bearer wrong", TOKEN) is not None
    assert request_refusal("GET", path, GOOD, TOKEN) is None
    assert request_refusal("GET", path, None, None) is None  # no token: open, as before


def test_other_paths_outside_the_api_are_left_alone() -> None:
    assert request_refusal("POST", "/tables/", None, TOKEN) is None
    assert request_refusal("GET", "/stats/", None, TOKEN) is None


def test_the_scheme_is_case_insensitive_and_the_token_is_not() -> None:
    assert bearer_matches(f"bearer {TOKEN}", TOKEN)
    assert bearer_matches(f"  Bearer   {TOKEN}  ", TOKEN)
    assert not bearer_matches(f"Bearer {TOKEN.upper()}", TOKEN)
    assert not bearer_matches("Bearer ", TOKEN)


async def _client(token: str | None) -> TestClient:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": request.method})

    web_app = web.Application()
    install(web_app, token)
    web_app.router.add_route("*", "/api/0/things/", ok)
    web_app.router.add_route("GET", "/table/groups/", ok)
    client = TestClient(TestServer(web_app))
    await client.start_server()
    return client


async def test_the_middleware_answers_401_with_the_error_body_and_www_authenticate() -> None:
    client = await _client(TOKEN)
    try:
        refused = await client.put("/api/0/things/")
        assert refused.status == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert refused.headers["Content-Type"].startswith("application/json")
        assert orjson.loads(await refused.read())["code"] == "unauthorized"
        allowed = await client.put("/api/0/things/", headers={"Authorization": GOOD})
        assert (allowed.status, await allowed.json()) == (200, {"ok": "PUT"})
        assert (await client.get("/api/0/things/")).status == 200
        assert (await client.get("/table/groups/")).status == 401
        assert (await client.get("/table/groups/", headers={"Authorization": GOOD})).status == 200
    finally:
        await client.close()


async def test_the_middleware_answers_403_without_a_configured_token() -> None:
    client = await _client(None)
    try:
        refused = await client.post("/api/0/things/", headers={"Authorization": "Bearer anything"})
        assert refused.status == 403
        assert "WWW-Authenticate" not in refused.headers
        assert (await refused.json())["code"] == "mutations_disabled"
        assert (await client.get("/table/groups/")).status == 200
    finally:
        await client.close()
