"""Release flags of unreleased group types and their pure evaluation (spec §10.1, §10.2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from grouptypes.base import GroupType

Gate = Literal["ingest", "post_process", "visible"]
GATES: tuple[Gate, ...] = ("ingest", "post_process", "visible")

# spec §10.1.1
_FLAG_SUFFIXES: dict[Gate, str] = {
    "ingest": "ingest",
    "post_process": "post-process-group",
    "visible": "visible",
}

FLAG_OPTION_PREFIX = "flag:"  # spec §10.4


class RolloutStage(StrEnum):
    OFF = "off"
    LA = "la"  # limited access
    EA = "ea"  # early access
    GA = "ga"


_STAGES_WITH_PROJECTS = frozenset({RolloutStage.LA, RolloutStage.EA})


@dataclass(frozen=True)
class FlagValue:
    """A parsed flag option: a stage, and for LA/EA the projects it is enabled for (§10.2)."""

    stage: RolloutStage
    projects: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        # spec §20.11.3: the project list belongs to la/ea only, so off/ga cannot hide a stale list.
        if self.projects and self.stage not in _STAGES_WITH_PROJECTS:
            raise ValueError(f"flag stage {self.stage.value!r} takes no projects")

    def enabled_for(self, project_id: int) -> bool:
        if self.stage is RolloutStage.GA:
            return True
        if self.stage in _STAGES_WITH_PROJECTS:
            return project_id in self.projects
        return False

    def to_dict(self) -> dict[str, object]:
        """The stored form of §10.2, with projects sorted so equal values serialise equally."""
        if self.stage in _STAGES_WITH_PROJECTS:
            return {"stage": self.stage.value, "projects": sorted(self.projects)}
        return {"stage": self.stage.value}


FLAG_OFF = FlagValue(RolloutStage.OFF)


def flag_slug(group_type: type[GroupType]) -> str:
    return group_type.slug.replace("_", "-")  # spec §10.1.1


def flag_names(group_type: type[GroupType]) -> dict[Gate, str]:
    """Gate → flag name; empty for released types, which have no flags (§10.1.2)."""
    if group_type.released:
        return {}
    base = flag_slug(group_type)
    return {gate: f"{base}-{suffix}" for gate, suffix in _FLAG_SUFFIXES.items()}


def flag_option_name(flag_name: str) -> str:
    return FLAG_OPTION_PREFIX + flag_name


def parse_flag_value(obj: object) -> FlagValue:
    """Validate a stored flag object `{"stage": ..., "projects": [...]}`; ValueError says what is wrong."""
    if isinstance(obj, FlagValue):
        return obj
    if not isinstance(obj, Mapping):
        raise ValueError(f"a flag value must be an object, got {type(obj).__name__}")
    unknown = set(obj) - {"stage", "projects"}
    if unknown:
        raise ValueError(
            f"a flag value has only 'stage' and 'projects', got unknown keys {sorted(map(str, unknown))}"
        )
    if "stage" not in obj:
        raise ValueError("a flag value needs a 'stage'")
    try:
        stage = RolloutStage(obj["stage"])
    except ValueError:
        allowed = ", ".join(repr(s.value) for s in RolloutStage)
        raise ValueError(f"flag stage must be one of {allowed}, got {obj['stage']!r}") from None

    if stage not in _STAGES_WITH_PROJECTS:
        if "projects" in obj:
            raise ValueError(f"flag stage {stage.value!r} takes no projects")
        return FlagValue(stage)

    if "projects" not in obj:
        raise ValueError(f"flag stage {stage.value!r} needs a 'projects' list (it may be empty)")
    projects = obj["projects"]
    if not isinstance(projects, list | tuple):
        raise ValueError(f"flag 'projects' must be a list of project ids, got {type(projects).__name__}")
    for project_id in projects:
        if isinstance(project_id, bool) or not isinstance(project_id, int) or project_id <= 0:
            raise ValueError(f"flag 'projects' must hold positive integer project ids, got {project_id!r}")
    return FlagValue(stage, frozenset(projects))


def flag_enabled(value: FlagValue | None, project_id: int) -> bool:
    # An unset flag is off (§10.2).
    return value is not None and value.enabled_for(project_id)


def gate_passes(
    group_type: type[GroupType], gate: Gate, project_id: int, options: Mapping[str, object]
) -> bool:
    """Whether `gate` is open for the type in the project, given the runtime options (§10.3, §10.4)."""
    if gate not in _FLAG_SUFFIXES:
        raise ValueError(f"unknown gate {gate!r}; expected one of {', '.join(GATES)}")
    if group_type.released:
        return True  # spec §10.1.2
    stored = options.get(flag_option_name(flag_names(group_type)[gate]))
    if stored is None:
        return False
    try:
        value = parse_flag_value(stored)
    except ValueError:
        # Writers validate before storing; an unreadable value is treated like an unset flag (off)
        # rather than failing every occurrence of the type on every worker.
        return False
    return flag_enabled(value, project_id)
