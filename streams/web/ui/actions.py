"""The issue page's buttons as §20.8/§20.9 API requests, and the API's answer as a flash message (spec §21).

Pure: a form in, the request the UI makes to its own worker's /api/0/ out; an HTTP answer in, the line a
person reads out. The UI is a client of the API like any other: it never produces changes itself, so the
stream stays the single writer of group state (spec §20.1.4).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import orjson

from streams.web.ui.session import Flash

PRIORITIES = ("high", "medium", "low")  # spec §8.4, highest first as the menu shows them
ARCHIVE_MODES: dict[str, str] = {  # form value → what the button says
    "forever": "Archive forever",
    "until_escalating": "Archive until escalating",
    "count": "Archive for N more occurrences",
    "until": "Archive until a time",
}
_MAX_COUNT = 2**31 - 1


class FormError(ValueError):
    """A form the UI cannot turn into a request (a missing or malformed field): shown, never sent."""


@dataclass(frozen=True)
class ApiCall:
    """One request to the worker's own API, and how the flash names it."""

    method: Literal["PUT", "DELETE", "POST"]
    path: str
    body: dict[str, Any] | None
    done: str  # past tense, for a success: "Resolved"
    what: str  # the action, for a failure: "Resolve"


def issue_path(issue_id: str) -> str:
    return f"/api/0/issues/{quote(issue_id, safe='')}/"


def _archive(form: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """spec §20.8.2: ignored with a substatus, or with the statusDetails of a snooze (§14.4)."""
    mode = form.get("archive", "forever")
    if mode == "forever":
        return {"status": "ignored", "substatus": "archived_forever"}, "Archived forever"
    if mode == "until_escalating":
        return {"status": "ignored", "substatus": "archived_until_escalating"}, "Archived until escalating"
    if mode == "count":
        text = form.get("count", "").strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= _MAX_COUNT:
            raise FormError("Archive for N occurrences needs N, a whole number of at least 1.")
        count = int(text)
        return {"status": "ignored", "statusDetails": {"ignoreCount": count}}, (
            f"Archived until {count} more occurrence{'s' if count != 1 else ''}")
    if mode == "until":
        until = parse_until(form.get("until", ""))
        stamp = until.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"status": "ignored", "statusDetails": {"ignoreUntil": stamp}}, f"Archived until {stamp}"
    raise FormError(f"Unknown archive choice {mode!r}.")


def parse_until(text: str) -> datetime:
    """A `datetime-local` field's value (YYYY-MM-DDTHH:MM[:SS]) or an ISO time; without an offset it is UTC,
    as the form's label says."""
    text = text.strip()
    if not text:
        raise FormError("Archive until a time needs the time.")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise FormError(f"{text!r} is not a time: use YYYY-MM-DD HH:MM (UTC).") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def action_call(issue_id: str, form: Mapping[str, str]) -> ApiCall:
    """The API request one of the issue page's forms stands for (spec §20.8, §20.9)."""
    action = form.get("action", "")
    path = issue_path(issue_id)
    if action == "resolve":
        return ApiCall("PUT", path, {"status": "resolved"}, "Resolved", "Resolve")
    if action == "unresolve":
        return ApiCall("PUT", path, {"status": "unresolved", "substatus": "ongoing"}, "Unresolved", "Unresolve")
    if action == "archive":
        body, done = _archive(form)
        return ApiCall("PUT", path, body, done, "Archive")
    if action == "priority":
        priority = form.get("priority", "")
        if priority not in PRIORITIES:
            raise FormError("Choose a priority: high, medium or low.")
        return ApiCall("PUT", path, {"priority": priority}, f"Priority set to {priority}", "Set priority")
    if action == "assign":
        assignee = form.get("assignee", "").strip() or None
        done = f"Assigned to {assignee}" if assignee else "Unassigned"
        return ApiCall("PUT", path, {"assignedTo": assignee}, done, "Assign")
    if action == "delete":
        return ApiCall("DELETE", path, None, "Deleted", "Delete")
    if action in TRACKER_ACTIONS:
        return tracker_call(issue_id, action, form)
    raise FormError(f"Unknown action {action!r}.")


# spec §24.7: the issue page's tracker forms; a form's own fields come as `field_<name>`.
TRACKER_ACTIONS: dict[str, tuple[str, str, str]] = {  # form action → (API action, done, what)
    "tracker_create": ("create", "Ticket created", "Create ticket"),
    "tracker_link": ("link", "Ticket linked", "Link ticket"),
    "tracker_unlink": ("unlink", "Ticket unlinked", "Unlink ticket"),
}
FIELD_PREFIX = "field_"
_SLUG = re.compile(r"[a-z][a-z0-9_-]{1,31}")  # spec §24.1


def tracker_call(issue_id: str, action: str, form: Mapping[str, str]) -> ApiCall:
    """`POST /api/0/issues/{id}/trackers/{slug}/create|link|unlink/` (spec §24.3) with the form's fields."""
    slug = form.get("tracker", "")
    if not _SLUG.fullmatch(slug):
        raise FormError("Choose a tracker.")
    api_action, done, what = TRACKER_ACTIONS[action]
    body = {name.removeprefix(FIELD_PREFIX): value for name, value in form.items() if name.startswith(FIELD_PREFIX)}
    return ApiCall("POST", f"{issue_path(issue_id)}trackers/{slug}/{api_action}/", body, done, what)


def answer_flash(call: ApiCall, status: int, body: bytes) -> Flash:
    """What the person reads after the redirect: the API's answer, or its §20.1.3 error as it gave it."""
    if status == 200:
        return Flash("success", f"{call.done}.")
    if status == 202:
        return Flash("info", f"{call.done}: accepted. The page shows it once the stream has applied it, "
                             "normally within a second.")
    if 200 <= status < 300:
        return Flash("success", f"{call.done} (HTTP {status}).")
    return Flash("error", f"{call.what} failed: {error_text(status, body)}")


def error_text(status: int, body: bytes) -> str:
    """A §20.1.3 error body as one line: HTTP status, code, message, and the details a person can act on."""
    try:
        error = orjson.loads(body)
    except orjson.JSONDecodeError:
        error = None
    if isinstance(error, dict) and set(error) == {"message"} and isinstance(error["message"], str):
        return f"HTTP {status}: {error['message']}"  # the tracker endpoints' reference form (spec §24.3)
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        text = body.decode("utf-8", "replace").strip()[:200]
        return f"HTTP {status}" + (f": {text}" if text else "")
    line = f"HTTP {status} {error['code']}: {error.get('message', '')}"
    details = error.get("details")
    errors = details.get("errors") if isinstance(details, dict) else None
    if isinstance(errors, list) and errors:
        line += " (" + "; ".join(f"{item.get('path', '')}: {item.get('message', '')}" for item in errors
                                  if isinstance(item, dict)) + ")"
    if status == 401:
        line += " Sign in again with the right token."
    return line
