"""Project settings (spec §11.1): the checks of a settings change, and the record it is on the options topic.

A change of a project's settings is a record `project:{id}` on the options topic (like a release flag), whose
value is the settings the request named (any subset, §20.11.1). The options agent merges it into the stored
settings in topic order, so two changes are applied one after the other, never interleaved. Pure: the API, the
CLI and the options agent all check with `check_patch`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROJECT_OPTION_PREFIX = "project:"
SETTINGS = ("slug", "resolve_age_hours", "occurrence_rate_limit")  # spec §11.1
RATE_LIMIT_FIELDS = ("enabled", "window_seconds", "granularity_seconds", "limit")
DEFAULT_RATE_LIMIT: dict[str, Any] = {"enabled": False, "window_seconds": 3600, "granularity_seconds": 60,
                                      "limit": 1000}
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
# `p{id}` is the slug a project gets when the sink creates it (spec §11.1): no other project may hold it, or the
# sink's creation of that project would find its slug taken.
RESERVED_SLUG = re.compile(r"p[0-9]+")
MAX_RESOLVE_AGE_HOURS = 8760
# Our bounds, not the spec's: a window longer than a week is no occurrence rate, and a granule count above 10,080
# (a week of minutes) would make each key's window state large.
MAX_RATE_WINDOW_SECONDS = 7 * 24 * 3600
MAX_RATE_GRANULES = 10_080
MAX_RATE_LIMIT = 2**31 - 1


def project_option_name(project_id: int) -> str:
    return f"{PROJECT_OPTION_PREFIX}{project_id}"


def option_project_id(name: str) -> int | None:
    """The project id of an options record name `project:{id}`; None for any other name."""
    if not name.startswith(PROJECT_OPTION_PREFIX):
        return None
    text = name[len(PROJECT_OPTION_PREFIX):]
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= 2**63 - 1 else None


def default_slug(project_id: int) -> str:
    return f"p{project_id}"


def default_settings(project_id: int) -> dict[str, Any]:
    return {"slug": default_slug(project_id), "resolve_age_hours": None,
            "occurrence_rate_limit": dict(DEFAULT_RATE_LIMIT)}


class InvalidSettings(ValueError):
    """A settings change that breaks §11.1; `errors` lists each problem as {path, message} (§20.1.3)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{error['path'] or 'body'}: {error['message']}" for error in errors))
        self.errors = errors


