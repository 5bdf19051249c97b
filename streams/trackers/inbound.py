"""A tracker's own webhook, read and verified (spec §24.6): which ticket was closed or reopened. Pure: no I/O.

GitHub `issues` events carry `X-Hub-Signature-256: sha256=<hmac of the body>` with the repository webhook's secret;
GitLab `Issue Hook` events carry the secret token as it is in `X-Gitlab-Token`; the `webhook` tracker's inbound
calls `{"external_id", "state": "closed"|"open"}` are signed like its outbound ones. Every comparison takes the same
time wherever it differs; a project without the secret configured verifies nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from streams.trackers.builtin.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, signature_matches

Header = Callable[[str], str | None]  # a case-insensitive header lookup

INBOUND_TRACKERS: tuple[str, ...] = ("github", "gitlab", "webhook")


class WebhookRefused(Exception):
    """The call is not signed with the project's secret (or none is configured): 401, nothing changes."""


@dataclass(frozen=True)
class TicketState:
    """A ticket closed (`closed` True) or reopened; `external_ids` the ids a link may hold it under."""

    external_ids: tuple[str, ...]
    closed: bool
    delivery: str | None = None


def read_inbound(slug: str, config: Mapping[str, Any], header: Header, body: bytes) -> TicketState | None:
    """The ticket's new state, None for an event that closes or reopens nothing (a ping, a comment, an edit);
    WebhookRefused unless the call is authenticated by the project's secret."""
    if slug == "github":
        return _github(config, header, body)
    if slug == "gitlab":
        return _gitlab(config, header, body)
    if slug == "webhook":
        return _webhook(config, header, body)
    raise WebhookRefused(f"the {slug} tracker takes no webhooks")


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _github(config: Mapping[str, Any], header: Header, body: bytes) -> TicketState | None:
    if not signature_matches(str(config.get("webhook_secret") or ""), body, header("X-Hub-Signature-256")):
        raise WebhookRefused("X-Hub-Signature-256 does not match the project's webhook secret")
    if header("X-GitHub-Event") != "issues":
        return None
    payload = _payload(body)
    closed = {"closed": True, "reopened": False}.get(str(payload.get("action")))
    issue, repository = payload.get("issue"), payload.get("repository")
    if closed is None or not isinstance(issue, dict) or not isinstance(repository, dict):
        return None
    number, full_name = issue.get("number"), repository.get("full_name")
    if not isinstance(number, int) or not isinstance(full_name, str):
        return None
    names = {full_name}
    configured = str(config.get("repo") or "").strip()
    if configured.lower() == full_name.lower():  # GitHub names are case-insensitive; a link keeps the config's
        names.add(configured)
    return TicketState(tuple(sorted(f"{name}#{number}" for name in names)), closed, header("X-GitHub-Delivery"))


def _gitlab(config: Mapping[str, Any], header: Header, body: bytes) -> TicketState | None:
    secret, presented = str(config.get("webhook_secret") or ""), header("X-Gitlab-Token")
    if not secret or presented is None or not hmac.compare_digest(secret.encode(), presented.encode()):
        raise WebhookRefused("X-Gitlab-Token does not match the project's webhook secret token")
    payload = _payload(body)
    if payload.get("object_kind") != "issue":
        return None
    attributes = payload.get("object_attributes")
    if not isinstance(attributes, dict):
        return None
    closed = {"close": True, "reopen": False}.get(str(attributes.get("action")))
    iid, project_id = attributes.get("iid"), attributes.get("project_id")
    if closed is None or not isinstance(iid, int) or not isinstance(project_id, int):
        return None
    return TicketState((f"{project_id}#{iid}",), closed, header("X-Gitlab-Event-UUID"))


def _webhook(config: Mapping[str, Any], header: Header, body: bytes) -> TicketState | None:
    if not signature_matches(str(config.get("secret") or ""), body, header(SIGNATURE_HEADER)):
        raise WebhookRefused(f"{SIGNATURE_HEADER} does not match the project's signing secret")
    payload = _payload(body)
    closed = {"closed": True, "open": False}.get(str(payload.get("state")))
    external_id = payload.get("external_id")
    if closed is None or not isinstance(external_id, str) or not external_id:
        return None
    return TicketState((external_id,), closed, header(DELIVERY_HEADER))
