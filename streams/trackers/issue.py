"""What a tracker is told about an issue and its latest event, and what it answers (spec §24.1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrackedIssue:
    """The issue a ticket is made for or linked to; `url` is the issue's page, `evidence` the latest
    occurrence's evidence display entries (`{"name", "value", "important"}`, spec §4)."""

    group_id: int
    project_id: int
    title: str
    url: str
    culprit: str = ""
    evidence: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class TrackedEvent:
    """The issue's latest stored event: only its tags reach a ticket (spec §5)."""

    event_id: str
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ExternalIssue:
    """A ticket in the tracker: `create_issue`'s `{"id", "title"?, "url"?}` (spec §24.1).

    `id` is unique per tracker instance (§24.3): `owner/repo#number` (GitHub), `project#iid` (GitLab),
    the issue key (Jira), the answer's id or else the delivery id (webhook).
    """

    id: str
    title: str | None = None
    url: str | None = None

    def as_dict(self) -> dict[str, str]:
        shown = {"id": self.id}
        if self.title is not None:
            shown["title"] = self.title
        if self.url is not None:
            shown["url"] = self.url
        return shown


def event_tags(raw: Any) -> tuple[tuple[str, str], ...]:
    """A stored event's `tags` (a mapping or a list of pairs, spec §5) as the pairs a TrackedEvent holds."""
    if isinstance(raw, Mapping):
        return tuple((str(key), str(value)) for key, value in raw.items())
    if isinstance(raw, list):
        return tuple((str(pair[0]), str(pair[1])) for pair in raw if isinstance(pair, list | tuple) and len(pair) == 2)
    return ()
