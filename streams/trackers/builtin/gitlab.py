"""The `gitlab` tracker: issues of one project through GitLab's REST API v4 (spec §24.2).

Create is `POST /api/v4/projects/{id}/issues`, link a `GET /api/v4/projects/{id}/issues/{iid}`, with the
token in `PRIVATE-TOKEN`. The external id is `{project_id}#{iid}` with GitLab's numeric project id from the
answer (it survives a renamed or moved project, and an `Issue Hook` names the same pair, §24.6); the label
is `GL-{iid}`, the url the answer's `web_url`. `find_by_marker` uses the issues list's `search` in
descriptions, which GitLab answers from its database.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from streams.trackers.base import Tracker, TrackerConfig, TrackerForm
from streams.trackers.builtin.service import (
    AUTHOR,
    VERSION,
    base_url,
    base_url_field,
    iso_utc,
)
from streams.trackers.errors import InvalidForm, TrackerBadAnswer
from streams.trackers.fields import Field, required_text
from streams.trackers.issue import ExternalIssue, TrackedEvent, TrackedIssue
from streams.trackers.issue_text import has_marker

GITLAB_URL = "https://gitlab.com"
# `12`, `#12`, or `{project}#12` with the project's numeric id or its full path.
_REFERENCE = re.compile(r"^(?:(?P<project>[A-Za-z0-9._/-]+)#|#)?(?P<iid>[1-9][0-9]*)$")
MARKER_SEARCH_PAGES = 10
_PER_PAGE = 100


class GitLabTracker(Tracker):
    slug = "gitlab"
    title = "GitLab"
    version = VERSION
    author = AUTHOR
    description = "Open or link an issue in a GitLab project."
    allowed_actions = ("create", "link", "unlink")
    config_fields = (
        base_url_field(GITLAB_URL),
        Field("project", "Project (numeric id or full path)"),
        Field("token", "Access token", secret=True),
        # Compared with X-Gitlab-Token of the project's `Issue Hook` (spec §24.6).
        Field("webhook_secret", "Webhook secret token", required=False, secret=True),
    )

    async def link_issue_fields(self, issue: TrackedIssue, event: TrackedEvent) -> list[Field]:
        return [Field("issue_id", "Issue IID, or project#IID", "text")]

    async def create_issue(
        self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm, *, request_id: str
    ) -> ExternalIssue:
        path = f"/api/v4/projects/{_encoded(_project(config))}/issues"
        body = {"title": required_text(form, "title", "Title"), "description": str(form.get("description") or "")}
        answer = await self.call(
            config, "POST", base_url(config, GITLAB_URL) + path, what=f"POST {path}", headers=_headers(config),
            json=body,
        )
        return self._external(answer.body, f"POST {path}", in_doubt=True)

    async def link_issue(self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm) -> ExternalIssue:
        match = _REFERENCE.fullmatch(required_text(form, "issue_id", "Issue"))
        if match is None:
            raise InvalidForm({"issue_id": "Issue must be an IID or project#IID."})
        project = match.group("project") or _project(config)
        path = f"/api/v4/projects/{_encoded(project)}/issues/{match.group('iid')}"
        answer = await self.call(
            config, "GET", base_url(config, GITLAB_URL) + path, what=f"GET {path}", headers=_headers(config)
        )
        return self._external(answer.body, f"GET {path}", in_doubt=False)

    async def issue_label(self, external: ExternalIssue) -> str:
        return f"GL-{external.id.rpartition('#')[2]}"

    async def find_by_marker(self, config: TrackerConfig, marker: str, since: datetime) -> ExternalIssue | None:
        path = f"/api/v4/projects/{_encoded(_project(config))}/issues"
        for page in range(1, MARKER_SEARCH_PAGES + 1):
            params = {
                "search": marker, "in": "description", "created_after": iso_utc(since), "scope": "all",
                "per_page": str(_PER_PAGE), "page": str(page),
            }
            answer = await self.call(
                config, "GET", base_url(config, GITLAB_URL) + path, what=f"GET {path}", headers=_headers(config),
                params=params,
            )
            items = answer.body if isinstance(answer.body, list) else []
            for item in items:
                # `search` matches substrings anywhere; only the marker on a line of its own is ours.
                if isinstance(item, dict) and has_marker(item.get("description"), marker):
                    return self._external(item, f"GET {path}", in_doubt=False)
            if len(items) < _PER_PAGE:
                return None
        return None

    def _external(self, body: Any, what: str, *, in_doubt: bool) -> ExternalIssue:
        if not isinstance(body, dict) or not isinstance(body.get("iid"), int) or not isinstance(
            body.get("project_id"), int
        ):
            raise TrackerBadAnswer(
                self.slug, f"{self.title} answered {what} without an issue iid and project_id.", in_doubt=in_doubt
            )
        web_url = body.get("web_url")
        return ExternalIssue(
            id=f"{body['project_id']}#{body['iid']}",
            title=body.get("title") if isinstance(body.get("title"), str) else None,
            url=web_url if isinstance(web_url, str) else None,
        )


def _headers(config: TrackerConfig) -> dict[str, str]:
    return {"PRIVATE-TOKEN": str(config.get("token", ""))}


def _project(config: TrackerConfig) -> str:
    project = str(config.get("project") or "").strip()
    if not project:
        raise InvalidForm({"project": "Project is a required field."})
    return project


def _encoded(project: str) -> str:
    # GitLab takes a project path URL-encoded as one segment: `group%2Fproject`.
    return quote(project, safe="")
