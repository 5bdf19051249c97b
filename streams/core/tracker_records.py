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


def external_issue_message(
    *, request_id: str, generation: int, t: float, group_id: int, provider: str, action: str, tracker: str,
    external_id: str, url: str | None, label: str, title: str | None, actor: str,
) -> dict[str, Any]:
    """The `external_issue` message to the grouping topic (spec §24.4), made by the API for a person's action and by
    the automatic tickets' timer (§24.5, `request_id` the claim id): the owner applies it to the group's live
    generation and dedupes it by `request_id`."""
    return {
        "kind": "external_issue", "id": request_id, "generation": generation, "t": t, "group_id": group_id,
        "provider": provider,
        "external_issue": {"action": action, "tracker": tracker, "external_id": external_id, "url": url,
                           "label": label, "title": title, "actor": actor},
    }
