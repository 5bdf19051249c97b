"""The four trackers shipped with issue-platform (spec §24.2), registered before any plugin."""

from __future__ import annotations

from streams.trackers.base import Tracker
from streams.trackers.builtin.github import GitHubTracker
from streams.trackers.builtin.gitlab import GitLabTracker
from streams.trackers.builtin.jira import JiraTracker
from streams.trackers.builtin.webhook import WebhookTracker

BUILTIN_TRACKERS: tuple[type[Tracker], ...] = (WebhookTracker, GitHubTracker, GitLabTracker, JiraTracker)

__all__ = ["BUILTIN_TRACKERS", "GitHubTracker", "GitLabTracker", "JiraTracker", "WebhookTracker"]
