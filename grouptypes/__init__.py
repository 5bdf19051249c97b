"""Group types: registered kinds of issue, their categories, value objects and flags (spec §9, §10)."""

from grouptypes.base import GroupType
from grouptypes.builtin import BUILTIN_GROUP_TYPES  # importing it registers the built-in types
from grouptypes.categories import (
    CategoryRegistry,
    GroupCategory,
    category_by_name,
    category_by_value,
    default_categories,
    register_category,
)
from grouptypes.errors import GroupTypeLoadError, GroupTypeRegistrationError, UnknownGroupType
from grouptypes.flags import (
    FLAG_OFF,
    GATES,
    FlagValue,
    Gate,
    RolloutStage,
    flag_enabled,
    flag_names,
    flag_option_name,
    flag_slug,
    gate_passes,
    parse_flag_value,
)
from grouptypes.loading import ENTRY_POINT_GROUP, load_group_types
from grouptypes.priority import PriorityLevel
from grouptypes.registry import GroupTypeRegistry, active_registry, default_registry, use_registry
from grouptypes.values import DEFAULT_CREATION_QUOTA, NoiseConfig, Quota

__all__ = [
    "BUILTIN_GROUP_TYPES",
    "DEFAULT_CREATION_QUOTA",
    "ENTRY_POINT_GROUP",
    "FLAG_OFF",
    "GATES",
    "CategoryRegistry",
    "FlagValue",
    "Gate",
    "GroupCategory",
    "GroupType",
    "GroupTypeLoadError",
    "GroupTypeRegistrationError",
    "GroupTypeRegistry",
    "NoiseConfig",
    "PriorityLevel",
    "Quota",
    "RolloutStage",
    "UnknownGroupType",
    "active_registry",
    "category_by_name",
    "category_by_value",
    "default_categories",
    "default_registry",
    "flag_enabled",
    "flag_names",
    "flag_option_name",
    "flag_slug",
    "gate_passes",
    "load_group_types",
    "parse_flag_value",
    "register_category",
    "use_registry",
]
