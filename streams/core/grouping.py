"""What happens to a group when an occurrence is applied: pure decisions over plain data (spec §12, §13.3).

This is the first slice of the grouping engine: create or update, type mismatch, environment novelty.
Noise, quotas, dedupe and regression build on the same `GroupState`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from streams.core.enums import GroupStatus, GroupSubStatus

MESSAGE_MAX_CHARS = 255  # spec §13.3.3


class Outcome(StrEnum):
    CREATED = "created"
    APPLIED = "applied"
    REDELIVERED = "redelivered"  # offset already applied to this key (spec §2.3.2)
    TYPE_MISMATCH = "type_mismatch"  # DLQ at the grouping stage (spec §12.9)
    GROUP_NOT_FOUND = "group_not_found"  # DLQ at the grouping stage (spec §14.3)
    STATUS_CHANGED = "status_changed"
    NOOP = "noop"  # status change equal to the current state (spec §14.3 T1)


@dataclass(frozen=True)
class OccurrenceFacts:
    """What grouping needs to know about one validated occurrence and its event (spec §4, §5.6)."""

    id: str
    project_id: int
    type_id: int
    title: str
    subtitle: str
    culprit: str
    level: int
    event_id: str
    event_timestamp: float  # epoch seconds
    platform: str | None
    environment: str
    priority: int | None  # the given priority (§4.3), or None
    assignee: str | None


@dataclass(frozen=True)
class GroupState:
    """The owner's view of one live group, kept in the `groups` table under its group key."""

    group_key: str
    project_id: int
    type_id: int
    generation: int
    status: int
    substatus: int | None
    substatus_since: float
    priority: int
    initial_priority: int
    assignee: str | None
    first_seen: float
    last_seen: float
    times_seen: int
    level: int
    culprit: str
    title: str
    subtitle: str
    message: str
    platform: str | None
    created_at: float
    resolved_at: float | None = None
    environments: tuple[str, ...] = ()
    # Watermark: the last grouping offset and decision time applied to this key (spec §2.4.2, §0.2).
    offset: int = -1
    last_t: float = 0.0
    version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["environments"] = list(self.environments)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupState:
        values = dict(data)
        values["environments"] = tuple(values.get("environments", ()))
        return cls(**values)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    state: GroupState | None
    t: float  # the monotonic decision time T' the rules used (spec §0.2)
    is_new: bool = False
    is_new_group_environment: bool = False


def build_message(title: str, subtitle: str, culprit: str) -> str:
    """Title, subtitle, culprit joined by spaces, skipping empty parts and parts already contained (§13.3.3)."""
    built = ""
    for part in (title, subtitle, culprit):
        if not part or part in built:
            continue
        built = f"{built} {part}" if built else part
    first_line = built.strip().split("\n", 1)[0]
    return first_line[:MESSAGE_MAX_CHARS]


def apply_occurrence(
    state: GroupState | None,
    occurrence: OccurrenceFacts,
    *,
    group_key: str,
    t: float,
    offset: int,
    default_priority: int,
) -> Decision:
    """Create the group or update it with one occurrence received at decision time `t` from `offset`."""
    if state is not None and offset <= state.offset:
        return Decision(Outcome.REDELIVERED, state, max(t, state.last_t))
    if state is None:
        return _create(occurrence, group_key=group_key, t=t, offset=offset, default_priority=default_priority)
    effective_t = max(t, state.last_t)
    if state.type_id != occurrence.type_id:
        return Decision(Outcome.TYPE_MISMATCH, state, effective_t)
    is_new_environment = occurrence.environment not in state.environments
    environments = state.environments + ((occurrence.environment,) if is_new_environment else ())
    updated = replace(
        state,
        times_seen=state.times_seen + 1,
        first_seen=min(state.first_seen, occurrence.event_timestamp),
        last_seen=max(state.last_seen, occurrence.event_timestamp),
        # Processing order wins, not timestamp order (spec §12.4).
        level=occurrence.level,
        culprit=occurrence.culprit,
        title=occurrence.title,
        subtitle=occurrence.subtitle,
        message=build_message(occurrence.title, occurrence.subtitle, occurrence.culprit),
        environments=environments,
        offset=offset,
        last_t=effective_t,
        version=state.version + 1,
    )
    return Decision(Outcome.APPLIED, updated, effective_t, is_new_group_environment=is_new_environment)


def _create(
    occurrence: OccurrenceFacts, *, group_key: str, t: float, offset: int, default_priority: int
) -> Decision:
    priority = occurrence.priority if occurrence.priority is not None else default_priority  # spec §4.3
    state = GroupState(
        group_key=group_key,
        project_id=occurrence.project_id,
        type_id=occurrence.type_id,
        generation=0,
        status=GroupStatus.UNRESOLVED,
        substatus=GroupSubStatus.NEW,
        substatus_since=t,
        priority=priority,
        initial_priority=priority,
        assignee=occurrence.assignee,
        first_seen=occurrence.event_timestamp,
        last_seen=occurrence.event_timestamp,
        times_seen=1,
        level=occurrence.level,
        culprit=occurrence.culprit,
        title=occurrence.title,
        subtitle=occurrence.subtitle,
        message=build_message(occurrence.title, occurrence.subtitle, occurrence.culprit),
        platform=occurrence.platform,
        created_at=t,
        environments=(occurrence.environment,),
        offset=offset,
        last_t=t,
        version=1,
    )
    return Decision(Outcome.CREATED, state, t, is_new=True, is_new_group_environment=True)


def apply_status_change(
    state: GroupState | None, *, new_status: int, new_substatus: int | None, t: float, offset: int
) -> Decision:
    """Set (status, substatus) of a live group (spec §14.3 rows T1 and T2–T5 without their side effects).

    Interim: activities, snoozes, forecasts and resolved_at from update_date come with the lifecycle work.
    """
    if state is None:
        return Decision(Outcome.GROUP_NOT_FOUND, None, t)
    effective_t = max(t, state.last_t)
    if offset <= state.offset:
        return Decision(Outcome.REDELIVERED, state, effective_t)
    if (state.status, state.substatus) == (new_status, new_substatus):
        return Decision(Outcome.NOOP, replace(state, offset=offset, last_t=effective_t), effective_t)
    updated = replace(
        state,
        status=new_status,
        substatus=new_substatus,
        substatus_since=effective_t,
        resolved_at=effective_t if new_status == GroupStatus.RESOLVED else None,
        offset=offset,
        last_t=effective_t,
        version=state.version + 1,
    )
    return Decision(Outcome.STATUS_CHANGED, updated, effective_t)