def check_patch(project_id: int, patch: object, current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings change `patch` asks, normalised; InvalidSettings listing every problem.

    `occurrence_rate_limit` may name some of its fields: the others are taken from `current` (the stored
    settings, defaults when None), and the whole object is checked.
    """
    if not isinstance(patch, dict):
        wanted = f"The body must be an object with any of {', '.join(SETTINGS)}"
        raise InvalidSettings([{"path": "", "message": wanted}])
    errors = [{"path": key, "message": f"Unknown setting; a project has {', '.join(SETTINGS)}"}
              for key in patch if key not in SETTINGS]
    if not patch:
        errors.append({"path": "", "message": f"The body needs at least one of {', '.join(SETTINGS)}"})
    checked: dict[str, Any] = {}
    if "slug" in patch:
        slug = patch["slug"]
        if not isinstance(slug, str) or not SLUG_PATTERN.fullmatch(slug):
            errors.append({"path": "slug", "message": "slug must match ^[a-z0-9][a-z0-9-]{0,49}$"})
        elif RESERVED_SLUG.fullmatch(slug) and slug != default_slug(project_id):
            errors.append({"path": "slug", "message": f"slug {slug} is reserved for project {slug[1:]} "
                                                      "(p<id> is the slug a project gets by default)"})
        else:
            checked["slug"] = slug
    if "resolve_age_hours" in patch:
        hours = patch["resolve_age_hours"]
        if hours is not None and (not _is_integer(hours) or not 1 <= hours <= MAX_RESOLVE_AGE_HOURS):
            errors.append({"path": "resolve_age_hours", "message": "resolve_age_hours must be an integer from 1 to "
                                                                   f"{MAX_RESOLVE_AGE_HOURS} or null"})
        else:
            checked["resolve_age_hours"] = hours
    if "occurrence_rate_limit" in patch:
        base = (current or {}).get("occurrence_rate_limit") or DEFAULT_RATE_LIMIT
        limit, limit_errors = _check_rate_limit(patch["occurrence_rate_limit"], base)
        errors.extend(limit_errors)
        if limit is not None:
            checked["occurrence_rate_limit"] = limit
    if errors:
        raise InvalidSettings(errors)
    return checked


def _check_rate_limit(value: object, base: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    path = "occurrence_rate_limit"
    if not isinstance(value, dict):
        return None, [{"path": path, "message": f"occurrence_rate_limit must be an object with any of "
                                                f"{', '.join(RATE_LIMIT_FIELDS)}"}]
    errors = [{"path": f"{path}.{key}", "message": f"Unknown field; the rate limit has {', '.join(RATE_LIMIT_FIELDS)}"}
              for key in value if key not in RATE_LIMIT_FIELDS]
    merged = {**DEFAULT_RATE_LIMIT, **{k: base[k] for k in RATE_LIMIT_FIELDS if k in base},
              **{k: value[k] for k in RATE_LIMIT_FIELDS if k in value}}
    if not isinstance(merged["enabled"], bool):
        errors.append({"path": f"{path}.enabled", "message": "enabled must be true or false"})
    bounds = {"window_seconds": MAX_RATE_WINDOW_SECONDS, "granularity_seconds": MAX_RATE_WINDOW_SECONDS,
              "limit": MAX_RATE_LIMIT}
    for key, bound in bounds.items():
        if not _is_integer(merged[key]) or not 1 <= merged[key] <= bound:
            errors.append({"path": f"{path}.{key}", "message": f"{key} must be an integer from 1 to {bound}"})
    if not errors:
        window, granule = merged["window_seconds"], merged["granularity_seconds"]
        message = None
        if window % granule:
            message = f"window_seconds ({window}) must be a multiple of granularity_seconds ({granule})"
        elif window // granule > MAX_RATE_GRANULES:
            message = f"window_seconds / granularity_seconds must be at most {MAX_RATE_GRANULES}"
        if message is not None:
            errors.append({"path": f"{path}.granularity_seconds", "message": message})
    return (None, errors) if errors else (merged, [])


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def merged_settings(project_id: int, current: Mapping[str, Any] | None,
                    checked: Mapping[str, Any]) -> dict[str, Any]:
    """The settings after a checked change: every setting the change names replaces the stored one."""
    return {**default_settings(project_id), **(current or {}), **checked}


@dataclass(frozen=True)
class RateLimit:
    """An enabled occurrence rate limit (spec §11.2): at most `limit` per `window_seconds` per group key."""

    window_seconds: int
    granularity_seconds: int
    limit: int

    @property
    def granules(self) -> int:
        return self.window_seconds // self.granularity_seconds


def rate_limit_of(settings: Mapping[str, Any] | None) -> RateLimit | None:
    """The limit grouping applies for these settings; None when it is off (the default)."""
    limit = (settings or {}).get("occurrence_rate_limit")
    if not limit or not limit.get("enabled"):
        return None
    return RateLimit(limit["window_seconds"], limit["granularity_seconds"], limit["limit"])


def take_rate_unit(used: Mapping[int, int], rule: RateLimit, t: float) -> dict[int, int] | None:
    """One occurrence at T' against a group key's window (spec §11.2 with the algorithm of §13.2.2).

    `used` is the key's count per granule index. Granule i = floor(T'/g); the units counted in granules
    i - w/g + 1 … i are summed: under the limit, one more is recorded in granule i and the new counts are
    returned (older granules dropped: T' never goes back for one key, so they never count again); at the
    limit, None, and nothing is recorded.
    """
    index = int(t // rule.granularity_seconds)
    oldest = index - rule.granules + 1
    kept = {granule: count for granule, count in used.items() if granule >= oldest}
    if sum(kept.values()) >= rule.limit:
        return None
    kept[index] = kept.get(index, 0) + 1
    return kept
