"""GroupType: the base class a kind of issue subclasses to declare its attributes (spec §9.2)."""

from __future__ import annotations

from typing import Any, ClassVar

from grouptypes.categories import GroupCategory
from grouptypes.priority import PriorityLevel
from grouptypes.registry import GroupTypeRegistry, active_registry
from grouptypes.values import DEFAULT_CREATION_QUOTA, NoiseConfig, Quota


class GroupType:
    """Declare a group type by subclassing; the subclass registers itself on definition (§9.1).

    Types are classes, never instantiated. Pass `registry=` in the class statement to register into
    another registry than the active one (see `use_registry`). A class that breaks a rule of §9.2/§9.5
    raises GroupTypeRegistrationError at definition, so a bad plugin stops the worker from starting.
    """

    type_id: ClassVar[int]
    slug: ClassVar[str]
    description: ClassVar[str]
    category: ClassVar[GroupCategory]
    noise_config: ClassVar[NoiseConfig | None] = None
    default_priority: ClassVar[int] = PriorityLevel.MEDIUM
    released: ClassVar[bool] = False
    in_default_search: ClassVar[bool] = True
    enable_auto_resolve: ClassVar[bool] = True
    enable_escalation_detection: ClassVar[bool] = True
    creation_quota: ClassVar[Quota] = DEFAULT_CREATION_QUOTA

    def __init_subclass__(cls, registry: GroupTypeRegistry | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        (active_registry() if registry is None else registry).register(cls)
