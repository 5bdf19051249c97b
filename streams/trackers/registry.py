"""The registry of tracker classes: the declaration rules of spec §24.1 and lookups by slug."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from streams.trackers.base import ACTIONS, Tracker
from streams.trackers.errors import TrackerRegistrationError
from streams.trackers.fields import field_problem

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")  # spec §24.1
_TEXT_ATTRIBUTES = ("title", "version", "author", "description")


class TrackerRegistry:
    """Tracker classes by slug; every worker builds the same one at start (like group types, §9.5.5)."""

    def __init__(self) -> None:
        self._by_slug: dict[str, type[Tracker]] = {}

    def register(self, tracker: type[Tracker]) -> type[Tracker]:
        """Validate and add a class; registering the very same class again is a no-op."""
        validate_tracker(tracker)
        existing = self._by_slug.get(tracker.slug)
        if existing is tracker:
            return tracker
        if existing is not None:
            # spec §24.1: a clash fails start-up with one line naming both.
            raise TrackerRegistrationError(
                f"The tracker slug {tracker.slug!r} is declared by both {_qualified(existing)} "
                f"and {_qualified(tracker)}."
            )
        self._by_slug[tracker.slug] = tracker
        return tracker

    def get(self, slug: str) -> type[Tracker] | None:
        return self._by_slug.get(slug)

    def all(self) -> list[type[Tracker]]:
        return [self._by_slug[slug] for slug in sorted(self._by_slug)]

    def __len__(self) -> int:
        return len(self._by_slug)

    def __contains__(self, slug: object) -> bool:
        return slug in self._by_slug

    def __iter__(self) -> Iterator[type[Tracker]]:
        return iter(self.all())


def validate_tracker(tracker: object) -> None:
    """Raise TrackerRegistrationError, naming the class, for the first declaration that breaks §24.1."""
    if not (isinstance(tracker, type) and issubclass(tracker, Tracker)) or tracker is Tracker:
        raise TrackerRegistrationError(f"{tracker!r} is not a subclass of streams.trackers.Tracker")
    name = _qualified(tracker)

    def fail(problem: str) -> TrackerRegistrationError:
        return TrackerRegistrationError(f"{name}: {problem}")

    for required in ("slug", *_TEXT_ATTRIBUTES):
        if not hasattr(tracker, required):
            raise fail(f"{required} is required (spec §24.1)")
    if not isinstance(tracker.slug, str) or not SLUG_PATTERN.fullmatch(tracker.slug):
        raise fail(f"slug must match {SLUG_PATTERN.pattern}, got {tracker.slug!r}")
    for attribute in _TEXT_ATTRIBUTES:
        value = getattr(tracker, attribute)
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{attribute} must be a non-empty string, got {value!r}")
    actions = tracker.allowed_actions
    if not isinstance(actions, tuple | list | frozenset | set) or not all(isinstance(a, str) for a in actions):
        raise fail(f"allowed_actions must be a collection of action names, got {actions!r}")
    unknown = sorted(set(actions) - set(ACTIONS))
    if unknown or len(set(actions)) != len(actions):
        raise fail(f"allowed_actions must be distinct names among {', '.join(ACTIONS)}, got {list(actions)!r}")
    for action in actions:
        if not tracker.implements(action):
            method = "create_issue" if action == "create" else "link_issue"
            raise fail(f"allows {action!r} but does not implement {method}")
    fields = tracker.config_fields
    if not isinstance(fields, tuple | list):
        raise fail(f"config_fields must be a tuple of Field, got {fields!r}")
    seen: set[str] = set()
    for config_field in fields:
        problem = field_problem(config_field)
        if problem is not None:
            raise fail(f"config_fields: {problem}")
        if config_field.name in seen:
            raise fail(f"config_fields: the name {config_field.name!r} is used twice")
        seen.add(config_field.name)


def describe_tracker(tracker: type[Tracker]) -> dict[str, Any]:
    """One entry of `GET /api/0/trackers/` (spec §24.3)."""
    return {
        "slug": tracker.slug,
        "title": tracker.title,
        "version": tracker.version,
        "author": tracker.author,
        "description": tracker.description,
        "allowed_actions": [action for action in ACTIONS if action in tracker.allowed_actions],
        "config_fields": [config_field.as_dict() for config_field in tracker.config_fields],
    }


def _qualified(tracker: type) -> str:
    return f"{tracker.__module__}.{tracker.__qualname__}"
