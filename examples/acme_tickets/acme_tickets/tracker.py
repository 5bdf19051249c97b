"""The `acme-tickets` tracker: opens, verifies and finds tickets through ACME's (made-up) ticket API.

The API it calls: `POST {base_url}/api/tickets` `{"subject", "body"}` → 201 `{"ticket_id", "link"}`;
`GET {base_url}/api/tickets/{ticket_id}` → 200 `{"ticket_id", "subject", "link"}` or 404;
`GET {base_url}/api/tickets?body_contains=…&created_since=…` → 200 `[ticket, …]`. Authenticated with
`Authorization: Token <api_key>`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.trackers import (
    ExternalIssue,
    Field,
    InvalidForm,
    TrackedIssue,
    Tracker,
    TrackerBadAnswer,
    TrackerConfig,
    TrackerForm,
    has_marker,
)


class AcmeTicketsTracker(Tracker):
    slug = "acme-tickets"  # unique, ^[a-z][a-z0-9_-]{1,31}$
    title = "ACME Tickets"
    version = "0.1.0"
    author = "ACME"
    description = "Open or link a ticket in ACME's ticket system."
    allowed_actions = ("create", "link", "unlink")
    config_fields = (
        Field("base_url", "Base URL", default="https://tickets.acme.example", required=False),
        Field("api_key", "API key", secret=True),  # answered as "********", never logged
    )

    async def create_issue(
        self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm, *, request_id: str
    ) -> ExternalIssue:
        body = {"subject": form.get("title", ""), "body": form.get("description", "")}
        # `call` goes through issue-platform's HTTP client: 10 s timeout, errors answered as 502/504.
        answer = await self.call(
            config, "POST", f"{_base(config)}/api/tickets", what="POST /api/tickets", headers=_auth(config), json=body
        )
        return _ticket(self, answer.body, in_doubt=True)

    async def link_issue(self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm) -> ExternalIssue:
        ticket_id = str(form.get("issue_id", "")).strip().removeprefix("ACME-")
        if not ticket_id.isdigit():
            raise InvalidForm({"issue_id": "Ticket must be a number like 42 or ACME-42."})
        path = f"/api/tickets/{ticket_id}"
        # A GET: verifies the ticket exists (spec §24.2), and is retried on a 5xx by the client.
        answer = await self.call(config, "GET", _base(config) + path, what=f"GET {path}", headers=_auth(config))
        return _ticket(self, answer.body, in_doubt=False)

    async def issue_label(self, external: ExternalIssue) -> str:
        return f"ACME-{external.id}"

    async def find_by_marker(self, config: TrackerConfig, marker: str, since: datetime) -> ExternalIssue | None:
        params = {"body_contains": marker, "created_since": since.astimezone(UTC).isoformat()}
        answer = await self.call(
            config, "GET", f"{_base(config)}/api/tickets", what="GET /api/tickets", headers=_auth(config),
            params=params,
        )
        for ticket in answer.body if isinstance(answer.body, list) else []:
            if isinstance(ticket, dict) and has_marker(ticket.get("body"), marker):
                return _ticket(self, ticket, in_doubt=False)
        return None


def _base(config: TrackerConfig) -> str:
    return str(config.get("base_url") or "https://tickets.acme.example").rstrip("/")


def _auth(config: TrackerConfig) -> dict[str, str]:
    return {"Authorization": f"Token {config.get('api_key', '')}"}


def _ticket(tracker: Tracker, body: Any, *, in_doubt: bool) -> ExternalIssue:
    if not isinstance(body, dict) or not isinstance(body.get("ticket_id"), int):
        raise TrackerBadAnswer(tracker.slug, "ACME Tickets answered without a ticket_id.", in_doubt=in_doubt)
    return ExternalIssue(id=str(body["ticket_id"]), title=body.get("subject"), url=body.get("link"))
