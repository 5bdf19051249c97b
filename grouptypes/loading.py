"""Start-up loading of group types: built-ins, plugin entry points, configured modules (spec §9.5.5)."""

import importlib
from collections.abc import Sequence
from importlib.metadata import entry_points

from grouptypes.builtin import BUILTIN_GROUP_TYPES
from grouptypes.errors import GroupTypeLoadError
from grouptypes.registry import GroupTypeRegistry, active_registry

ENTRY_POINT_GROUP = "issue_platform.grouptypes"  # spec §9.5.5


def load_group_types(extra_modules: Sequence[str] = ()) -> GroupTypeRegistry:
    """Fill the active registry in the order of §9.5.5 and return it.

    1. Built-in types (§9.6).
    2. Modules named by entry points in group `issue_platform.grouptypes`, sorted by entry-point name.
    3. `extra_modules` (setting GROUPTYPE_MODULES), in the order given.

    Importing a module registers the types it defines. Calling this twice is harmless: an imported
    module is not executed again, and re-registering a built-in class is a no-op. A module that fails
    to import (including one whose types break a registration rule) raises GroupTypeLoadError, which
    must abort worker start (§9.5.3).
    """
    registry = active_registry()
    # Built-ins were registered into the default registry when the package was imported; registering
    # them explicitly also fills a registry made active later (tests, tools).
    for group_type in BUILTIN_GROUP_TYPES:
        registry.register(group_type)

    # Sorting makes every worker import plugins in the same order, whatever the install order (§9.5.5).
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        _import_module(entry_point.module, origin=f"entry point {entry_point.name!r} in {ENTRY_POINT_GROUP}")
    for module_name in extra_modules:
        _import_module(module_name, origin="GROUPTYPE_MODULES")
    return registry


def _import_module(module_name: str, origin: str) -> None:
    try:
        importlib.import_module(module_name)
    except Exception as exc:
        # One line naming the module and the cause: this is what an operator sees when start-up fails.
        cause = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise GroupTypeLoadError(
            f"Could not load group types from module {module_name!r} ({origin}): {cause}"
        ) from exc
