"""What the built-in trackers share: who ships them, and the configured base URL of their service (§24.2)."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.trackers.base import TrackerConfig
from streams.trackers.errors import InvalidForm
from streams.trackers.fields import Field

AUTHOR = "issue-platform"
VERSION = "1.0.0"


def base_url_field(default: str | None) -> Field:
    """The base URL is a config field so that self-hosted instances work (spec §24.2); with a default
    (the public service) it may be left out."""
    return Field("base_url", "Base URL", "text", default=default, required=default is None)


def base_url(config: TrackerConfig, default: str | None) -> str:
    value = str(config.get("base_url") or default or "").strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise InvalidForm({"base_url": "Base URL must start with http:// or https://."})
    return value


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as GitHub's `since` and GitLab's `created_after` take it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
