"""Tracker: the base class an issue-tracker plugin subclasses (the contract of spec §24.1)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

from streams.trackers.config_secrets import secret_values
from streams.trackers.errors import MarkerSearchUnsupported
from streams.trackers.fields import Field, has_required_values
from streams.trackers.http_client import (
    TrackerAnswer,
    TrackerHttpClient,
    TrackerRequest,
)
from streams.trackers.issue import ExternalIssue, TrackedEvent, TrackedIssue
from streams.trackers.issue_text import issue_description

TrackerConfig = Mapping[str, Any]
TrackerForm = Mapping[str, Any]
ACTIONS: tuple[str, ...] = ("create", "link", "unlink")  # spec §24.1


class Tracker:
    """An issue tracker a project can open tickets in or link tickets of (spec §24.1).

    Subclass it, declare the class attributes, implement `create_issue` and/or `link_issue` for the
    actions you allow, and name the class in an entry point of group `issue_platform.trackers`. The
    registry checks the declaration at start (TrackerRegistrationError); it never instantiates a class to
    do so. An instance is made per use with the HTTP client to call through.

    Every method is async and gets the project's config (a mapping of `config_fields` names to values).
    `create_issue` also gets the call's request id (§24.4; for an automatic ticket the claim id of §24.5):
    a tracker that delivers messages, like the `webhook` one, sends it as the delivery id.
    A failed call raises a TrackerCallError (502/504), a form the tracker cannot use InvalidForm (400).
    """

    slug: ClassVar[str]  # ^[a-z][a-z0-9_-]{1,31}$, unique
    title: ClassVar[str]
    version: ClassVar[str]
    author: ClassVar[str]
    description: ClassVar[str]
    allowed_actions: ClassVar[tuple[str, ...]] = ACTIONS
    config_fields: ClassVar[tuple[Field, ...]] = ()

    def __init__(self, http: TrackerHttpClient | None = None) -> None:
        self.http = http if http is not None else TrackerHttpClient()

    async def is_configured(self, config: TrackerConfig) -> bool:
        return has_required_values(self.config_fields, config)

    async def new_issue_fields(self, issue: TrackedIssue, event: TrackedEvent) -> list[Field]:
        return [
            Field("title", "Title", "text", default=issue.title),
            Field("description", "Description", "textarea", default=issue_description(issue, event)),
        ]

    async def link_issue_fields(self, issue: TrackedIssue, event: TrackedEvent) -> list[Field]:
        return [Field("issue_id", "Issue", "text")]

    async def create_issue(
        self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm, *, request_id: str
    ) -> ExternalIssue:
        raise NotImplementedError(f"{type(self).__name__} does not create issues")

    async def link_issue(self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm) -> ExternalIssue:
        """Verify that the external issue exists (a GET, §24.2) and return it."""
        raise NotImplementedError(f"{type(self).__name__} does not link issues")

    async def issue_url(self, config: TrackerConfig, external: ExternalIssue) -> str | None:
        return external.url

    async def issue_label(self, external: ExternalIssue) -> str:
        return f"#{external.id}"

    async def find_by_marker(self, config: TrackerConfig, marker: str, since: datetime) -> ExternalIssue | None:
        """The ticket whose body carries `marker` (§24.5), created at or after `since`; None if there is none."""
        raise MarkerSearchUnsupported(f"The {self.slug} tracker cannot search its tickets for a marker.")

    @classmethod
    def can_find_by_marker(cls) -> bool:
        return cls.find_by_marker is not Tracker.find_by_marker

    @classmethod
    def implements(cls, action: str) -> bool:
        """Whether the class implements what `action` needs (`unlink` needs nothing of the tracker)."""
        method = {"create": "create_issue", "link": "link_issue"}.get(action)
        return method is None or getattr(cls, method) is not getattr(Tracker, method)

    async def call(
        self,
        config: TrackerConfig,
        method: Literal["GET", "POST"],
        url: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        body: bytes | None = None,
    ) -> TrackerAnswer:
        """Send one request through the shared client; the config's secrets are scrubbed from any error."""
        request = TrackerRequest(
            tracker=self.slug,
            service=self.title,
            method=method,
            url=url,
            what=what,
            headers=dict(headers or {}),
            params=params,
            json=json,
            body=body,
            secrets=secret_values(self.config_fields, config),
        )
        return await self.http.send(request)
