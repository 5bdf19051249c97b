"""Group priority levels a group type may default to (spec §8.4, §9.2)."""

from enum import IntEnum


class PriorityLevel(IntEnum):
    # OK (0) of §8.4 is left out on purpose: it is never a group priority.
    LOW = 25
    MEDIUM = 50
    HIGH = 75

    @property
    def api_name(self) -> str:
        return self.name.lower()
