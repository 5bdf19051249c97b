"""Issue-tracker plugins: the contract, the registry, loading, and the built-in trackers (spec §24)."""

from streams.trackers.base import ACTIONS, Tracker, TrackerConfig, TrackerForm
from streams.trackers.builtin import BUILTIN_TRACKERS
from streams.trackers.config_secrets import SECRET_MASK, mask_secrets, merge_config
from streams.trackers.errors import (
    InvalidForm,
    MarkerSearchUnsupported,
    TrackerAnswerError,
    TrackerBadAnswer,
    TrackerCallError,
    TrackerConnectionLost,
    TrackerLoadError,
    TrackerRegistrationError,
    TrackerTimeout,
    TrackerUnreachable,
)
from streams.trackers.fields import Field, form_errors
from streams.trackers.http_client import TrackerHttpClient
from streams.trackers.issue import ExternalIssue, TrackedEvent, TrackedIssue
from streams.trackers.issue_text import (
    has_marker,
    issue_description,
    marker_line,
    with_marker,
)
from streams.trackers.loading import ENTRY_POINT_GROUP, load_trackers
from streams.trackers.registry import TrackerRegistry, describe_tracker

__all__ = [
    "ACTIONS",
    "BUILTIN_TRACKERS",
    "ENTRY_POINT_GROUP",
    "SECRET_MASK",
    "ExternalIssue",
    "Field",
    "InvalidForm",
    "MarkerSearchUnsupported",
    "TrackedEvent",
    "TrackedIssue",
    "Tracker",
    "TrackerAnswerError",
    "TrackerBadAnswer",
    "TrackerCallError",
    "TrackerConfig",
    "TrackerConnectionLost",
    "TrackerForm",
    "TrackerHttpClient",
    "TrackerLoadError",
    "TrackerRegistrationError",
    "TrackerRegistry",
    "TrackerTimeout",
    "TrackerUnreachable",
    "describe_tracker",
    "form_errors",
    "has_marker",
    "issue_description",
    "load_trackers",
    "marker_line",
    "mask_secrets",
    "merge_config",
    "with_marker",
]
