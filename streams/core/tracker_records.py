"""The `issue_tracker.used` analytics record of a recorded tracker action (spec §24.4, §2.1 `issue-platform-analytics`)."""
from __future__ import annotations

from typing import Any

from storage.changes import ExternalIssueChange
from streams.core.timestamps import format_epoch

TRACKER_USED = "issue_tracker.used"


def tracker_used_record(change: ExternalIssueChange, group_id: int) -> dict[str, Any]:
    """Under the request id: a record sent again after a crash is the same record (spec §2.3.4)."""
    return {
        "id": change.api_change or change.cause_id,
        "type": TRACKER_USED,
        "tracker": change.external.tracker,
        "action": change.external.action,
        "project_id": change.project_id,
        "group_id": group_id,
        "actor": change.external.actor,
        "datetime": format_epoch(change.t),
    }
