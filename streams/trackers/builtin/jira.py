"""The `jira` tracker: issues of one Jira project through the REST API v2 (spec §24.2).

Create is `POST /rest/api/2/issue` with `fields.project.key`, `summary`, `description` and
`issuetype.name`; link a `GET /rest/api/2/issue/{key}`. Basic authentication with a user and an API
token (Jira Cloud) or password (Jira Server). The external id and the label are the issue key, unique per
base URL; the url is `{base}/browse/{key}`.

No `find_by_marker`: JQL's text search (`description ~ "…"`) is word-based and its index is updated
asynchronously, so not finding the marker would not prove that no ticket was created; an in-doubt
automatic Jira ticket stays `in_doubt` for a person (spec §24.5).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from streams.trackers.base import Tracker, TrackerConfig, TrackerForm
from streams.trackers.builtin.service import AUTHOR, VERSION, base_url, base_url_field
from streams.trackers.errors import InvalidForm, TrackerBadAnswer
from streams.trackers.fields import Field, required_text
from streams.trackers.issue import ExternalIssue, TrackedEvent, TrackedIssue

ISSUE_KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*-[1-9][0-9]*$")


class JiraTracker(Tracker):
    slug = "jira"
    title = "Jira"
    version = VERSION
    author = AUTHOR
    description = "Open or link an issue in a Jira project."
    allowed_actions = ("create", "link", "unlink")
    config_fields = (
        base_url_field(None),
        Field("username", "User (e-mail on Jira Cloud)"),
        Field("api_token", "API token or password", secret=True),
        Field("project_key", "Project key"),
        Field("issue_type", "Issue type", default="Bug"),
    )

    async def link_issue_fields(self, issue: TrackedIssue, event: TrackedEvent) -> list[Field]:
        return [Field("issue_id", "Issue key", "text")]

    async def create_issue(
        self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm, *, request_id: str
    ) -> ExternalIssue:
        base = base_url(config, None)
        summary = required_text(form, "title", "Title")
        fields = {
            "project": {"key": str(config.get("project_key") or "").strip()},
            "summary": summary,
            "description": str(form.get("description") or ""),
            "issuetype": {"name": str(config.get("issue_type") or "Bug").strip()},
        }
        path = "/rest/api/2/issue"
        answer = await self.call(
            config, "POST", base + path, what=f"POST {path}", headers=_headers(config), json={"fields": fields}
        )
        key = _key(answer.body)
        if key is None:
            raise TrackerBadAnswer(self.slug, f"{self.title} answered POST {path} without an issue key.", in_doubt=True)
        return ExternalIssue(id=key, title=summary, url=f"{base}/browse/{key}")

    async def link_issue(self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm) -> ExternalIssue:
        base = base_url(config, None)
        key = required_text(form, "issue_id", "Issue key").upper()
        if not ISSUE_KEY_PATTERN.fullmatch(key):
            raise InvalidForm({"issue_id": "Issue key must look like PROJ-123."})
        path = f"/rest/api/2/issue/{key}"
        answer = await self.call(
            config, "GET", base + path, what=f"GET {path}", headers=_headers(config), params={"fields": "summary"}
        )
        found = _key(answer.body)
        if found is None:
            raise TrackerBadAnswer(self.slug, f"{self.title} answered GET {path} without an issue key.", in_doubt=False)
        fields = answer.body.get("fields")
        summary = fields.get("summary") if isinstance(fields, dict) else None
        # Jira answers a moved issue under its new key: store that one.
        return ExternalIssue(id=found, title=summary if isinstance(summary, str) else None, url=f"{base}/browse/{found}")

    async def issue_url(self, config: TrackerConfig, external: ExternalIssue) -> str | None:
        return f"{base_url(config, None)}/browse/{external.id}"

    async def issue_label(self, external: ExternalIssue) -> str:
        return external.id


def _headers(config: TrackerConfig) -> dict[str, str]:
    credentials = f"{config.get('username', '')}:{config.get('api_token', '')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii"), "Accept": "application/json"}


def _key(body: Any) -> str | None:
    key = body.get("key") if isinstance(body, dict) else None
    return key if isinstance(key, str) and ISSUE_KEY_PATTERN.fullmatch(key) else None
