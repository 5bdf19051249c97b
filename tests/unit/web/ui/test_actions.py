"""The issue page's buttons as §20.8/§20.9 requests, and the API's answers as flash messages (spec §21)."""
from __future__ import annotations

import orjson
import pytest

from streams.web.ui.actions import (
    ApiCall,
    FormError,
    action_call,
    answer_flash,
    parse_until,
)
from streams.web.ui.session import Flash


def body(form: dict[str, str]) -> object:
    return action_call("42", form).body


def test_each_button_is_its_api_request() -> None:
    assert action_call("42", {"action": "resolve"}) == ApiCall(
        "PUT", "/api/0/issues/42/", {"status": "resolved"}, "Resolved", "Resolve")
    assert body({"action": "unresolve"}) == {"status": "unresolved", "substatus": "ongoing"}
    assert body({"action": "archive", "archive": "forever"}) == {"status": "ignored", "substatus": "archived_forever"}
    assert body({"action": "archive", "archive": "until_escalating"}) == {
        "status": "ignored", "substatus": "archived_until_escalating"}
    assert body({"action": "archive", "archive": "count", "count": " 25 "}) == {
        "status": "ignored", "statusDetails": {"ignoreCount": 25}}
    assert body({"action": "archive", "archive": "until", "until": "2026-12-01T09:30"}) == {
        "status": "ignored", "statusDetails": {"ignoreUntil": "2026-12-01T09:30:00Z"}}
    assert body({"action": "priority", "priority": "low"}) == {"priority": "low"}
    assert body({"action": "assign", "assignee": "user:7"}) == {"assignedTo": "user:7"}
    assert body({"action": "assign", "assignee": "  "}) == {"assignedTo": None}
    delete = action_call("P1-3", {"action": "delete"})
    assert (delete.method, delete.path, delete.body) == ("DELETE", "/api/0/issues/P1-3/", None)


def test_the_issue_id_cannot_leave_its_path_segment() -> None:
    assert action_call("../../flags/x", {"action": "resolve"}).path == "/api/0/issues/..%2F..%2Fflags%2Fx/"


def test_an_until_with_an_offset_is_converted_to_utc() -> None:
    assert parse_until("2026-12-01T10:30+01:00").isoformat() == "2026-12-01T09:30:00+00:00"
    assert parse_until("2026-12-01 09:30:15").isoformat() == "2026-12-01T09:30:15+00:00"


@pytest.mark.parametrize("form", [
    {"action": "archive", "archive": "count", "count": "0"},
    {"action": "archive", "archive": "count", "count": "ten"},
    {"action": "archive", "archive": "count"},
    {"action": "archive", "archive": "until", "until": ""},
    {"action": "archive", "archive": "until", "until": "tomorrow"},
    {"action": "archive", "archive": "sometimes"},
    {"action": "priority", "priority": "urgent"},
    {"action": "merge"},
    {},
])
def test_a_form_the_ui_cannot_send_is_a_form_error(form: dict[str, str]) -> None:
    with pytest.raises(FormError):
        action_call("42", form)


RESOLVE = action_call("42", {"action": "resolve"})


def test_success_answers() -> None:
    assert answer_flash(RESOLVE, 200, b"{}") == Flash("success", "Resolved.")
    accepted = answer_flash(RESOLVE, 202, b"{}")
    assert accepted.kind == "info" and accepted.text.startswith("Resolved: accepted.")


def test_an_api_error_is_shown_as_the_api_gave_it() -> None:
    error = {"code": "method_not_allowed", "message": "PUT is not allowed here", "details": {"allowed": ["GET"]}}
    assert answer_flash(RESOLVE, 405, orjson.dumps(error)) == Flash(
        "error", "Resolve failed: HTTP 405 method_not_allowed: PUT is not allowed here")
    invalid = {"code": "invalid_body", "message": "bad body",
               "details": {"errors": [{"path": "statusDetails.ignoreCount", "message": "must be ≥ 1"}]}}
    assert answer_flash(RESOLVE, 400, orjson.dumps(invalid)).text == (
        "Resolve failed: HTTP 400 invalid_body: bad body (statusDetails.ignoreCount: must be ≥ 1)")
    unauthorized = {"code": "unauthorized", "message": "wrong token", "details": {}}
    assert answer_flash(RESOLVE, 401, orjson.dumps(unauthorized)).text.endswith("Sign in again with the right token.")


def test_a_body_that_is_not_an_api_error_is_shown_briefly() -> None:
    assert answer_flash(RESOLVE, 502, b"<html>Bad Gateway</html>" + b"x" * 500).text == (
        "Resolve failed: HTTP 502: <html>Bad Gateway</html>" + "x" * 176)
    assert answer_flash(RESOLVE, 500, b"").text == "Resolve failed: HTTP 500"


def test_the_tracker_forms_are_their_api_requests() -> None:  # spec §24.7, §24.3
    create = action_call("42", {"action": "tracker_create", "tracker": "github", "field_title": "Boom",
                                "field_description": "d", "csrf": "x", "project": "7"})
    assert (create.method, create.path, create.body) == ("POST", "/api/0/issues/42/trackers/github/create/",
                                                         {"title": "Boom", "description": "d"})
    unlink = action_call("42", {"action": "tracker_unlink", "tracker": "github"})
    assert (unlink.method, unlink.path, unlink.body, unlink.done) == (
        "POST", "/api/0/issues/42/trackers/github/unlink/", {}, "Ticket unlinked")
    with pytest.raises(FormError):
        action_call("42", {"action": "tracker_link", "tracker": "../x"})
    flash = answer_flash(unlink, 400, b'{"message": "No issues to unlink."}')
    assert flash.text == "Unlink ticket failed: HTTP 400: No issues to unlink."
