"""Form and config fields of a tracker, and the checks of a submitted form (spec §24.1, §24.3)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from streams.trackers.errors import InvalidForm

FieldType = Literal["text", "textarea", "select"]
FIELD_TYPES: tuple[str, ...] = ("text", "textarea", "select")  # spec §24.1
FIELD_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Field:
    """One field of a create/link form or of a project's config (spec §24.1).

    `choices` are `(value, label)` pairs, for `select` only. `secret` is for config fields: the value is
    stored as given, never logged, and answered as "********" (§24.3.1).
    """

    name: str
    label: str
    type: FieldType = "text"
    default: str | None = None
    required: bool = True
    readonly: bool = False
    choices: tuple[tuple[str, str], ...] | None = None
    secret: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The field as the API shows it: optional keys only when set."""
        shown: dict[str, Any] = {"name": self.name, "label": self.label, "type": self.type, "required": self.required}
        if self.default is not None:
            shown["default"] = self.default
        if self.readonly:
            shown["readonly"] = True
        if self.choices is not None:
            shown["choices"] = [[value, label] for value, label in self.choices]
        if self.secret:
            shown["secret"] = True
        return shown


def field_problem(field: object) -> str | None:
    """What makes `field` unusable, or None (checked at registration for config fields)."""
    if not isinstance(field, Field):
        return f"{field!r} is not a Field"
    if not isinstance(field.name, str) or not FIELD_NAME_PATTERN.fullmatch(field.name):
        return f"field name must match {FIELD_NAME_PATTERN.pattern}, got {field.name!r}"
    if not isinstance(field.label, str) or not field.label.strip():
        return f"field {field.name!r} needs a label"
    if field.type not in FIELD_TYPES:
        return f"field {field.name!r} has type {field.type!r}, not one of {', '.join(FIELD_TYPES)}"
    if field.default is not None and not isinstance(field.default, str):
        return f"field {field.name!r} has a default that is not a string: {field.default!r}"
    for flag in ("required", "readonly", "secret"):
        if not isinstance(getattr(field, flag), bool):
            return f"field {field.name!r}: {flag} must be True or False"
    if field.type == "select":
        if not field.choices or not all(_is_choice(choice) for choice in field.choices):
            return f"select field {field.name!r} needs choices as (value, label) string pairs"
        if field.default is not None and field.default not in {value for value, _ in field.choices}:
            return f"select field {field.name!r} has a default that is not one of its choices"
    elif field.choices is not None:
        return f"field {field.name!r} has choices but is not a select"
    return None


def _is_choice(choice: object) -> bool:
    return (
        isinstance(choice, tuple) and len(choice) == 2 and all(isinstance(part, str) for part in choice)
    )


def form_errors(fields: Sequence[Field], form: Mapping[str, Any]) -> dict[str, str]:
    """§24.3's `details.errors`: every required, non-readonly field left empty, in the reference's wording."""
    errors: dict[str, str] = {}
    for field in fields:
        if field.required and not field.readonly and _is_empty(form.get(field.name)):
            errors[field.name] = f"{field.label} is a required field."
    return errors


def has_required_values(fields: Sequence[Field], values: Mapping[str, Any]) -> bool:
    """Every required field has a non-blank value (the default `is_configured`, §24.1)."""
    return not any(field.required and _is_empty(values.get(field.name)) for field in fields)


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def required_text(form: Mapping[str, Any], name: str, label: str) -> str:
    """The stripped value of a required text field, else InvalidForm with the §24.3 wording."""
    value = form.get(name)
    if _is_empty(value):
        raise InvalidForm({name: f"{label} is a required field."})
    return str(value).strip()
