"""Tracker webhooks read and verified (spec §24.6): GitHub, GitLab and the `webhook` tracker; 401 unless signed."""
from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

from streams.trackers.inbound import TicketState, WebhookRefused, read_inbound
from streams.web.auth import request_refusal

SECRET = "s3cret"


def headers(**values: str):
    lowered = {name.lower().replace("_", "-"): value for name, value in values.items()}
    return lambda name: lowered.get(name.lower())


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


GITHUB = orjson.dumps({"action": "closed", "issue": {"number": 5}, "repository": {"full_name": "Acme/Web"}})


def test_github_closed_and_reopened() -> None:
    config = {"webhook_secret": SECRET, "repo": "acme/web"}
    state = read_inbound("github", config, headers(X_GitHub_Event="issues", X_Hub_Signature_256=signed(GITHUB),
                                                   X_GitHub_Delivery="d1"), GITHUB)
    assert state == TicketState(("Acme/Web#5", "acme/web#5"), True, "d1")
    reopened = orjson.dumps({**orjson.loads(GITHUB), "action": "reopened"})
    state = read_inbound("github", config, headers(X_GitHub_Event="issues", X_Hub_Signature_256=signed(reopened)),
                         reopened)
    assert state is not None and not state.closed
    edited = orjson.dumps({**orjson.loads(GITHUB), "action": "edited"})
    assert read_inbound("github", config, headers(X_GitHub_Event="issues", X_Hub_Signature_256=signed(edited)),
                        edited) is None
    assert read_inbound("github", config, headers(X_GitHub_Event="ping", X_Hub_Signature_256=signed(GITHUB)),
                        GITHUB) is None


@pytest.mark.parametrize("config, signature", [
    ({"webhook_secret": SECRET}, signed(GITHUB, "other")),
    ({"webhook_secret": SECRET}, None),
    ({}, signed(GITHUB, "")),  # no secret configured verifies nothing
    ({"webhook_secret": SECRET}, signed(GITHUB + b" ")),
])
def test_github_refuses_anything_not_signed_with_the_secret(config, signature) -> None:
    values = {"X_GitHub_Event": "issues"} | ({"X_Hub_Signature_256": signature} if signature else {})
    with pytest.raises(WebhookRefused):
        read_inbound("github", config, headers(**values), GITHUB)


def test_gitlab_issue_hook_with_its_token() -> None:
    body = orjson.dumps({"object_kind": "issue", "object_attributes": {"iid": 3, "project_id": 17, "action": "close"}})
    state = read_inbound("gitlab", {"webhook_secret": SECRET}, headers(X_Gitlab_Token=SECRET), body)
    assert state == TicketState(("17#3",), True, None)
    with pytest.raises(WebhookRefused):
        read_inbound("gitlab", {"webhook_secret": SECRET}, headers(X_Gitlab_Token="nope"), body)
    with pytest.raises(WebhookRefused):
        read_inbound("gitlab", {}, headers(X_Gitlab_Token=""), body)


def test_the_webhook_trackers_inbound_format() -> None:
    body = orjson.dumps({"external_id": "T-1", "state": "open"})
    state = read_inbound("webhook", {"secret": SECRET}, headers(X_Issue_Platform_Signature=signed(body)), body)
    assert state == TicketState(("T-1",), False, None)
    with pytest.raises(WebhookRefused):
        read_inbound("webhook", {"secret": SECRET}, headers(X_Issue_Platform_Signature=signed(body, "x")), body)


def test_the_webhook_path_is_exempt_from_the_bearer_token_and_nothing_else_is() -> None:
    assert request_refusal("POST", "/api/0/projects/1/trackers/github/webhook/", None, None) is None
    assert request_refusal("POST", "/api/0/projects/1/trackers/github/webhook/", None, "tok") is None
    assert request_refusal("PUT", "/api/0/projects/1/trackers/github/webhook/", None, "tok") is not None
    assert request_refusal("POST", "/api/0/projects/1/trackers/github/webhook/x/", None, "tok") is not None
    assert request_refusal("POST", "/api/0/issues/1/trackers/github/create/", None, "tok") is not None
