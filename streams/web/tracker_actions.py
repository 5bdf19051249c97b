"""An issue's trackers over the API (spec §24.3, §24.4): list, form fields, and create / link / unlink.

The tracker is called here, in the API handler, never in the grouping or sink agents. Once the call has
succeeded, an `external_issue` message under a request id fixed before the call goes to the grouping topic keyed
by the issue's group key: the owner applies it in order with everything else and the sink stores the link, the
CREATE_ISSUE activity and the `issue_tracker.used` record. The answer waits at most 10 s for the sink's commit
(`"recorded"`); a message that does not make it in time is still applied.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg import AsyncConnection

from storage import queries
from storage.api_requests import change_outcomes
from storage.external_issues import LinkedIssue, linked_issues
from storage.tracker_configs import read_tracker_config
from streams.core.messages import encode
from streams.core.tracker_records import external_issue_message
from streams.metrics import count_tracker_action
from streams.outbox import Outbox
from streams.services import trackers
from streams.topics import grouping_topic
from streams.trackers import ExternalIssue, Field, InvalidForm, TrackedEvent, TrackedIssue, Tracker, TrackerCallError
from streams.trackers.fields import form_errors
from streams.trackers.issue import event_tags
from streams.web.errors import ApiError, not_found, unavailable
from streams.web.group_lookup import visible_group

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[AbstractAsyncContextManager[AsyncConnection[Any]]]]
Answer = tuple[int, Any]

RECORD_WAIT_SECONDS = 10.0  # spec §24.4
_POLL_SECONDS = 0.1
API_ACTOR = "api"
GROUP_NOT_FOUND = "group_not_found"
NO_EVENT = "Unable to create issues: there are no events associated with this group"  # the reference's wording


@dataclass(frozen=True)
class _Issue:
    """A visible group with what a tracker is told about it."""

    row: queries.GroupRow
    group_key: str
    generation: int
    tracked: TrackedIssue


async def _issue(conn: AsyncConnection[Any], issue_id: str, base_url: str) -> _Issue:
    row = await visible_group(conn, issue_id)
    targets = await queries.target_rows(conn, [row.id])
    if not targets:
        raise not_found(f"no issue {issue_id}")
    latest = await queries.latest_occurrence(conn, row.id)
    evidence = tuple(latest.evidence_display) if latest is not None else ()
    tracked = TrackedIssue(group_id=row.id, project_id=row.project_id, title=row.title,
                           url=f"{base_url}/issues/{row.id}/", culprit=row.culprit, evidence=evidence)
    return _Issue(row, targets[0].group_key, targets[0].generation, tracked)


async def _event(conn: AsyncConnection[Any], issue: _Issue) -> TrackedEvent:
    """The latest stored event, or 400 `no_event` (spec §24.3)."""
    latest = await queries.latest_occurrence(conn, issue.row.id)
    data = await queries.event_data(conn, issue.row.project_id, latest.event_id) if latest is not None else None
    if latest is None or data is None:
        raise ApiError(400, "no_event", NO_EVENT)
    return TrackedEvent(event_id=latest.event_id, tags=event_tags(data.get("tags")))


def _tracker(slug: str, action: str | None = None) -> type[Tracker]:
    found = trackers.get(slug)
    if found is None:
        raise not_found(f"no tracker {slug}")
    if action is not None and action not in found.allowed_actions:
        raise not_found(f"the {slug} tracker does not allow {action}", action=action)
    return found


async def _config(conn: AsyncConnection[Any], tracker: Tracker, project_id: int) -> dict[str, Any]:
    """The project's config of the tracker, or 400 `tracker_not_configured` (spec §24.3)."""
    row = await read_tracker_config(conn, project_id, tracker.slug)
    config = {} if row is None else row.config
    if row is None or not await tracker.is_configured(config):
        raise ApiError(400, "tracker_not_configured",
                       f"The {tracker.title} tracker is not configured for project {project_id}",
                       {"tracker": tracker.slug, "project_id": project_id})
    return config


def _linked_object(link: LinkedIssue | None) -> dict[str, Any] | None:
    if link is None:
        return None
    return {"issue_id": link.external_id, "url": link.url, "label": link.label}


def linked_issue_objects(links: list[LinkedIssue]) -> list[dict[str, Any]]:
    """The tickets linked to an issue, as the issue's API object shows them."""
    return [{"tracker": link.tracker, "issue_id": link.external_id, "url": link.url, "label": link.label,
             "title": link.title} for link in links]


async def issue_trackers(connect: Connect, issue_id: str, base_url: str) -> Answer:
    """`GET /api/0/issues/{id}/trackers/`: every tracker configured for the issue's project (spec §24.3)."""
    async with await connect() as conn:
        issue = await _issue(conn, issue_id, base_url)
        links = {link.tracker: link for link in await linked_issues(conn, issue.row.id)}
        listed = []
        for cls in trackers.all():
            tracker = cls()
            row = await read_tracker_config(conn, issue.row.project_id, cls.slug)
            if row is None or not await tracker.is_configured(row.config):
                continue
            listed.append({"slug": cls.slug, "title": cls.title, "allowed_actions": list(cls.allowed_actions),
                           "issue": _linked_object(links.get(cls.slug))})
    return 200, listed


async def form_fields(connect: Connect, issue_id: str, slug: str, action: str, base_url: str) -> Answer:
    """`GET …/trackers/{slug}/create/` and `link/`: the form's fields with their defaults (spec §24.3)."""
    cls = _tracker(slug, action)
    tracker = cls()
    async with await connect() as conn:
        issue = await _issue(conn, issue_id, base_url)
        await _config(conn, tracker, issue.row.project_id)
        event = await _event(conn, issue)
    fields = await (tracker.new_issue_fields(issue.tracked, event) if action == "create"
                    else tracker.link_issue_fields(issue.tracked, event))
    return 200, [field.as_dict() for field in fields]


