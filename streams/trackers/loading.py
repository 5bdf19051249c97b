"""Start-up loading of trackers: the built-ins, then the classes named by entry points (spec §24.1)."""

from __future__ import annotations

from importlib.metadata import entry_points

from streams.trackers.builtin import BUILTIN_TRACKERS
from streams.trackers.errors import TrackerLoadError
from streams.trackers.registry import TrackerRegistry

ENTRY_POINT_GROUP = "issue_platform.trackers"  # spec §24.1


def load_trackers(registry: TrackerRegistry | None = None) -> TrackerRegistry:
    """Fill `registry` (a new one by default) and return it.

    1. The built-in trackers (§24.2). They are also declared as entry points of issue-platform itself;
       registering the same class again is a no-op, so an install without fresh metadata still has them.
    2. The entry points of group `issue_platform.trackers`, sorted by name so that every worker registers
       in the same order (and reports the same clash). Each names a Tracker subclass, `module:Class`.

    A built-in that breaks a rule raises TrackerRegistrationError; an entry point that fails to load, names
    no Tracker subclass or breaks a rule (a slug clash included) raises TrackerLoadError, one line naming
    the entry point and the cause. Either must abort worker start.
    """
    registry = TrackerRegistry() if registry is None else registry
    for tracker in BUILTIN_TRACKERS:
        registry.register(tracker)
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        try:
            registry.register(entry_point.load())
        except Exception as exc:
            # One line: this is what an operator sees when start-up fails.
            cause = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise TrackerLoadError(
                f"Could not load the tracker of entry point {entry_point.name!r} = {entry_point.value!r} "
                f"({ENTRY_POINT_GROUP}): {cause}"
            ) from exc
    return registry
