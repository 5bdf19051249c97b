"""The `webhook` tracker: a signed JSON POST to a URL the project configures (spec §24.2).

The body is signed `X-Issue-Platform-Signature: sha256=<hex HMAC-SHA256 of the body>` with the configured
secret and carries the request id as `delivery_id` (also `X-Issue-Platform-Delivery`); for an automatic
ticket that is the claim id (§24.5), so a receiver can drop a redelivery. The answer's `id` and `url` are
used when it gives them, else the id is the delivery id. Both the URL and the secret are secret config
fields (§24.3.1): the URL never appears in a message.

Create only: a plain URL offers no way to verify an existing ticket (§24.2 links only after a GET), nor to
list tickets, so there is no `find_by_marker` and an in-doubt automatic ticket stays `in_doubt` (§24.5).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from streams.trackers.base import Tracker, TrackerConfig, TrackerForm
from streams.trackers.builtin.service import AUTHOR, VERSION
from streams.trackers.errors import InvalidForm
from streams.trackers.fields import Field, required_text
from streams.trackers.issue import ExternalIssue, TrackedIssue

SIGNATURE_HEADER = "X-Issue-Platform-Signature"
DELIVERY_HEADER = "X-Issue-Platform-Delivery"
_WHAT = "POST to the configured webhook URL"


class WebhookTracker(Tracker):
    slug = "webhook"
    title = "Webhook"
    version = VERSION
    author = AUTHOR
    description = "POST a signed JSON message to a URL of your own, which opens the ticket."
    allowed_actions = ("create", "unlink")
    config_fields = (
        Field("url", "URL", secret=True),
        Field("secret", "Signing secret", secret=True),
    )

    async def create_issue(
        self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm, *, request_id: str
    ) -> ExternalIssue:
        url = str(config.get("url") or "").strip()
        if not url.startswith(("http://", "https://")):
            raise InvalidForm({"url": "URL must start with http:// or https://."})
        title = required_text(form, "title", "Title")
        message = {
            "delivery_id": request_id,
            "action": "create",
            "issue": {
                "id": str(issue.group_id),
                "project_id": issue.project_id,
                "title": issue.title,
                "culprit": issue.culprit,
                "url": issue.url,
            },
            "title": title,
            "description": str(form.get("description") or ""),
        }
        body = json.dumps(message).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(str(config.get("secret") or ""), body),
            DELIVERY_HEADER: request_id,
        }
        answer = await self.call(config, "POST", url, what=_WHAT, headers=headers, body=body)
        return _external(answer.body, request_id, title)


def signature(secret: str, body: bytes) -> str:
    """The header value `sha256=<hex>` of `body` signed with `secret` (also checks inbound calls, §24.6)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Compared in constant time (spec §24.6); no secret or no header never matches."""
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.encode())


def _external(body: Any, delivery_id: str, title: str) -> ExternalIssue:
    answered = body if isinstance(body, dict) else {}
    external_id = answered.get("id")
    url = answered.get("url")
    valid_id = isinstance(external_id, str | int) and not isinstance(external_id, bool) and str(external_id)
    return ExternalIssue(
        id=str(external_id) if valid_id else delivery_id,
        title=title,
        url=url if isinstance(url, str) and url else None,
    )
