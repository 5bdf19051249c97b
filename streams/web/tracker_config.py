"""Requests and answers of a project's tracker configuration (spec §24.3, §24.3.1, §24.5): pure, no I/O."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from streams.trackers import SECRET_MASK, Field, form_errors, mask_secrets, merge_config
from streams.web.errors import ApiError
from streams.web.serialize import iso_datetime

AUTO_CREATE_ON: tuple[str, ...] = ("new", "regression", "escalating")  # spec §24.5
AUTO_CREATE_PRIORITIES: tuple[str, ...] = ("low", "medium", "high")
_BODY_KEYS = ("config", "auto_create")
_AUTO_CREATE_KEYS = ("on", "min_priority", "types")


@dataclass(frozen=True)
class TrackerConfigUpdate:
    """What a valid PUT stores: the whole config (secrets in clear) and `auto_create` (None: no automatic tickets)."""

    config: dict[str, Any]
    auto_create: dict[str, Any] | None


def invalid_body(errors: Sequence[Mapping[str, str]]) -> ApiError:
    return ApiError(400, "invalid_body", "The request body is not a valid tracker configuration",
                    {"errors": [dict(error) for error in errors]})


def parse_tracker_config_body(
    fields: Sequence[Field], raw: bytes, stored: Mapping[str, Any]
) -> TrackerConfigUpdate:
    """The update a PUT body asks for, merged with the stored config; else 400 `invalid_body` listing every
    problem as {path, message} (§20.1.3).

    The body is `{"config": {field: string, …}, "auto_create": {…} | null}`; a PUT replaces the whole config,
    except that a secret sent as "********" keeps the stored value (§24.3), so a client may send back what it
    read. Messages name fields and rules, never a submitted value: a secret sent in the wrong place must not
    come back in an answer or a log line (§24.3.1).
    """
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        raise invalid_body([{"path": "", "message": "The body is not valid JSON"}]) from None
    if not isinstance(body, dict):
        raise invalid_body([{"path": "", "message": 'The body must be an object {"config": {…}, "auto_create": …}'}])
    errors = [{"path": key, "message": f"Unknown key; the body takes {', '.join(_BODY_KEYS)}"}
              for key in body if key not in _BODY_KEYS]
    submitted = body.get("config")
    if not isinstance(submitted, dict):
        errors.append({"path": "config", "message": "config is required and must be an object"})
        submitted = {}
    errors.extend(_config_value_errors(fields, submitted))
    config = merge_config(fields, stored, {name: value for name, value in submitted.items() if value is not None})
    if not any(error["path"] == "config" or error["path"].startswith("config.") for error in errors):
        errors.extend({"path": f"config.{name}", "message": message}
                      for name, message in form_errors(fields, config).items())
    auto_create, auto_errors = _auto_create(body.get("auto_create"))
    errors.extend(auto_errors)
    if errors:
        raise invalid_body(errors)
    return TrackerConfigUpdate(config=config, auto_create=auto_create)


def _config_value_errors(fields: Sequence[Field], submitted: Mapping[str, Any]) -> list[dict[str, str]]:
    declared = {field.name: field for field in fields}
    errors: list[dict[str, str]] = []
    for name, value in submitted.items():
        path = f"config.{name}"
        field = declared.get(name)
        if field is None:
            known = ", ".join(declared) or "no fields"
            errors.append({"path": path, "message": f"Unknown field; this tracker takes {known}"})
        elif value is None:
            continue  # null unsets the field; a required one is then reported as missing
        elif not isinstance(value, str):
            errors.append({"path": path, "message": f"{field.label} must be a string"})
        elif field.choices is not None and value not in {choice for choice, _ in field.choices}:
            allowed = ", ".join(choice for choice, _ in field.choices)
            errors.append({"path": path, "message": f"{field.label} must be one of {allowed}"})
        elif value == SECRET_MASK and not field.secret:
            errors.append({"path": path, "message": f"{field.label} is not secret: send its value, not the mask"})
    return errors


def _auto_create(value: object) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """§24.5's `auto_create` as stored (`types` defaults to null: every type), with its errors."""
    if value is None:
        return None, []
    if not isinstance(value, dict):
        return None, [{"path": "auto_create", "message": "auto_create must be an object or null"}]
    errors = [{"path": f"auto_create.{key}", "message": f"Unknown key; auto_create takes {', '.join(_AUTO_CREATE_KEYS)}"}
              for key in value if key not in _AUTO_CREATE_KEYS]
    on = value.get("on")
    if (not isinstance(on, list) or not on or not all(isinstance(item, str) and item in AUTO_CREATE_ON for item in on)
            or len(set(on)) != len(on)):
        errors.append({"path": "auto_create.on",
                       "message": f"on must be a non-empty list of distinct values among {', '.join(AUTO_CREATE_ON)}"})
    priority = value.get("min_priority")
    if priority not in AUTO_CREATE_PRIORITIES:
        errors.append({"path": "auto_create.min_priority",
                       "message": f"min_priority must be one of {', '.join(AUTO_CREATE_PRIORITIES)}"})
    types = value.get("types")
    if types is not None and (
        not isinstance(types, list)
        or not all(isinstance(item, int) and not isinstance(item, bool) and item > 0 for item in types)
    ):
        errors.append({"path": "auto_create.types", "message": "types must be null or a list of group type ids"})
    return {"on": on, "min_priority": priority, "types": types}, errors


def tracker_config_object(
    project_id: int, slug: str, fields: Sequence[Field], config: Mapping[str, Any],
    auto_create: Mapping[str, Any] | None, updated_at: datetime | None,
) -> dict[str, Any]:
    """The answer of GET and PUT `/api/0/projects/{project_id}/trackers/{slug}/`: secrets as "********" (§24.3).

    A tracker the project never configured answers an empty config and `updated_at` null, not 404: the
    resource exists for every registered tracker, and a PUT is how it gets a value.
    """
    return {
        "project_id": project_id,
        "tracker": slug,
        "config": mask_secrets(fields, config),
        "auto_create": None if auto_create is None else dict(auto_create),
        "updated_at": iso_datetime(updated_at),
    }
