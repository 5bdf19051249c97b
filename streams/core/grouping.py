"""What happens to a group when an occurrence is applied to it: pure rules over plain data (spec §12, §13.3).

`streams.core.decide` decides *whether* an occurrence reaches a group (redelivery, dedupe, noise, quota);
this module says what applying it, or creating the group, does to the group's state (`GroupState`, defined
with the group changes in storage.changes because every change carries it to the sink).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from functools import cache
from typing import Any

from storage.changes import GroupState
from storage.frozen import replace_fields
from streams.core.enums import PRIORITY_NAMES, ActivityType, GroupStatus, GroupSubStatus

MESSAGE_MAX_CHARS = 255  # spec §13.3.3
HOUR_SECONDS = 3600  # the hourly count of hour(T) every group state keeps (spec §12.4, §12.7)


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def shallow_dict(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values shared: `asdict` deep-copies every value, and that copy was
    the grouping agent's largest cost per occurrence. Our states are frozen and serialised at once."""
    return {name: getattr(obj, name) for name in _field_names(type(obj))}


class Outcome(StrEnum):
    CREATED = "created"
    APPLIED = "applied"  # an occurrence applied to its group, or a status change that moved it (spec §14.3, §23)
    HELD_BACK = "held_back"  # spec §13.1.4
    PENDING_QUOTA = "pending_quota"  # waiting for the quota agent's answer (spec §13.2.5)
    STATUS_WAITING = "status_waiting"  # a status change held until the pending creation's answer (§13.2.5.5)
    QUOTA_REFUSED = "quota_refused"  # spec §13.2
    DUPLICATE = "duplicate"  # spec §12.3
    RATE_LIMITED = "rate_limited"  # the project's occurrence rate limit refused it (spec §11.2)
    REDELIVERED = "redelivered"  # offset already applied to this key (spec §2.3.2)
    REREAD = "reread"  # an input record applied before, produced to grouping again (spec §2.4.10)
    # The reconciler re-submitted an input the ledger lacks, and the key had applied it: its outcome was
    # lost after the owner's decision (spec §2.4.13).
    LOST = "lost"
    TYPE_MISMATCH = "type_mismatch"  # DLQ at the grouping stage (spec §12.9, §13.1.7)
    GROUP_NOT_FOUND = "group_not_found"  # DLQ at the grouping stage (spec §14.3)
    NOOP = "noop"  # status change equal to the current state (spec §14.3 T1)
    # A status change equal to the current state that records its `activity_type` (spec §14.3 T1b).
    ACTIVITY_ONLY = "activity_only"
    IGNORED_ESCALATION = "ignored_escalation"  # 0/2 for a group that is not IGNORED (spec §14.3 T6b)
    IGNORED_ANSWER = "ignored_answer"  # a quota answer for a request that is not pending (§13.2.5 step 4)
    DELETED = "deleted"  # an API delete removed the live group (spec §20.9)


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

    def to_dict(self) -> dict[str, Any]:
        return shallow_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OccurrenceFacts:
        return cls(**data)


@dataclass(frozen=True)
class Activity:
    """One recorded activity (spec §8.6, §18.3); the change that carries it gives it an id (decide.activity_id)."""

    type: int
    data: dict[str, Any]
    datetime: float


@dataclass(frozen=True)
class Applied:
    state: GroupState
    activities: tuple[Activity, ...]
    is_regression: bool = False
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


def assignee_activity_data(assignee: str) -> dict[str, str]:
    kind, _, identifier = assignee.partition(":")
    return {"assignee": identifier, "assigneeType": kind}


# The environments a key's state remembers per group (spec §2.4.11: no table value grows without bound; a name
# is at most 64 characters). Past them an occurrence of another environment counts as a new one for
# post-process (`is_new_group_environment`); PostgreSQL's `group_environments` still lists every one.
MAX_GROUP_ENVIRONMENTS = 100


def with_environment(environments: tuple[str, ...], environment: str) -> tuple[str, ...]:
    """`environments` with `environment` remembered, if there is room for it."""
    if environment in environments or len(environments) >= MAX_GROUP_ENVIRONMENTS:
        return environments
    return (*environments, environment)


