"""A local HTTP server standing in for a tracker's service, and the client and issue the tests use."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy

from streams.trackers import TrackedEvent, TrackedIssue, TrackerHttpClient

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Received:
    """One request as the service saw it."""

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeService:
    """An aiohttp server with the routes a test registers; it records every request it receives.

    `fail_next` answers the next requests with (status, JSON body) before any route runs, as a failing
    service would; `stall` makes it hold every request until the test ends, as one that never answers.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail_next: list[tuple[int, Any]] = []
        self.stall = False
        self._release = asyncio.Event()
        self._app = web.Application(middlewares=[self._record])
        self._server: TestServer | None = None

    def route(self, method: str, path: str, handler: Route) -> None:
        self._app.router.add_route(method, path, handler)

    async def start(self) -> str:
        self._server = TestServer(self._app, host="127.0.0.1")
        await self._server.start_server()
        return str(self._server.make_url("")).rstrip("/")

    async def close(self) -> None:
        self._release.set()
        if self._server is not None:
            await self._server.close()

    @web.middleware
    async def _record(self, request: web.Request, handler: Route) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(
            request.method, request.path, request.raw_path, dict(request.query), request.headers, body
        ))
        if self.stall:
            await self._release.wait()
        if self.fail_next:
            status, answer = self.fail_next.pop(0)
            return web.json_response(answer, status=status)
        return await handler(request)


@pytest.fixture
async def service() -> AsyncIterator[FakeService]:
    fake = FakeService()
    yield fake
    await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[TrackerHttpClient]:
    # A short timeout and retry delay keep the timeout and retry tests fast; the production default is 10 s.
    async with TrackerHttpClient(timeout_seconds=0.5, retry_delay_seconds=0.01) as client:
        yield client


ISSUE = TrackedIssue(
    group_id=4711,
    project_id=1,
    title="N+1 Query",
    url="https://issues.example/issues/4711/",
    culprit="GET /api/orders",
    evidence=({"name": "Offending Spans", "value": "SELECT * FROM orders", "important": True},),
)
EVENT = TrackedEvent(event_id="a" * 32, tags=(("environment", "production"), ("release", "1.2.3")))


def assert_secrets_absent(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