async def issue_tracker_forms(connect: Connect, issue_id: str, base_url: str) -> list[dict[str, Any]]:
    """What the issue page shows per configured tracker (spec §24.7): the linked ticket, and the fields of the
    create and link forms with their defaults (`form_error` when they cannot be had, e.g. no stored event)."""
    _, listed = await issue_trackers(connect, issue_id, base_url)
    for entry in listed:
        for action in ("create", "link"):
            entry[f"{action}_fields"] = []
            if action not in entry["allowed_actions"]:
                continue
            try:
                _, entry[f"{action}_fields"] = await form_fields(connect, issue_id, entry["slug"], action, base_url)
            except ApiError as error:
                entry["form_error"] = error.message
    return listed


def _form(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_body", "The body is not JSON", {"errors": {}}) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object of the form's fields", {"errors": {}})
    return body


def _invalid(errors: Mapping[str, str]) -> ApiError:
    return ApiError(400, "invalid_body", "; ".join(errors.values()) or "Invalid form", {"errors": dict(errors)})


async def act(connect: Connect, issue_id: str, slug: str, action: str, raw: bytes, base_url: str) -> Answer:
    """`POST /api/0/issues/{id}/trackers/{slug}/create|link|unlink/` (spec §24.3, §24.4)."""
    cls = _tracker(slug, action)
    form = _form(raw) if action != "unlink" else {}
    linked: LinkedIssue | None = None
    event: TrackedEvent | None = None
    async with await connect() as conn:
        issue = await _issue(conn, issue_id, base_url)
        tracker = cls()
        try:
            config = await _config(conn, tracker, issue.row.project_id)
            if action == "unlink":
                linked = {link.tracker: link for link in await linked_issues(conn, issue.row.id)}.get(cls.slug)
                if linked is None:
                    return 400, {"message": "No issues to unlink."}
            else:
                event = await _event(conn, issue)
        except ApiError:
            count_tracker_action(cls.slug, action, "refused")
            raise
    request_id = uuid.uuid4().hex  # fixed before the call (spec §24.4)
    if linked is not None:
        external = ExternalIssue(id=linked.external_id, title=linked.title, url=linked.url)
        label = linked.label
    else:
        assert event is not None
        fields: list[Field] = await (tracker.new_issue_fields(issue.tracked, event) if action == "create"
                                     else tracker.link_issue_fields(issue.tracked, event))
        errors = form_errors(fields, form)
        if errors:
            count_tracker_action(cls.slug, action, "refused")
            raise _invalid(errors)
        try:
            async with tracker.http:
                if action == "create":
                    external = await tracker.create_issue(config, issue.tracked, form, request_id=request_id)
                else:
                    external = await tracker.link_issue(config, issue.tracked, form)
                url = await tracker.issue_url(config, external)
                label = await tracker.issue_label(external)
        except InvalidForm as error:
            count_tracker_action(cls.slug, action, "refused")
            raise _invalid(error.errors) from None
        except TrackerCallError as error:
            count_tracker_action(cls.slug, action, error.code)
            log.warning("api: %s %s of issue %s failed: %s", cls.slug, action, issue.row.id, error.message)
            return error.api_status, error.body()
        external = ExternalIssue(id=external.id, title=external.title or form.get("title"), url=url)
    message = external_issue_message(
        request_id=request_id, generation=issue.generation, t=time.time(), group_id=issue.row.id, provider=cls.title,
        action=action, tracker=cls.slug, external_id=external.id, url=external.url, label=label,
        title=external.title, actor=API_ACTOR)
    await _produce(issue.group_key, message, action != "unlink")
    count_tracker_action(cls.slug, action, "ok")
    recorded = await _recorded(connect, request_id)
    if action == "unlink":
        return 200, {"message": "Successfully unlinked issue.", "recorded": recorded}
    body: dict[str, Any] = {"link": external.url, "label": label, "id": external.id, "recorded": recorded}
    if action == "create":
        return 200, {"issue_url": external.url, **body}
    return 200, {"message": "Successfully linked issue.", **body}


async def _produce(group_key: str, message: dict[str, Any], ticket_exists: bool) -> None:
    outbox = Outbox()
    outbox.add(grouping_topic, group_key, encode(message), timestamp=message["t"])
    try:
        await outbox.send()
    except Exception as error:  # noqa: BLE001  # any failure to produce
        log.warning("api: producing external_issue %s failed: %s", message["id"], error)
        done = "The tracker call succeeded but " if ticket_exists else ""
        raise unavailable(f"{done}Kafka did not accept the record; send the request again",
                          checks={"kafka": "unavailable"}) from None


async def _recorded(connect: Connect, request_id: str) -> bool:
    """Whether the sink committed the message within RECORD_WAIT_SECONDS (its outcome in `api_changes`)."""
    deadline = time.monotonic() + RECORD_WAIT_SECONDS
    while True:
        try:
            async with await connect() as conn:
                outcome = (await change_outcomes(conn, [request_id])).get(request_id)
            if outcome is not None:
                return outcome != GROUP_NOT_FOUND  # a group deleted meanwhile: nothing recorded
        except Exception as error:  # noqa: BLE001  # the record is on its way whatever the read says
            log.warning("api: waiting for external_issue %s: %s", request_id, error)
            return False
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL_SECONDS)
