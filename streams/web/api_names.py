"""The API strings of the group status enumerations (spec §8.1, §8.2): shown in issues, searched with `is:`."""
from __future__ import annotations

from streams.core.enums import SUBSTATUS_NAMES, GroupStatus

STATUS_NAMES: dict[int, str] = {
    GroupStatus.UNRESOLVED: "unresolved",
    GroupStatus.RESOLVED: "resolved",
    GroupStatus.IGNORED: "ignored",
}

__all__ = ["STATUS_NAMES", "SUBSTATUS_NAMES"]  # the substatus strings live with the enums: SET_IGNORED uses them
