"""The trackers' shared HTTP client: timeout, retries of GETs only, error mapping, scrubbed secrets (§24.3)."""

from __future__ import annotations

import logging
import time

import pytest
from aiohttp import web

from streams.trackers import TrackerAnswerError, TrackerHttpClient, TrackerTimeout
from streams.trackers.http_client import TrackerRequest
from tests.unit.trackers.conftest import FakeService, assert_secrets_absent

SECRET = "s3cr3t-token-value"


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"hello": "world"})


def get(base: str, path: str = "/thing", **overrides: object) -> TrackerRequest:
    fields: dict[str, object] = {
        "tracker": "example", "service": "Example", "method": "GET", "url": base + path, "what": f"GET {path}",
        "headers": {"Authorization": f"Bearer {SECRET}"}, "secrets": (SECRET,),
    }
    fields.update(overrides)
    return TrackerRequest(**fields)  # type: ignore[arg-type]


async def html(request: web.Request) -> web.Response:
    page = f"<html>\n<body>Bad gateway for {SECRET}\n{'x' * 1000}</body></html>"
    return web.Response(status=400, text=page, content_type="text/html")


async def empty(request: web.Request) -> web.Response:
    return web.Response(status=204)


@pytest.fixture
async def base(service: FakeService) -> str:
    service.route("GET", "/thing", hello)
    service.route("POST", "/thing", hello)
    service.route("GET", "/html", html)
    service.route("GET", "/empty", empty)
    return await service.start()


async def test_a_get_is_asked_again_after_a_5xx_and_the_retry_is_logged_without_secrets(
    service: FakeService, http: TrackerHttpClient, base: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="streams.trackers")
    service.fail_next.append((503, {"message": f"overloaded while checking {SECRET}"}))
    answer = await http.send(get(base))
    assert (answer.status, answer.body) == (200, {"hello": "world"})
    assert len(service.received) == 2
    [record] = [r for r in caplog.records if r.name.startswith("streams.trackers")]
    assert "Example: GET /thing failed (Example answered 503 to GET /thing: overloaded while checking ********)" in (
        record.getMessage()
    )
    assert_secrets_absent(caplog.text, SECRET)


async def test_a_get_gives_up_after_its_attempts_with_the_last_answer(
    service: FakeService, http: TrackerHttpClient, base: str
) -> None:
    service.fail_next.extend([(502, {}), (503, {}), (504, {"message": "gateway"})])
    with pytest.raises(TrackerAnswerError) as raised:
        await http.send(get(base))
    assert (raised.value.status, raised.value.message) == (504, "Example answered 504 to GET /thing: gateway")
    assert len(service.received) == http.get_attempts == 3


async def test_a_4xx_is_an_answer_and_is_not_asked_again(
    service: FakeService, http: TrackerHttpClient, base: str
) -> None:
    service.fail_next.append((403, {"message": "Forbidden"}))
    with pytest.raises(TrackerAnswerError) as raised:
        await http.send(get(base))
    assert (raised.value.status, raised.value.in_doubt) == (403, False)
    assert len(service.received) == 1


async def test_a_post_is_sent_once_whatever_the_answer(
    service: FakeService, http: TrackerHttpClient, base: str
) -> None:
    service.fail_next.append((503, {"message": "Unavailable"}))
    with pytest.raises(TrackerAnswerError) as raised:
        await http.send(get(base, method="POST", what="POST /thing", json={"title": "t"}))
    assert (raised.value.status, raised.value.in_doubt) == (503, True)
    assert [(r.method, r.json()) for r in service.received] == [("POST", {"title": "t"})]


async def test_the_timeout_bounds_the_whole_call_and_a_timed_out_get_is_not_repeated(
    service: FakeService, http: TrackerHttpClient, base: str
) -> None:
    service.stall = True
    started = time.monotonic()
    with pytest.raises(TrackerTimeout) as raised:
        await http.send(get(base))
    assert 0.4 < time.monotonic() - started < 2
    assert raised.value.message == "Example did not answer GET /thing within 0.5 s."
    assert raised.value.body() == {
        "code": "tracker_timeout", "message": raised.value.message, "details": {"tracker": "example", "status": None},
    }
    assert len(service.received) == 1


async def test_an_error_answer_that_is_not_json_is_shown_as_one_short_scrubbed_line(
    service: FakeService, http: TrackerHttpClient, base: str
) -> None:
    with pytest.raises(TrackerAnswerError) as raised:
        await http.send(get(base, "/html"))
    message = raised.value.message
    assert message.startswith("Example answered 400 to GET /html: <html> <body>Bad gateway for ******** xxx")
    assert "\n" not in message and len(message) < 400
    assert_secrets_absent(message, SECRET)


async def test_a_success_without_json_has_no_body(service: FakeService, http: TrackerHttpClient, base: str) -> None:
    answer = await http.send(get(base, "/empty"))
    assert (answer.status, answer.body) == (204, None)


def test_the_production_timeout_is_the_specs_ten_seconds() -> None:
    assert TrackerHttpClient().timeout_seconds == 10.0
    with pytest.raises(ValueError):
        TrackerHttpClient(timeout_seconds=0)
