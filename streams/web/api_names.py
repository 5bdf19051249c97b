"""The API strings of the group status enumerations (spec §8.1, §8.2): shown in issues, searched with `is:`."""
from __future__ import annotations

from streams.core.enums import GroupStatus, GroupSubStatus

STATUS_NAMES: dict[int, str] = {
    GroupStatus.UNRESOLVED: "unresolved",
    GroupStatus.RESOLVED: "resolved",
    GroupStatus.IGNORED: "ignored",
}
SUBSTATUS_NAMES: dict[int, str] = {
    GroupSubStatus.UNTIL_ESCALATING: "archived_until_escalating",
    GroupSubStatus.ESCALATING: "escalating",
    GroupSubStatus.ONGOING: "ongoing",
    GroupSubStatus.UNTIL_CONDITION_MET: "archived_until_condition_met",
    GroupSubStatus.FOREVER: "archived_forever",
    GroupSubStatus.REGRESSED: "regressed",
    GroupSubStatus.NEW: "new",
}
