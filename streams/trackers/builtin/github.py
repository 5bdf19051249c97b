"""The `github` tracker: issues of one repository through GitHub's REST API (spec §24.2).

Create is `POST /repos/{owner}/{repo}/issues`, link a `GET /repos/{owner}/{repo}/issues/{number}`; the
external id is `owner/repo#number`, the label `GH-{number}`, the url the answer's `html_url`.
`find_by_marker` lists the repository's issues updated since the claim (`GET …/issues?state=all&since=`)
and reads their bodies: the list comes from GitHub's database, unlike the search API, whose index lags.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from streams.trackers.base import Tracker, TrackerConfig, TrackerForm
from streams.trackers.builtin.service import (
    AUTHOR,
    VERSION,
    base_url,
    base_url_field,
    iso_utc,
)
from streams.trackers.errors import InvalidForm, TrackerBadAnswer
from streams.trackers.fields import Field, has_required_values, required_text
from streams.trackers.issue import ExternalIssue, TrackedEvent, TrackedIssue
from streams.trackers.issue_text import has_marker

API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"  # X-GitHub-Api-Version of the documented shapes we rely on
_REPO = r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+"
REPO_PATTERN = re.compile(rf"^{_REPO}$")
# `123`, `#123`, `owner/repo#123` or the issue's page on github.com (or a GitHub Enterprise host).
_REFERENCE = re.compile(rf"^(?:(?P<repo>{_REPO})#|#)?(?P<number>[1-9][0-9]*)$")
_PAGE_URL = re.compile(rf"^https?://[^/]+/(?P<repo>{_REPO})/issues/(?P<number>[1-9][0-9]*)/?$")
MARKER_SEARCH_PAGES = 10  # 1,000 most recently created issues since the claim: far more than one minute's worth
_PER_PAGE = 100


class GitHubTracker(Tracker):
    slug = "github"
    title = "GitHub"
    version = VERSION
    author = AUTHOR
    description = "Open or link an issue in a GitHub repository."
    allowed_actions = ("create", "link", "unlink")
    config_fields = (
        base_url_field(API_URL),
        Field("repo", "Repository (owner/name)"),
        Field("token", "Access token", secret=True),
        # Verifies X-Hub-Signature-256 of the repository's `issues` webhook (spec §24.6).
        Field("webhook_secret", "Webhook secret", required=False, secret=True),
    )

    async def is_configured(self, config: TrackerConfig) -> bool:
        return has_required_values(self.config_fields, config) and bool(
            REPO_PATTERN.fullmatch(str(config.get("repo", "")).strip())
        )

    async def link_issue_fields(self, issue: TrackedIssue, event: TrackedEvent) -> list[Field]:
        return [Field("issue_id", "Issue number, owner/repo#number or issue URL", "text")]

    async def create_issue(
        self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm, *, request_id: str
    ) -> ExternalIssue:
        repo = _repo(config)
        path = f"/repos/{repo}/issues"
        body = {"title": required_text(form, "title", "Title"), "body": str(form.get("description") or "")}
        answer = await self.call(
            config, "POST", base_url(config, API_URL) + path, what=f"POST {path}", headers=_headers(config), json=body
        )
        return self._external(repo, answer.body, f"POST {path}", in_doubt=True)

    async def link_issue(self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm) -> ExternalIssue:
        repo, number = _reference(required_text(form, "issue_id", "Issue"), _repo(config))
        path = f"/repos/{repo}/issues/{number}"
        answer = await self.call(
            config, "GET", base_url(config, API_URL) + path, what=f"GET {path}", headers=_headers(config)
        )
        return self._external(repo, answer.body, f"GET {path}", in_doubt=False)

    async def issue_url(self, config: TrackerConfig, external: ExternalIssue) -> str | None:
        if external.url:
            return external.url
        repo, _, number = external.id.rpartition("#")
        return f"{_web_url(base_url(config, API_URL))}/{repo}/issues/{number}"

    async def issue_label(self, external: ExternalIssue) -> str:
        return f"GH-{external.id.rpartition('#')[2]}"

    async def find_by_marker(self, config: TrackerConfig, marker: str, since: datetime) -> ExternalIssue | None:
        repo = _repo(config)
        path = f"/repos/{repo}/issues"
        for page in range(1, MARKER_SEARCH_PAGES + 1):
            params = {
                "state": "all", "since": iso_utc(since), "sort": "created", "direction": "desc",
                "per_page": str(_PER_PAGE), "page": str(page),
            }
            answer = await self.call(
                config, "GET", base_url(config, API_URL) + path, what=f"GET {path}", headers=_headers(config),
                params=params,
            )
            items = answer.body if isinstance(answer.body, list) else []
            for item in items:
                # The issues list includes pull requests; a marker is only ever put in an issue.
                if isinstance(item, dict) and "pull_request" not in item and has_marker(item.get("body"), marker):
                    return self._external(repo, item, f"GET {path}", in_doubt=False)
            if len(items) < _PER_PAGE:
                return None
        return None

    def _external(self, repo: str, body: Any, what: str, *, in_doubt: bool) -> ExternalIssue:
        if not isinstance(body, dict) or not isinstance(body.get("number"), int):
            raise TrackerBadAnswer(
                self.slug, f"{self.title} answered {what} without an issue number.", in_doubt=in_doubt
            )
        html_url = body.get("html_url")
        return ExternalIssue(
            id=f"{repo}#{body['number']}",
            title=body.get("title") if isinstance(body.get("title"), str) else None,
            url=html_url if isinstance(html_url, str) else None,
        )


def _headers(config: TrackerConfig) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {config.get('token', '')}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
    }


def _repo(config: TrackerConfig) -> str:
    repo = str(config.get("repo") or "").strip()
    if not REPO_PATTERN.fullmatch(repo):
        raise InvalidForm({"repo": "Repository must be owner/name."})
    return repo


def _reference(text: str, default_repo: str) -> tuple[str, int]:
    match = _REFERENCE.fullmatch(text) or _PAGE_URL.fullmatch(text)
    if match is None:
        raise InvalidForm({"issue_id": "Issue must be a number, owner/repo#number or an issue URL."})
    return match.group("repo") or default_repo, int(match.group("number"))


def _web_url(api_url: str) -> str:
    """github.com for api.github.com; a GitHub Enterprise host for its `https://host/api/v3`."""
    parts = urlsplit(api_url)
    if parts.netloc == "api.github.com":
        return f"{parts.scheme}://github.com"
    path = parts.path.removesuffix("/api/v3")
    return f"{parts.scheme}://{parts.netloc}{path}"
