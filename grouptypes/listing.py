"""A plain-text listing of registered group types and their flag states (spec §22 `issue-platform grouptypes`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from grouptypes.flags import RolloutStage, flag_names, flag_option_name, parse_flag_value
from grouptypes.priority import PriorityLevel

if TYPE_CHECKING:
    from grouptypes.base import GroupType

COLUMNS = ("id", "slug", "category", "noise", "priority", "released", "quota", "AR", "Esc")


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def type_row(group_type: type[GroupType]) -> tuple[str, ...]:
    """One row of COLUMNS; noise is `ignore_limit/expiry`, quota `limit/window` (as spec §9.6 shows them)."""
    noise = group_type.noise_config
    quota = group_type.creation_quota
    return (
        str(group_type.type_id),
        group_type.slug,
        str(group_type.category),
        "-" if noise is None else f"{noise.ignore_limit}/{_duration(noise.expiry_seconds)}",
        PriorityLevel(group_type.default_priority).name,
        _yes_no(group_type.released),
        f"{quota.limit}/{_duration(quota.window_seconds)}",
        _yes_no(group_type.enable_auto_resolve),
        _yes_no(group_type.enable_escalation_detection),
    )


def flag_state(stored: object | None) -> str:
    """How a stored flag value reads to a person: `off (default)`, `la [1, 2]`, `ga`."""
    if stored is None:
        return "off (default)"  # spec §10.2
    try:
        value = parse_flag_value(stored)
    except ValueError as error:
        return f"unreadable, treated as off ({error})"
    if value.stage in (RolloutStage.LA, RolloutStage.EA):
        return f"{value.stage.value} {sorted(value.projects)}"
    return value.stage.value


def render(group_types: Iterable[type[GroupType]], options: Mapping[str, object] | None) -> str:
    """The registry as an aligned table; under each unreleased type, its three flags (spec §10.1).

    `options` are the stored runtime options; None when they could not be read, so flag states are
    shown as unknown rather than guessed.
    """
    group_types = list(group_types)
    rows = [COLUMNS, *(type_row(group_type) for group_type in group_types)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for row, group_type in zip(rows, [None, *group_types], strict=True):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if group_type is None:
            continue
        names = flag_names(group_type)
        flag_width = max((len(name) for name in names.values()), default=0)
        for name in names.values():
            state = "unknown" if options is None else flag_state(options.get(flag_option_name(name)))
            lines.append(f"{' ' * widths[0]}  flag {name.ljust(flag_width)}  {state}")
    return "\n".join(lines)
