"""The registry of group types: registration rules and lookups (spec §9.5)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from grouptypes.categories import CategoryRegistry, GroupCategory, default_categories
from grouptypes.errors import GroupTypeRegistrationError, UnknownGroupType
from grouptypes.flags import (  # re-exported: flags are looked up per registered type
    FlagValue,
    Gate,
    RolloutStage,
    flag_enabled,
    flag_names,
    flag_slug,
    gate_passes,
    parse_flag_value,
)
from grouptypes.priority import PriorityLevel
from grouptypes.values import NoiseConfig, Quota, is_positive_int

if TYPE_CHECKING:
    from grouptypes.base import GroupType

__all__ = [
    "FlagValue",
    "Gate",
    "GroupTypeRegistry",
    "RolloutStage",
    "active_registry",
    "default_registry",
    "flag_enabled",
    "flag_names",
    "flag_slug",
    "gate_passes",
    "parse_flag_value",
    "use_registry",
]

SLUG_PATTERN = re.compile(r"^[a-z0-9_]+$")  # spec §9.2
_PRIORITY_VALUES = frozenset(int(level) for level in PriorityLevel)  # spec §9.2: 25, 50 or 75
_BOOLEAN_ATTRIBUTES = ("released", "in_default_search", "enable_auto_resolve", "enable_escalation_detection")


class GroupTypeRegistry:
    """Group types by id and by slug; every worker builds the same one at start (§9.5.5)."""

    def __init__(self, categories: CategoryRegistry = default_categories) -> None:
        self._categories = categories
        self._by_id: dict[int, type[GroupType]] = {}
        self._by_slug: dict[str, type[GroupType]] = {}

    def register(self, group_type: type[GroupType]) -> type[GroupType]:
        """Validate and add a type; registering the very same class again is a no-op."""
        _validate(group_type, self._categories)
        # Re-registering the same class object lets the loader run twice (§9.5.5); a different class
        # with the same id is still the §9.5.1 error.
        if self._by_id.get(group_type.type_id) is group_type:
            return group_type
        if group_type.type_id in self._by_id:
            # spec §9.5.1: exact message.
            raise GroupTypeRegistrationError(
                f"A group type with the type_id {group_type.type_id} has already been registered."
            )
        existing = self._by_slug.get(group_type.slug)
        if existing is not None:
            # spec §9.5.2: an error, where the reference silently replaced the earlier type.
            raise GroupTypeRegistrationError(
                f"{group_type.__name__} (type_id {group_type.type_id}) uses the slug {group_type.slug!r}, "
                f"already registered by {existing.__name__} (type_id {existing.type_id})."
            )
        self._by_id[group_type.type_id] = group_type
        self._by_slug[group_type.slug] = group_type
        return group_type

    def get_by_type_id(self, type_id: int) -> type[GroupType]:
        try:
            return self._by_id[type_id]
        except KeyError:
            raise UnknownGroupType(type_id) from None

    def get_by_slug(self, slug: str) -> type[GroupType] | None:
        return self._by_slug.get(slug)

    def get_by_category(self, category: GroupCategory | int) -> set[int]:
        value = category.value if isinstance(category, GroupCategory) else category
        return {type_id for type_id, gt in self._by_id.items() if gt.category.value == value}

    def all(self) -> list[type[GroupType]]:
        return [self._by_id[type_id] for type_id in sorted(self._by_id)]

    def is_registered(self, type_id: int) -> bool:
        return type_id in self._by_id

    def visible(self, project_id: int, options: Mapping[str, object]) -> list[type[GroupType]]:
        """Released types plus unreleased ones whose visible flag is on for the project (§9.5.4)."""
        return [gt for gt in self.all() if gate_passes(gt, "visible", project_id, options)]

    def known_flag_names(self) -> frozenset[str]:
        """Flags of the registered unreleased types (spec §10.1.1); the registry is the same on every worker."""
        return frozenset(name for group_type in self.all() for name in flag_names(group_type).values())

    @property
    def categories(self) -> CategoryRegistry:
        return self._categories

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._by_id


def _validate(group_type: type[GroupType], categories: CategoryRegistry) -> None:
    """Raise GroupTypeRegistrationError for the first attribute that breaks §9.2/§9.3."""
    name = getattr(group_type, "__name__", repr(group_type))

    def fail(problem: str) -> GroupTypeRegistrationError:
        return GroupTypeRegistrationError(f"{name}: {problem}")

    for required in ("type_id", "slug", "description", "category"):
        if not hasattr(group_type, required):
            raise fail(f"{required} is required (spec §9.2)")
    if not is_positive_int(group_type.type_id):
        raise fail(f"type_id must be a positive integer, got {group_type.type_id!r}")
    if not isinstance(group_type.slug, str) or not SLUG_PATTERN.fullmatch(group_type.slug):
        raise fail(f"slug must match {SLUG_PATTERN.pattern}, got {group_type.slug!r}")
    if not isinstance(group_type.description, str) or not group_type.description.strip():
        raise fail(f"description must be a non-empty string, got {group_type.description!r}")
    if not categories.is_registered(group_type.category):
        raise fail(f"category must be a registered GroupCategory (spec §9.4), got {group_type.category!r}")
    if group_type.noise_config is not None and not isinstance(group_type.noise_config, NoiseConfig):
        raise fail(f"noise_config must be a NoiseConfig or None, got {group_type.noise_config!r}")
    priority = group_type.default_priority
    if not isinstance(priority, int) or isinstance(priority, bool) or priority not in _PRIORITY_VALUES:
        allowed = ", ".join(str(int(level)) for level in PriorityLevel)
        raise fail(f"default_priority must be one of {allowed}, got {priority!r}")
    for attribute in _BOOLEAN_ATTRIBUTES:
        if not isinstance(getattr(group_type, attribute), bool):
            raise fail(f"{attribute} must be True or False, got {getattr(group_type, attribute)!r}")
    if not isinstance(group_type.creation_quota, Quota):
        raise fail(f"creation_quota must be a Quota, got {group_type.creation_quota!r}")


default_registry = GroupTypeRegistry()

# GroupType subclasses defined without `registry=` land here; only use_registry() changes it.
_active_registry = default_registry


def active_registry() -> GroupTypeRegistry:
    return _active_registry


@contextmanager
def use_registry(registry: GroupTypeRegistry) -> Iterator[GroupTypeRegistry]:
    """Make `registry` receive types defined (or modules imported) inside the block, e.g. in tests."""
    global _active_registry
    previous = _active_registry
    _active_registry = registry
    try:
        yield registry
    finally:
        _active_registry = previous
