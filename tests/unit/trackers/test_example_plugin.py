"""examples/acme_tickets, the README's "Adding a tracker" example, loads through its entry point and works."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from aiohttp import web

import streams.trackers.loading
from streams.trackers import (
    ENTRY_POINT_GROUP,
    ExternalIssue,
    TrackerHttpClient,
    load_trackers,
    with_marker,
)
from tests.unit.trackers.conftest import ISSUE, FakeService

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "acme_tickets"
API_KEY = "acme-SECRET-key"


@pytest.fixture
def example_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # What `pip install examples/acme_tickets` does for loading: the package importable, its entry points listed.
    declared = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    points = [EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in declared.items()]
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.setattr(
        streams.trackers.loading, "entry_points", lambda group: points if group == ENTRY_POINT_GROUP else []
    )
    yield
    for name in [module for module in sys.modules if module.startswith("acme_tickets")]:
        del sys.modules[name]


async def test_the_example_registers_and_talks_to_its_service(
    example_installed: None, service: FakeService, http: TrackerHttpClient
) -> None:
    tickets: list[dict[str, object]] = []

    async def create(request: web.Request) -> web.Response:
        payload = await request.json()
        ticket = {"ticket_id": len(tickets) + 1, "subject": payload["subject"], "body": payload["body"],
                  "link": f"https://tickets.acme.example/t/{len(tickets) + 1}"}
        tickets.append(ticket)
        return web.json_response(ticket, status=201)

    async def search(request: web.Request) -> web.Response:
        return web.json_response([t for t in tickets if request.query["body_contains"] in str(t["body"])])

    service.route("POST", "/api/tickets", create)
    service.route("GET", "/api/tickets", search)
    config = {"base_url": await service.start(), "api_key": API_KEY}

    tracker_class = load_trackers().get("acme-tickets")
    assert tracker_class is not None and tracker_class.__module__ == "acme_tickets.tracker"
    tracker = tracker_class(http)
    marker = "5c8e2f4a-7f0e-5b8e-9d59-1f2a3b4c5d6e"

    created = await tracker.create_issue(
        config, ISSUE, {"title": "N+1 Query", "description": with_marker("d", marker)}, request_id=marker
    )
    found = await tracker.find_by_marker(config, marker, datetime(2026, 11, 30, tzinfo=UTC))

    assert created == found == ExternalIssue("1", "N+1 Query", "https://tickets.acme.example/t/1")
    assert await tracker.issue_label(created) == "ACME-1"
    assert [(r.method, r.path, r.headers["Authorization"]) for r in service.received] == [
        ("POST", "/api/tickets", f"Token {API_KEY}"), ("GET", "/api/tickets", f"Token {API_KEY}"),
    ]
    assert service.received[0].json() == {"subject": "N+1 Query", "body": f"d\n\nissue-platform-marker: {marker}"}
