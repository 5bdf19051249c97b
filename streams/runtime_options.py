"""Runtime options every worker reads (spec §10.4): release flags and settings that change without restart.

Interim: an empty view, so every unreleased type's gates are off (the default of spec §10.2) until the
options agent fills it.
"""
from __future__ import annotations

from collections.abc import Mapping


def current_options() -> Mapping[str, object]:
    return {}
