"""Why an input goes to the DLQ: the closed set of reasons (spec §7.2) and the one Rejection every stage builds."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

DLQ_MESSAGE_MAX_CHARS: Final = 1024  # spec §7.1 x-dlq-message


class Reason(StrEnum):
    """DLQ reason codes, the closed set of spec §7.2."""

    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID_JSON = "invalid_json"
    INVALID_PAYLOAD_TYPE = "invalid_payload_type"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_GROUP_TYPE = "unknown_group_type"
    MISSING_EVENT_ID = "missing_event_id"
    EVENT_PROJECT_MISMATCH = "event_project_mismatch"
    EVENT_ID_MISMATCH = "event_id_mismatch"
    EVENT_NOT_FOUND = "event_not_found"
    UNSUPPORTED_STATUS = "unsupported_status"
    INVALID_STATUS_CHANGE = "invalid_status_change"
    TYPE_MISMATCH = "type_mismatch"
    GROUP_NOT_FOUND = "group_not_found"


def cap_dlq_message(message: str) -> str:
    """spec §7.1: the message header holds at most 1024 characters; a cut one ends in "…" so a reader sees it."""
    if len(message) <= DLQ_MESSAGE_MAX_CHARS:
        return message
    return message[: DLQ_MESSAGE_MAX_CHARS - 1] + "…"


@dataclass(frozen=True)
class Rejection:
    """Why an input goes to the DLQ: the `x-dlq-reason`, `x-dlq-message` and `x-dlq-field` headers (§7.1)."""

    reason: Reason
    message: str
    field: str | None = None
    # Every (JSON path, problem) of an invalid_field rejection, uncapped: the message header is cut at 1024
    # characters, but a person running `validate` wants each problem on its own line (issue 3).
    problems: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # whoever builds the rejection, the header limit holds
        object.__setattr__(self, "message", cap_dlq_message(self.message))
