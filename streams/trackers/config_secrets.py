"""Secret config values: masked in API answers, kept on a masked PUT, scrubbed from messages (spec §24.3.1)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from streams.trackers.fields import Field

SECRET_MASK = "********"  # spec §24.3


def mask_secrets(fields: Sequence[Field], config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as `GET /api/0/projects/{id}/trackers/{slug}/` answers it: each set secret as the mask."""
    secret_names = {field.name for field in fields if field.secret}
    return {
        name: SECRET_MASK if name in secret_names and value not in (None, "") else value
        for name, value in config.items()
    }


def merge_config(
    fields: Sequence[Field], stored: Mapping[str, Any], submitted: Mapping[str, Any]
) -> dict[str, Any]:
    """The config to store after a PUT: the declared fields of `submitted`, a masked secret keeping `stored`.

    A client that read the config back (secrets masked) and sends it again must not overwrite the real
    secret with the mask. A masked secret with nothing stored is left out, so a required one shows as
    missing rather than being stored as eight asterisks. Undeclared keys are dropped.
    """
    merged: dict[str, Any] = {}
    for field in fields:
        if field.name not in submitted:
            continue
        value = submitted[field.name]
        if field.secret and value == SECRET_MASK:
            if field.name in stored:
                merged[field.name] = stored[field.name]
            continue
        merged[field.name] = value
    return merged


def secret_values(fields: Sequence[Field], config: Mapping[str, Any]) -> tuple[str, ...]:
    """The config's secret values, longest first so that scrubbing one never leaves part of another."""
    values = {
        str(config[field.name])
        for field in fields
        if field.secret and config.get(field.name) not in (None, "")
    }
    return tuple(sorted(values, key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by the mask: for any message that may be shown or logged."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, SECRET_MASK)
    return text
