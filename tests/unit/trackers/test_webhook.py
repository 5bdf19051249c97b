"""The `webhook` tracker against a local receiver that checks its HMAC signature (spec §24.2, §24.3)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from streams.trackers import (
    ExternalIssue,
    MarkerSearchUnsupported,
    TrackerAnswerError,
    TrackerHttpClient,
    TrackerTimeout,
    TrackerUnreachable,
)
from streams.trackers.builtin.webhook import (
    WebhookTracker,
    signature,
    signature_matches,
)
from tests.unit.trackers.conftest import ISSUE, FakeService, assert_secrets_absent

SECRET = "whsec-SIGNINGsecret-0123"
HOOK_PATH = "/hooks/T0KEN-IN-THE-PATH"
DELIVERY = "6f1c1c3e-5d6a-4b7e-9a43-2b1f0c9d8e7a"
FORM = {"title": "N+1 Query", "description": "details"}


class Receiver:
    """A team's endpoint: it verifies `X-Issue-Platform-Signature` with its own copy of the secret."""

    def __init__(self, service: FakeService) -> None:
        self.answer: tuple[int, Any] = (201, {"id": "TICKET-9", "url": "https://tickets.example/9"})
        service.route("POST", HOOK_PATH, self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Issue-Platform-Signature", ""), expected):
            return web.json_response({"error": "bad signature"}, status=401)
        status, answer = self.answer
        return web.Response(status=status) if answer is None else web.json_response(answer, status=status)


@pytest.fixture
async def receiver(service: FakeService) -> Receiver:
    return Receiver(service)


@pytest.fixture
async def config(service: FakeService, receiver: Receiver) -> dict[str, str]:
    return {"url": await service.start() + HOOK_PATH, "secret": SECRET}


async def test_create_posts_a_signed_message_and_uses_the_answers_id_and_url(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    created = await WebhookTracker(http).create_issue(config, ISSUE, FORM, request_id=DELIVERY)

    [request] = service.received
    assert (request.method, request.path) == ("POST", HOOK_PATH)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Issue-Platform-Signature"] == signature(SECRET, request.body)
    assert request.headers["X-Issue-Platform-Delivery"] == DELIVERY
    assert request.json() == {
        "delivery_id": DELIVERY,
        "action": "create",
        "issue": {
            "id": "4711", "project_id": 1, "title": "N+1 Query", "culprit": "GET /api/orders",
            "url": "https://issues.example/issues/4711/",
        },
        "title": "N+1 Query",
        "description": "details",
    }
    assert created == ExternalIssue("TICKET-9", "N+1 Query", "https://tickets.example/9")
    assert await WebhookTracker(http).issue_label(created) == "#TICKET-9"


async def test_an_answer_without_an_id_makes_the_delivery_id_the_external_id(
    http: TrackerHttpClient, config: dict[str, str], receiver: Receiver
) -> None:
    receiver.answer = (202, None)
    created = await WebhookTracker(http).create_issue(config, ISSUE, FORM, request_id=DELIVERY)
    assert created == ExternalIssue(DELIVERY, "N+1 Query", None)


async def test_a_wrong_secret_is_refused_by_the_receiver_and_named_by_no_message(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = {**config, "secret": "whsec-WRONGsecret"}
    with pytest.raises(TrackerAnswerError) as raised:
        await WebhookTracker(http).create_issue(wrong, ISSUE, FORM, request_id=DELIVERY)
    assert (raised.value.status, raised.value.in_doubt) == (401, False)
    assert raised.value.message == "Webhook answered 401 to POST to the configured webhook URL: bad signature"
    ours = " ".join(record.getMessage() for record in caplog.records if record.name.startswith("streams"))
    assert_secrets_absent(str(raised.value) + ours, "whsec-WRONGsecret", SECRET, HOOK_PATH, wrong["url"])


async def test_a_5xx_answer_is_in_doubt_and_the_post_is_not_repeated(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str], receiver: Receiver
) -> None:
    receiver.answer = (500, {"error": "database down"})
    with pytest.raises(TrackerAnswerError) as raised:
        await WebhookTracker(http).create_issue(config, ISSUE, FORM, request_id=DELIVERY)
    assert (raised.value.status, raised.value.in_doubt, raised.value.api_status) == (500, True, 502)
    assert len(service.received) == 1


async def test_a_silent_receiver_times_out_without_showing_its_url(
    service: FakeService, http: TrackerHttpClient, config: dict[str, str]
) -> None:
    service.stall = True
    with pytest.raises(TrackerTimeout) as raised:
        await WebhookTracker(http).create_issue(config, ISSUE, FORM, request_id=DELIVERY)
    assert raised.value.message == (
        "Webhook did not answer POST to the configured webhook URL within 0.5 s; the ticket may have been created."
    )
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


async def test_an_unreachable_url_proves_nothing_was_sent_and_hides_the_host(http: TrackerHttpClient) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}{HOOK_PATH}"
    with pytest.raises(TrackerUnreachable) as raised:
        await WebhookTracker(http).create_issue({"url": url, "secret": SECRET}, ISSUE, FORM, request_id=DELIVERY)
    assert (raised.value.in_doubt, raised.value.status, raised.value.api_status) == (False, None, 502)
    assert raised.value.message == (
        "Could not connect to Webhook for POST to the configured webhook URL (ConnectionRefusedError)."
    )
    assert_secrets_absent(raised.value.message, str(port), HOOK_PATH)


async def test_signature_check_is_exact() -> None:
    body = b'{"external_id": "TICKET-9", "state": "closed"}'
    assert signature_matches(SECRET, body, signature(SECRET, body))
    assert not signature_matches(SECRET, body + b" ", signature(SECRET, body))
    assert not signature_matches(SECRET, body, signature("other", body))
    assert not signature_matches(SECRET, body, None)
    assert not signature_matches("", body, signature("", body))


async def test_the_webhook_only_creates_and_cannot_search_for_markers(http: TrackerHttpClient) -> None:
    assert WebhookTracker.allowed_actions == ("create", "unlink")
    assert not WebhookTracker.can_find_by_marker()
    with pytest.raises(MarkerSearchUnsupported):
        await WebhookTracker(http).find_by_marker({}, DELIVERY, datetime.now(UTC))
