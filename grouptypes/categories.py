"""Issue categories: the 18 reference values plus any registered at runtime (spec §9.4)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from grouptypes.errors import GroupTypeRegistrationError
from grouptypes.values import is_positive_int

CATEGORY_NAME_PATTERN = re.compile(r"^[a-z_]+$")  # spec §9.4


@dataclass(frozen=True)
class GroupCategory:
    """One category; the integer is wire-compatible with the reference, the name is what the API shows."""

    value: int
    name: str

    # Not an Enum, because plugins may add categories at runtime (§9.4).
    ERROR: ClassVar[GroupCategory]
    PERFORMANCE: ClassVar[GroupCategory]
    PROFILE: ClassVar[GroupCategory]
    CRON: ClassVar[GroupCategory]
    REPLAY: ClassVar[GroupCategory]
    FEEDBACK: ClassVar[GroupCategory]
    UPTIME: ClassVar[GroupCategory]
    METRIC_ALERT: ClassVar[GroupCategory]
    TEST_NOTIFICATION: ClassVar[GroupCategory]
    OUTAGE: ClassVar[GroupCategory]
    METRIC: ClassVar[GroupCategory]
    DB_QUERY: ClassVar[GroupCategory]
    HTTP_CLIENT: ClassVar[GroupCategory]
    FRONTEND: ClassVar[GroupCategory]
    MOBILE: ClassVar[GroupCategory]
    AI_DETECTED: ClassVar[GroupCategory]
    PREPROD: ClassVar[GroupCategory]
    INSTRUMENTATION: ClassVar[GroupCategory]

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return self.name


# spec §9.4
GroupCategory.ERROR = GroupCategory(1, "error")
GroupCategory.PERFORMANCE = GroupCategory(2, "performance")
GroupCategory.PROFILE = GroupCategory(3, "profile")  # deprecated in the reference; kept for wire values
GroupCategory.CRON = GroupCategory(4, "cron")
GroupCategory.REPLAY = GroupCategory(5, "replay")
GroupCategory.FEEDBACK = GroupCategory(6, "feedback")
GroupCategory.UPTIME = GroupCategory(7, "uptime")
GroupCategory.METRIC_ALERT = GroupCategory(8, "metric_alert")
GroupCategory.TEST_NOTIFICATION = GroupCategory(9, "test_notification")
GroupCategory.OUTAGE = GroupCategory(10, "outage")
GroupCategory.METRIC = GroupCategory(11, "metric")
GroupCategory.DB_QUERY = GroupCategory(12, "db_query")
GroupCategory.HTTP_CLIENT = GroupCategory(13, "http_client")
GroupCategory.FRONTEND = GroupCategory(14, "frontend")
GroupCategory.MOBILE = GroupCategory(15, "mobile")
GroupCategory.AI_DETECTED = GroupCategory(16, "ai_detected")
GroupCategory.PREPROD = GroupCategory(17, "preprod")
GroupCategory.INSTRUMENTATION = GroupCategory(18, "instrumentation")

REFERENCE_CATEGORIES: tuple[GroupCategory, ...] = (
    GroupCategory.ERROR,
    GroupCategory.PERFORMANCE,
    GroupCategory.PROFILE,
    GroupCategory.CRON,
    GroupCategory.REPLAY,
    GroupCategory.FEEDBACK,
    GroupCategory.UPTIME,
    GroupCategory.METRIC_ALERT,
    GroupCategory.TEST_NOTIFICATION,
    GroupCategory.OUTAGE,
    GroupCategory.METRIC,
    GroupCategory.DB_QUERY,
    GroupCategory.HTTP_CLIENT,
    GroupCategory.FRONTEND,
    GroupCategory.MOBILE,
    GroupCategory.AI_DETECTED,
    GroupCategory.PREPROD,
    GroupCategory.INSTRUMENTATION,
)


class CategoryRegistry:
    """The categories group types may use; starts with the reference ones."""

    def __init__(self, categories: Iterable[GroupCategory] = REFERENCE_CATEGORIES) -> None:
        self._by_value: dict[int, GroupCategory] = {}
        self._by_name: dict[str, GroupCategory] = {}
        for category in categories:
            self.register(category.value, category.name)

    def register(self, value: int, name: str) -> GroupCategory:
        if not is_positive_int(value):
            raise GroupTypeRegistrationError(f"A category value must be a positive integer, got {value!r}")
        if not isinstance(name, str) or not CATEGORY_NAME_PATTERN.fullmatch(name):
            raise GroupTypeRegistrationError(
                f"A category name must match {CATEGORY_NAME_PATTERN.pattern}, got {name!r}"
            )
        if value in self._by_value:
            raise GroupTypeRegistrationError(
                f"The category value {value} is already registered as {self._by_value[value].name!r}."
            )
        if name in self._by_name:
            existing = self._by_name[name]
            raise GroupTypeRegistrationError(
                f"The category name {name!r} is already registered with the value {existing.value}."
            )
        category = GroupCategory(value, name)
        self._by_value[value] = category
        self._by_name[name] = category
        return category

    def by_value(self, value: int) -> GroupCategory | None:
        return self._by_value.get(value)

    def by_name(self, name: str) -> GroupCategory | None:
        return self._by_name.get(name)

    def is_registered(self, category: object) -> bool:
        # Compare the whole object: a GroupCategory(2, "perf") must not pass as category 2.
        return isinstance(category, GroupCategory) and self._by_value.get(category.value) == category

    def all(self) -> list[GroupCategory]:
        return sorted(self._by_value.values(), key=lambda category: category.value)


default_categories = CategoryRegistry()


def register_category(value: int, name: str) -> GroupCategory:
    """Add a category for every worker's registry; call it at import time of a plugin module."""
    return default_categories.register(value, name)


def category_by_value(value: int) -> GroupCategory | None:
    return default_categories.by_value(value)


def category_by_name(name: str) -> GroupCategory | None:
    return default_categories.by_name(name)