def apply_to_group(state: GroupState, occurrence: OccurrenceFacts, *, t: float) -> Applied:
    """An occurrence of a live group (spec §12.4 update, §12.5 regression, §12.6 priority, §12.8 env)."""
    activities: list[Activity] = []
    is_new_environment = occurrence.environment not in state.environments
    # The count of hour(T) (spec §12.4 "hourly count + 1"), kept whatever the status: §12.7 compares it, and it
    # must include the hour's occurrences from before an archive. Two integer operations per occurrence.
    hour = t - t % HOUR_SECONDS
    updated = replace_fields(
        state,
        times_seen=state.times_seen + 1,
        hour_start=hour,
        hour_count=(state.hour_count or 0) + 1 if state.hour_start == hour else 1,
        first_seen=min(state.first_seen, occurrence.event_timestamp),
        last_seen=max(state.last_seen, occurrence.event_timestamp),
        # Processing order wins, not timestamp order (spec §12.4).
        level=occurrence.level,
        culprit=occurrence.culprit,
        title=occurrence.title,
        subtitle=occurrence.subtitle,
        message=build_message(occurrence.title, occurrence.subtitle, occurrence.culprit),
        environments=with_environment(state.environments, occurrence.environment),
        version=state.version + 1,
    )
    is_regression = False
    # IGNORED groups never regress (§12.5.3); there are no release resolutions that could veto (§12.5).
    if updated.status == GroupStatus.RESOLVED:
        updated = replace_fields(
            updated,
            status=GroupStatus.UNRESOLVED,
            substatus=GroupSubStatus.REGRESSED,
            substatus_since=t,
            resolved_at=None,
        )
        activities.append(Activity(ActivityType.SET_REGRESSION, {"event_id": occurrence.event_id}, t))
        is_regression = True
    # §12.6 runs after §12.5; a locked priority changes only through the API (§17).
    given = occurrence.priority
    if given is not None and given != updated.priority and updated.priority_locked_at is None:
        updated = replace_fields(updated, priority=given)
        activities.append(
            Activity(ActivityType.SET_PRIORITY, {"priority": PRIORITY_NAMES[given], "reason": "issue_platform"}, t)
        )
    return Applied(updated, tuple(activities), is_regression, is_new_environment)


@dataclass(frozen=True)
class Candidate:
    """Everything counted for a key that has no group yet (spec §13.1.8, §13.2.5 step 4)."""

    creator: OccurrenceFacts  # supplies type, priority and assignee
    latest: OccurrenceFacts  # supplies level, culprit, title, subtitle: processing order wins
    times_seen: int
    first_seen: float
    last_seen: float
    environments: tuple[str, ...]
    # The earliest T of the counted occurrences (the first held back or the first that waited for the quota):
    # when it lies in hour(T) of the creation, all `times_seen` of them count in that hour (spec §12.7).
    # None: unknown, the hour's count starts with the next occurrence.
    first_t: float | None = None


def create_group(
    candidate: Candidate, *, group_key: str, generation: int, t: float, default_priority: int
) -> tuple[GroupState, tuple[Activity, ...]]:
    """A new group (spec §13.3.1) and its activities, in order: FIRST_SEEN, then ASSIGNED (§13.3.2)."""
    creator, latest = candidate.creator, candidate.latest
    priority = creator.priority if creator.priority is not None else default_priority  # spec §4.3
    hour = t - t % HOUR_SECONDS
    in_hour = candidate.first_t is not None and candidate.first_t >= hour
    state = GroupState(
        group_key=group_key,
        project_id=creator.project_id,
        type_id=creator.type_id,
        generation=generation,
        status=GroupStatus.UNRESOLVED,
        substatus=GroupSubStatus.NEW,
        substatus_since=t,
        priority=priority,
        initial_priority=priority,
        priority_locked_at=None,
        assignee=creator.assignee,
        first_seen=candidate.first_seen,
        last_seen=candidate.last_seen,
        times_seen=candidate.times_seen,
        level=latest.level,
        culprit=latest.culprit,
        title=latest.title,
        subtitle=latest.subtitle,
        message=build_message(latest.title, latest.subtitle, latest.culprit),
        platform=creator.platform,
        created_at=t,
        environments=candidate.environments,
        hour_start=hour if in_hour else None,
        hour_count=candidate.times_seen if in_hour else None,
    )

    activities = [Activity(ActivityType.FIRST_SEEN, {"priority": PRIORITY_NAMES[priority]}, t)]
    if creator.assignee:
        activities.append(Activity(ActivityType.ASSIGNED, assignee_activity_data(creator.assignee), t))
    return state, tuple(activities)

