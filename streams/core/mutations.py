"""The owner's decision for the API's mutations of one group (spec §20.8, §20.9): status change, update, delete.

Pure like streams.core.decide, which decides the inputs: the grouping agent reads the key's state and the dedupe
record of the change id, calls `decide_api_*`, and carries out the `Decision`. An API message names the group it
was meant for by its generation (spec §2.4.5): a group deleted and created again since the request is another
group, and the change is not applied to it. Every decision sends exactly one change carrying the API change id,
no-ops included, so the sink records every outcome in `api_changes` and `?wait=1` sees it (spec §20.8.4).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from storage.changes import (
    ActivityRecord,
    ExternalIssueChange,
    ExternalLink,
    GroupDeletion,
    InputNoop,
    StatusChange,
    UpdateChange,
)
from streams.core.decide import Decision, activity_id, is_duplicate
from streams.core.enums import PRIORITY_NAMES, ActivityType
from streams.core.group_state import KeyState, SeenRecord
from streams.core.grouping import Activity, GroupState, Outcome, assignee_activity_data
from streams.core.status import StatusRequest, apply_status_change
from streams.core.tracker_auto import AUTO_ACTOR

# spec §18.2: what an activity of an API mutation names as its source and actor.
API_SOURCE = "api"
API_ACTOR = "api"


@dataclass(frozen=True)
class UpdateRequest:
    """What an API `update` asks (spec §20.8.1): a priority to set and lock, and/or an assignee (None clears)."""

    priority: int | None = None
    assign: bool = False  # assignedTo was given; `assignee` None then means "unassign"
    assignee: str | None = None

    def to_message(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.priority is not None:
            fields["priority"] = self.priority
        if self.assign:
            fields["assignee"] = self.assignee
        return fields

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> UpdateRequest:
        return cls(priority=message.get("priority"), assign="assignee" in message, assignee=message.get("assignee"))


def apply_update(group: GroupState, request: UpdateRequest, *, t: float) -> tuple[GroupState, tuple[Activity, ...]]:
    """Spec §20.8.1, §17: a priority is set and locked at T even when equal (then without an activity); an
    assignee that changes records ASSIGNED or UNASSIGNED (§18.3), an equal one nothing."""
    activities: list[Activity] = []
    updated = group
    if request.priority is not None:
        if request.priority != group.priority:
            activities.append(Activity(ActivityType.SET_PRIORITY,
                                       {"priority": PRIORITY_NAMES[request.priority], "reason": "user"}, t))
        updated = replace(updated, priority=request.priority, priority_locked_at=t)
    if request.assign and request.assignee != group.assignee:
        assignee = request.assignee
        activities.append(Activity(ActivityType.ASSIGNED, assignee_activity_data(assignee), t) if assignee
                          else Activity(ActivityType.UNASSIGNED, {}, t))
        updated = replace(updated, assignee=assignee)
    if updated != group:
        updated = replace(updated, version=group.version + 1)
    return updated, tuple(activities)


@dataclass(frozen=True)
class _Target:
    """A message that reached its live group: the key's state past it, T', and the group."""

    advanced: KeyState
    now: float
    group: GroupState


def _target(
    state: KeyState, *, change_id: str, generation: int, group_key: str, offset: int, t: float,
    seen: SeenRecord | None, dedupe_seconds: int,
) -> Decision | _Target:
    """Redelivery, dedupe (a retried request's change id, spec §2.4, §12.3), then the group the request named."""
    if offset <= state.offset:  # spec §2.3.2: a re-read message; its outputs were acknowledged (§2.4.6)
        return Decision(Outcome.REDELIVERED, state, max(t, state.last_t))
    now = max(t, state.last_t)  # T' (spec §0.2): the request time, made monotonic per key
    advanced = replace(state, offset=offset, last_t=now)
    project_id = int(group_key.split(":", 1)[0])
    if is_duplicate(seen, t=t, offset=offset, window_seconds=dedupe_seconds):
        return Decision(Outcome.DUPLICATE, advanced, now, changes=(_noop(Outcome.DUPLICATE, change_id, group_key,
                                                                         project_id, now),))
    group = state.group
    if group is None or group.generation != generation:
        # Deleted since the request read it (and perhaps created again: another group, spec §2.4.5). Not an
        # input, so no dead letter: its outcome is recorded for the waiting request, and nothing changes.
        return Decision(Outcome.GROUP_NOT_FOUND, advanced, now, changes=(
            _noop(Outcome.GROUP_NOT_FOUND, change_id, group_key, project_id, now),), record_seen=True)
    return _Target(advanced, now, group)


def _noop(outcome: Outcome, change_id: str, group_key: str, project_id: int, t: float) -> InputNoop:
    return InputNoop(outcome=outcome.value, t=t, group_key=group_key, project_id=project_id, api_change=change_id)


def _records(change_id: str, activities: tuple[Activity, ...], *, source: str = API_SOURCE,
             actor: str = API_ACTOR) -> tuple[ActivityRecord, ...]:
    return tuple(
        ActivityRecord(id=activity_id(change_id, position), type=activity.type, data=activity.data,
                       datetime=activity.datetime, source=source, actor=actor)
        for position, activity in enumerate(activities)
    )


def decide_api_status_change(
    state: KeyState, *, change_id: str, request: StatusRequest, generation: int, group_key: str, offset: int,
    t: float, seen: SeenRecord | None, dedupe_seconds: int, source: str = API_SOURCE, actor: str = API_ACTOR,
) -> Decision:
    """A status change from the API (spec §20.8.2), or from a tracker's webhook (§24.6: source "tracker", actor
    "tracker:{slug}"): the §14.3 row of the group's current state."""
    target = _target(state, change_id=change_id, generation=generation, group_key=group_key, offset=offset, t=t,
                     seen=seen, dedupe_seconds=dedupe_seconds)
    if isinstance(target, Decision):
        return target
    group = target.group
    applied = apply_status_change(group, request, t=target.now)
    if applied.activities:
        change: StatusChange | InputNoop = StatusChange(
            outcome=applied.outcome.value, t=target.now, group_key=group.group_key, project_id=group.project_id,
            group=applied.state, cause_id=change_id,
            activities=_records(change_id, applied.activities, source=source, actor=actor), api_change=change_id)
    else:  # T1, T6b: nothing recorded
        change = _noop(applied.outcome, change_id, group.group_key, group.project_id, target.now)
    return Decision(applied.outcome, replace(target.advanced, group=applied.state), target.now, changes=(change,),
                    record_seen=True)


def decide_update(
    state: KeyState, *, change_id: str, request: UpdateRequest, generation: int, group_key: str, offset: int,
    t: float, seen: SeenRecord | None, dedupe_seconds: int,
) -> Decision:
    """An API `update` (spec §20.8.1): priority set and locked, assignee; a no-op when nothing changes."""
    target = _target(state, change_id=change_id, generation=generation, group_key=group_key, offset=offset, t=t,
                     seen=seen, dedupe_seconds=dedupe_seconds)
    if isinstance(target, Decision):
        return target
    group = target.group
    updated, activities = apply_update(group, request, t=target.now)
    if updated == group:
        return Decision(Outcome.NOOP, target.advanced, target.now, record_seen=True,
                        changes=(_noop(Outcome.NOOP, change_id, group.group_key, group.project_id, target.now),))
    change = UpdateChange(outcome=Outcome.APPLIED.value, t=target.now, group_key=group.group_key,
                          project_id=group.project_id, group=updated, cause_id=change_id,
                          activities=_records(change_id, activities), api_change=change_id)
    return Decision(Outcome.APPLIED, replace(target.advanced, group=updated), target.now, changes=(change,),
                    record_seen=True)


def decide_delete(
    state: KeyState, *, change_id: str, generation: int, group_key: str, offset: int, t: float,
    seen: SeenRecord | None, dedupe_seconds: int,
) -> Decision:
    """An API `delete` (spec §20.9, §19): the group state goes, the next group of the key is the next generation
    (§2.4.5), and the noise counted before goes with it (`noise_floor`): a later occurrence of the fingerprint
    starts a new group through the noise gate and the creation quota again."""
    target = _target(state, change_id=change_id, generation=generation, group_key=group_key, offset=offset, t=t,
                     seen=seen, dedupe_seconds=dedupe_seconds)
    if isinstance(target, Decision):
        return target
    group = target.group
    removed = replace(target.advanced, group=None, generation=group.generation + 1, noise_floor=offset)
    deletion = GroupDeletion(t=target.now, group_key=group.group_key, project_id=group.project_id,
                             generation=group.generation, api_change=change_id)
    return Decision(Outcome.DELETED, removed, target.now, changes=(deletion,), record_seen=True)


def decide_external_issue(
    state: KeyState, *, change_id: str, link: ExternalLink, provider: str, generation: int, group_key: str,
    offset: int, t: float, seen: SeenRecord | None, dedupe_seconds: int,
) -> Decision:
    """An `external_issue` message (spec §24.4): the tracker call succeeded; the link is recorded on the live group
    it was made for (a message for a deleted group is dropped and counted `group_not_found`), with a CREATE_ISSUE
    activity for create and link (§8.6 value 7, data as the reference's). The group itself does not change."""
    target = _target(state, change_id=change_id, generation=generation, group_key=group_key, offset=offset, t=t,
                     seen=seen, dedupe_seconds=dedupe_seconds)
    if isinstance(target, Decision):
        return target
    group = target.group
    activities: tuple[ActivityRecord, ...] = ()
    if link.action in ("create", "link"):
        data = {"title": link.title, "provider": provider, "location": link.url, "label": link.label}
        activities = (ActivityRecord(id=activity_id(change_id, 0), type=ActivityType.CREATE_ISSUE, data=data,
                                     datetime=target.now, source=AUTO_ACTOR if link.actor == AUTO_ACTOR else API_SOURCE,
                                     actor=link.actor),)  # spec §24.6: source `auto` for an automatic ticket (§24.5)
    change = ExternalIssueChange(outcome=Outcome.APPLIED.value, t=target.now, group_key=group.group_key,
                                 project_id=group.project_id, group=group, cause_id=change_id, activities=activities,
                                 api_change=change_id, external=link)
    return Decision(Outcome.APPLIED, target.advanced, target.now, changes=(change,), record_seen=True)
