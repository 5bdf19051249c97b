"""Wire-compatible enumerations of the reference (spec §8)."""
from __future__ import annotations

from enum import IntEnum

from grouptypes.priority import PriorityLevel


class GroupStatus(IntEnum):  # spec §8.1
    UNRESOLVED = 0
    RESOLVED = 1
    IGNORED = 2


class GroupSubStatus(IntEnum):  # spec §8.2
    UNTIL_ESCALATING = 1
    ESCALATING = 2
    ONGOING = 3
    UNTIL_CONDITION_MET = 4
    FOREVER = 5
    REGRESSED = 6
    NEW = 7


class ActivityType(IntEnum):  # spec §8.6
    SET_RESOLVED = 1
    SET_UNRESOLVED = 2
    SET_IGNORED = 3
    SET_REGRESSION = 6
    CREATE_ISSUE = 7  # spec §24.4: a ticket created in or linked from a tracker
    FIRST_SEEN = 9
    ASSIGNED = 11
    UNASSIGNED = 12
    SET_RESOLVED_IN_RELEASE = 13
    SET_RESOLVED_BY_AGE = 15
    AUTO_SET_ONGOING = 24
    SET_ESCALATING = 25
    SET_PRIORITY = 26


# spec §8.5: stored as the integer, shown by name.
LEVELS: dict[str, int] = {"sample": 0, "debug": 10, "info": 20, "warning": 30, "error": 40, "fatal": 50}


# spec §8.4: the API's lowercase names of the group priorities (PriorityLevel lives with the group types).
PRIORITY_NAMES: dict[int, str] = {int(level): level.api_name for level in PriorityLevel}


# spec §8.2: the API strings of the substatuses; SET_IGNORED's `data.substatus` uses them too (§18.3).
SUBSTATUS_NAMES: dict[int, str] = {
    GroupSubStatus.UNTIL_ESCALATING: "archived_until_escalating",
    GroupSubStatus.ESCALATING: "escalating",
    GroupSubStatus.ONGOING: "ongoing",
    GroupSubStatus.UNTIL_CONDITION_MET: "archived_until_condition_met",
    GroupSubStatus.FOREVER: "archived_forever",
    GroupSubStatus.REGRESSED: "regressed",
    GroupSubStatus.NEW: "new",
}
