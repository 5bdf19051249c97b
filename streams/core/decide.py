"""The owner's decision for one grouping-topic message: pure, over the key's state and what tables hold.

Order for an occurrence (spec §12.2): redelivery → dedupe → live group (type check, apply) or the
new-group path (noise gate §13.1 → creation quota §13.2.5 → creation §13.3). The agent reads the tables
(key state, deciding noise window, dedupe record), calls `decide_*`, and carries out the `Decision`:
write the tables, emit `changes` to the sink, send a quota request, or dead-letter.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from storage.changes import (
    ActivityRecord,
    Change,
    CountedDrop,
    CreationLink,
    GrouplessOccurrence,
    InputCoordinates,
    InputNoop,
    OccurrenceChange,
    QuotaRefusal,
    StatusChange,
)
from storage.frozen import replace_fields
from streams.core.enums import GroupStatus
from streams.core.group_state import (
    MAX_WAITING_STATUS_BYTES,
    MAX_WAITING_STATUS_CHANGES,
    InputOffset,
    KeyState,
    Pending,
    SeenRecord,
    TypeRules,
    WaitingStatusChange,
)
from streams.core.grouping import (
    Activity,
    Candidate,
    GroupState,
    OccurrenceFacts,
    Outcome,
    apply_to_group,
    create_group,
    with_environment,
)
from streams.core.noise import NoiseCount, NoiseState, noise_gate
from streams.core.payload import uuid5_hex
from streams.core.projects import RateLimit, take_rate_unit
from streams.core.rejection import Reason, Rejection
from streams.core.status import (
    StatusApplied,
    StatusRequest,
    apply_ignored_rules,
    apply_status_change,
)
from streams.core.timers import auto_resolved, due_for_auto_resolve


@dataclass(frozen=True)
class QuotaRequest:
    request_id: str
    group_key: str
    project_id: int
    type_id: int
    t: float


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    state: KeyState
    t: float
    changes: tuple[Change, ...] = ()
    count_noise: NoiseCount | None = None
    record_seen: bool = False
    quota_request: QuotaRequest | None = None
    rejection: Rejection | None = None
    # Held inputs dead-lettered by this decision with their own bytes and coordinates (a refused creation's
    # waiting status changes, spec §13.2.5 step 5).
    dead_letters: tuple[tuple[WaitingStatusChange, Rejection], ...] = ()

    @property
    def state_changed(self) -> bool:
        return self.outcome not in (Outcome.REDELIVERED, Outcome.IGNORED_ANSWER)


@dataclass(frozen=True)
class IncomingOccurrence:
    """An occurrence message as the owner sees it."""

    facts: OccurrenceFacts
    occurrence: dict[str, Any]  # normalised JSON, stored by the sink
    event: dict[str, Any] | None  # embedded event to store, if any
    source: InputOffset | None = None  # the input record ingest made it from
    # Re-submitted by the reconciler (spec §2.4.13): the ledger has no outcome for it.
    reconcile: bool = False


def activity_id(cause_id: str, position: int) -> str:
    """Deterministic from the causing message's id and the activity's position among its own (§18.2)."""
    return uuid5_hex(f"activity:{cause_id}:{position}")


def is_duplicate(seen: SeenRecord | None, *, t: float, offset: int, window_seconds: int) -> bool:
    """Recorded for this key within the last window, by another message than this one (spec §12.3)."""
    return seen is not None and seen.offset != offset and seen.t > t - window_seconds


# ---------------------------------------------------------------------------------------------- changes


def _activity_records(cause_id: str, activities: tuple[Activity, ...], source: str) -> tuple[ActivityRecord, ...]:
    return tuple(
        ActivityRecord(id=activity_id(cause_id, position), type=activity.type, data=activity.data,
                       datetime=activity.datetime, source=source)
        for position, activity in enumerate(activities)
    )


def _groupless(
    outcome: Outcome, incoming: IncomingOccurrence, *, group_key: str, t: float, request_id: str | None = None
) -> GrouplessOccurrence:
    """An occurrence stored without a group (held back, waiting, refused): spec §7.4."""
    facts = incoming.facts
    return GrouplessOccurrence(
        outcome=outcome.value, t=t, group_key=group_key, project_id=facts.project_id, type_id=facts.type_id,
        id=facts.id, occurrence={**incoming.occurrence, "environment": facts.environment}, event=incoming.event,
        request_id=request_id, event_timestamp=facts.event_timestamp if request_id is not None else None,
    )


def _counted_drop(outcome: Outcome, facts: OccurrenceFacts, *, group_key: str, offset: int, t: float) -> CountedDrop:
    """A counted drop whose occurrence is not stored (spec §7.4: `duplicate`).

    It carries the id of the message that was dropped (its key and grouping offset), so the sink counts
    it once even when the message is decided again after a crash (spec §2.4.7.1).
    """
    return CountedDrop(outcome=outcome.value, t=t, group_key=group_key, project_id=facts.project_id,
                       type_id=facts.type_id, id=facts.id, count_id=f"{outcome.value}:{group_key}@{offset}")


# ------------------------------------------------------------------------------------------- occurrence


def decide_occurrence(
    state: KeyState,
    incoming: IncomingOccurrence,
    *,
    group_key: str,
    offset: int,
    t: float,
    rules: TypeRules,
    noise_before: NoiseState | None,
    seen: SeenRecord | None,
    dedupe_seconds: int,
    rate_limit: RateLimit | None = None,
    resolve_age_hours: int | None = None,
) -> Decision:
    """`resolve_age_hours`: the project's A when the group's type auto-resolves, else None (spec §12.5.2)."""
    facts = incoming.facts
    if offset <= state.offset:  # step 1: redelivery (spec §2.3.2); its outputs were acknowledged (§2.4.6)
        return Decision(Outcome.REDELIVERED, state, max(t, state.last_t))
    if state.has_applied(incoming.source):  # the same input read again (spec §2.4.10): never moves T'
        if incoming.reconcile:
            return _lost(state, offset, group_key=group_key, project_id=facts.project_id)
        return Decision(Outcome.REREAD, replace_fields(state, offset=offset), state.last_t)
    now = max(t, state.last_t)  # T' (spec §0.2)
    advanced = replace_fields(state, offset=offset, last_t=now, inputs=state.with_input(incoming.source))
    if is_duplicate(seen, t=t, offset=offset, window_seconds=dedupe_seconds):  # step 2 (spec §12.3)
        return Decision(
            Outcome.DUPLICATE, advanced, now,
            changes=(_counted_drop(Outcome.DUPLICATE, facts, group_key=group_key, offset=offset, t=now),)
        )
    if rate_limit is not None:  # step 3 (spec §11.2): exact, this key has one owner
        rate = take_rate_unit(state.rate, rate_limit, now)
        if rate is None:  # refused: counted, not stored, not recorded in the dedupe window (§12.3: steps 4-5 only)
            return Decision(Outcome.RATE_LIMITED, advanced, now, changes=(
                _counted_drop(Outcome.RATE_LIMITED, facts, group_key=group_key, offset=offset, t=now),))
        advanced = replace_fields(advanced, rate=rate)

    group = state.group
    if group is not None:  # step 4: a live group
        if group.type_id != facts.type_id:  # spec §12.9
            return _type_mismatch(advanced, now, f"occurrence type {facts.type_id} differs from the group's type "
                                                 f"{group.type_id}")
        due: tuple[Activity, ...] = ()
        if resolve_age_hours is not None and due_for_auto_resolve(group, t=now, auto_resolve=True,
                                                                  resolve_age_hours=resolve_age_hours):
            # spec §12.5.2: auto-resolved at T first (§15.2), so that this occurrence regresses it (§12.5.1)
            resolved = auto_resolved(group, t=now, resolve_age_hours=resolve_age_hours)
            group, due = resolved.state, resolved.activities
        applied = apply_to_group(group, facts, t=now)
        updated, activities, is_escalating = applied.state, due + applied.activities, False
        if updated.status == GroupStatus.IGNORED:  # spec §12.7, after §12.6; one comparison for every other group
            ignored = apply_ignored_rules(updated, event_id=facts.event_id, t=now,
                                          escalation_detection=rules.escalation_detection)
            updated, activities, is_escalating = ignored.state, activities + ignored.activities, ignored.is_escalating
        change = OccurrenceChange(
            outcome=Outcome.APPLIED.value, t=now, group_key=updated.group_key,
            project_id=updated.project_id, group=updated, cause_id=facts.id,
            activities=_activity_records(facts.id, activities, "occurrence"),
            occurrence=incoming.occurrence, event=incoming.event, environment=facts.environment,
            event_timestamp=facts.event_timestamp, is_regression=applied.is_regression, is_escalating=is_escalating,
            is_new_group_environment=applied.is_new_group_environment,
        )
        return Decision(Outcome.APPLIED, replace_fields(advanced, group=updated), now, changes=(change,), record_seen=True)

    return _new_group_path(advanced, incoming, group_key=group_key, offset=offset, t=t, now=now, rules=rules,
                           noise_before=noise_before)


def _lost(state: KeyState, offset: int, *, group_key: str, project_id: int) -> Decision:
    """The reconciler re-submitted an input this key applied, yet the ledger has no outcome for it: whatever
    that decision sent was lost after it was acknowledged. Recorded as the input's outcome `lost` (spec
    §2.4.13), never applied a second time; like a re-read it does not move T'."""
    return Decision(Outcome.LOST, replace_fields(state, offset=offset), state.last_t, changes=(
        InputNoop(outcome=Outcome.LOST.value, t=state.last_t, group_key=group_key, project_id=project_id),))


def _type_mismatch(advanced: KeyState, now: float, message: str) -> Decision:
    # The message has no effect on the group (spec §12.9); its dead letter is its outcome, so the watermarks
    # move past it (spec §2.4.10): read again, it is recognised, never applied after a later change of the key.
    return Decision(Outcome.TYPE_MISMATCH, advanced, now, rejection=Rejection(Reason.TYPE_MISMATCH, message, "type"))


def _new_group_path(
    state: KeyState,
    incoming: IncomingOccurrence,
    *,
    group_key: str,
    offset: int,
    t: float,
    now: float,
    rules: TypeRules,
    noise_before: NoiseState | None,
) -> Decision:
    facts = incoming.facts
    pending = state.pending
    noise_before = state.noise_after_delete(noise_before)  # spec §19: a new group passes the noise gate afresh
    if pending is not None and pending.creator.type_id != facts.type_id:
        return _type_mismatch(state, now, f"occurrence type {facts.type_id} differs from the pending group's type "
                                          f"{pending.creator.type_id}")
    verdict = None
    if rules.has_noise_gate:  # spec §13.1.2: types without noise never touch the table
        assert rules.noise_limit is not None
        if noise_before is not None and noise_before.type_id != facts.type_id:  # spec §13.1.7
            return _type_mismatch(state, now, f"occurrence type {facts.type_id} differs from the type "
                                              f"{noise_before.type_id} of the key's noise state")
        # Windows follow the message timestamp, which is T as ingest produced it (spec §0.2).
        verdict = noise_gate(noise_before, limit=rules.noise_limit, type_id=facts.type_id,
                             event_timestamp=facts.event_timestamp, t=now, offset=offset, floor=state.noise_floor)
        state = replace_fields(state, noise_seconds=_longest(state.noise_seconds, rules.noise_seconds))
    contribution = verdict.contribution if verdict is not None else None

    if pending is not None:  # spec §13.2.5 step 3: counted, and waits for the answer
        waiting_ids, waiting_count = pending.with_waiter(facts.id)  # bounded (spec §2.4.11)
        waiting = replace_fields(
            pending,
            latest=facts,
            times_seen=pending.times_seen + 1,
            first_seen=min(pending.first_seen, facts.event_timestamp),
            last_seen=max(pending.last_seen, facts.event_timestamp),
            environments=with_environment(pending.environments, facts.environment),
            waiting_ids=waiting_ids,
            waiting_count=waiting_count,
        )
        return Decision(
            Outcome.PENDING_QUOTA, replace_fields(state, pending=waiting), now,
            changes=(_groupless(Outcome.PENDING_QUOTA, incoming, group_key=group_key, t=now,
                                request_id=pending.request_id),),
            count_noise=contribution, record_seen=True,
        )

    if verdict is not None and verdict.held_back:
        return Decision(  # spec §13.1.4
            Outcome.HELD_BACK, state, now,
            changes=(_groupless(Outcome.HELD_BACK, incoming, group_key=group_key, t=now),),
            count_noise=contribution, record_seen=True,
        )

    # Would create: ask the quota agent (spec §13.2.5 step 1). The request id is the occurrence id.
    if verdict is not None:
        deciding = verdict.deciding
        times_seen, first_seen, last_seen = deciding.count, deciding.earliest_event, deciding.latest_event
        link_window: tuple[float, float] | None = (deciding.first_t, deciding.last_t)
    else:
        times_seen, first_seen, last_seen, link_window = 1, facts.event_timestamp, facts.event_timestamp, None
    request = Pending(
        request_id=facts.id,
        t=now,
        creator=facts,
        latest=facts,
        times_seen=times_seen,
        first_seen=first_seen,
        last_seen=last_seen,
        environments=(facts.environment,),
        link_window=link_window,
        waiting_ids=(facts.id,),
    )
    return Decision(
        Outcome.PENDING_QUOTA, replace_fields(state, pending=request), now,
        changes=(_groupless(Outcome.PENDING_QUOTA, incoming, group_key=group_key, t=now, request_id=facts.id),),
        count_noise=contribution, record_seen=True,
        quota_request=QuotaRequest(facts.id, group_key, facts.project_id, facts.type_id, now),
    )


def _longest(known: int | None, window: int | None) -> int | None:
    # Unknown stays unknown: a state from before the field may have been counted in any window.
    return None if known is None else max(known, window or 0)


# ------------------------------------------------------------------------------------------ quota answer


def decide_quota_answer(
    state: KeyState, *, request_id: str, granted: bool, group_key: str, offset: int, t: float, rules: TypeRules
) -> Decision:
    """Create the group from everything counted, or refuse what waited (spec §13.2.5 step 4)."""
    if offset <= state.offset:
        return Decision(Outcome.REDELIVERED, state, max(t, state.last_t))
    now = max(t, state.last_t)
    pending = state.pending
    if pending is None or pending.request_id != request_id or state.group is not None:
        return Decision(Outcome.IGNORED_ANSWER, replace_fields(state, offset=offset, last_t=now), now)
    if not granted:
        refused = QuotaRefusal(t=now, group_key=group_key, project_id=pending.creator.project_id,
                               type_id=pending.creator.type_id, ids=pending.waiting_ids,
                               request_id=pending.request_id)
        missing = Rejection(Reason.GROUP_NOT_FOUND, f"no live group for key {group_key}: its creation was refused "
                            "by the creation quota", "fingerprint")
        held_inputs = _held_inputs(state, pending)
        return Decision(Outcome.QUOTA_REFUSED, replace_fields(state, offset=offset, last_t=now, pending=None,
                                                       inputs=held_inputs), now,
                        changes=(refused,), dead_letters=tuple((held, missing) for held in pending.status_changes))
    candidate = Candidate(
        creator=pending.creator,
        latest=pending.latest,
        times_seen=pending.times_seen,
        first_seen=pending.first_seen,
        last_seen=pending.last_seen,
        environments=pending.environments,
        first_t=min(pending.t, pending.link_window[0]) if pending.link_window else pending.t,
    )
    group, activities = create_group(candidate, group_key=group_key, generation=state.generation, t=now,
                                     default_priority=rules.default_priority)
    creator = pending.creator
    change = OccurrenceChange(
        outcome=Outcome.CREATED.value, t=now, group_key=group.group_key, project_id=group.project_id, group=group,
        cause_id=creator.id, activities=_activity_records(creator.id, activities, "occurrence"),
        environment=creator.environment, event_timestamp=creator.event_timestamp, is_new=True,
        is_new_group_environment=True, occurrence_stored=True,
        # Every occurrence that waited is linked, and gets its post-process message, by the sink from the
        # rows stored under the request id (spec §2.4.11): the state keeps none of them.
        link=CreationLink(window=pending.link_window, ids=pending.waiting_ids, creator_id=creator.id,
                          request_id=pending.request_id),
    )
    group, held_changes = _apply_held(group, pending, t=now)
    return Decision(Outcome.CREATED, replace_fields(state, offset=offset, last_t=now, group=group, pending=None,
                                             inputs=_held_inputs(state, pending)), now,
                    changes=(change, *held_changes))


def _held_inputs(state: KeyState, pending: Pending) -> Mapping[str, int]:
    """The key's per-input watermarks once its held status changes have their outcome (spec §2.4.10)."""
    for held in pending.status_changes:
        state = replace_fields(state, inputs=state.with_input(held.source))
    return state.inputs


# ----------------------------------------------------------------------------------------- status change


def decide_status_change(
    state: KeyState, *, change_id: str, request: StatusRequest, group_key: str, offset: int,
    t: float, seen: SeenRecord | None, dedupe_seconds: int, source: InputOffset | None = None,
    reconcile: bool = False, raw_key: bytes | None = None, raw: str | None = None,
) -> Decision:
    """`raw_key` and `raw`: the input as it came, kept if the change must wait for a pending creation."""
    if offset <= state.offset:
        return Decision(Outcome.REDELIVERED, state, max(t, state.last_t))
    pending = state.pending
    if source is not None and pending is not None and any(held.source == source for held in pending.status_changes):
        # Held for the creation (spec §13.2.5 step 5) and read again, or reconciled: its outcome is on its way.
        return Decision(Outcome.REREAD, replace_fields(state, offset=offset), state.last_t)
    if state.has_applied(source):  # spec §2.4.10
        if reconcile:
            return _lost(state, offset, group_key=group_key, project_id=int(group_key.split(":", 1)[0]))
        return Decision(Outcome.REREAD, replace_fields(state, offset=offset), state.last_t)
    now = max(t, state.last_t)
    if state.group is None and pending is not None and raw is not None:  # spec §13.2.5 step 5
        return _wait_for_creation(state, pending, WaitingStatusChange(
            change_id=change_id, new_status=request.new_status, new_substatus=request.new_substatus, t=t,
            source=source, raw_key=raw_key, raw=raw, extras=request.extras()), group_key=group_key, offset=offset,
            now=now)
    advanced = replace_fields(state, offset=offset, last_t=now, inputs=state.with_input(source))
    if state.group is None:  # spec §14.3: no live group; the dead letter is its outcome (§2.4.10)
        missing = Rejection(Reason.GROUP_NOT_FOUND, f"no live group for key {group_key}", "fingerprint")
        return Decision(Outcome.GROUP_NOT_FOUND, advanced, now, rejection=missing)
    group = state.group
    if is_duplicate(seen, t=t, offset=offset, window_seconds=dedupe_seconds):  # ids share the window (§12.3)
        # Nothing to store; the change records the input's outcome in the ledger (spec §2.4.13).
        return Decision(Outcome.DUPLICATE, advanced, now, changes=(
            InputNoop(outcome=Outcome.DUPLICATE.value, t=now, group_key=group_key, project_id=group.project_id),))
    applied = apply_status_change(group, request, t=now)
    change = _status_outcome(applied, change_id=change_id, group=group, t=now)
    return Decision(applied.outcome, replace_fields(advanced, group=applied.state), now, changes=(change,), record_seen=True)


def _status_outcome(applied: StatusApplied, *, change_id: str, group: GroupState, t: float,
                    coordinates: InputCoordinates | None = None) -> Change:
    """The one change a status change sends (spec §2.4.13): the group and its activities (§14.3.2: never a
    post-process message), or only its outcome when it records nothing (T1, T6b)."""
    if not applied.activities:
        return InputNoop(outcome=applied.outcome.value, t=t, group_key=group.group_key, project_id=group.project_id,
                         input=coordinates)
    return StatusChange(outcome=applied.outcome.value, t=t, group_key=applied.state.group_key,
                        project_id=applied.state.project_id, group=applied.state, cause_id=change_id,
                        activities=_activity_records(change_id, applied.activities, "status_change"),
                        input=coordinates)


def _wait_for_creation(state: KeyState, pending: Pending, change: WaitingStatusChange, *, group_key: str,
                       offset: int, now: float) -> Decision:
    """Hold a status change until the answer: applied right after the creation, in order, or dead-lettered
    `group_not_found` on a refusal (spec §13.2.5 step 5). Its input is recorded as applied only then, so the
    reconciler never takes a held change for a lost one; a copy read again meanwhile is recognised by
    decide_status_change before it gets here."""
    held_bytes = sum(held.stored_bytes() for held in pending.status_changes) + change.stored_bytes()
    if len(pending.status_changes) >= MAX_WAITING_STATUS_CHANGES or held_bytes > MAX_WAITING_STATUS_BYTES:
        too_many = Rejection(Reason.GROUP_NOT_FOUND, f"no live group for key {group_key}: its creation waits for the "
                             f"quota answer, and {len(pending.status_changes)} status changes wait for it already "
                             f"(at most {MAX_WAITING_STATUS_CHANGES}, {MAX_WAITING_STATUS_BYTES} bytes)", "fingerprint")
        # Dead-lettered: that is its outcome, so its input counts as applied (spec §2.4.10).
        advanced = replace_fields(state, offset=offset, last_t=now, inputs=state.with_input(change.source))
        return Decision(Outcome.GROUP_NOT_FOUND, advanced, now, rejection=too_many)
    held = replace_fields(pending, status_changes=(*pending.status_changes, change))
    return Decision(Outcome.STATUS_WAITING, replace_fields(state, offset=offset, last_t=now, pending=held), now)


def _apply_held(group: GroupState, pending: Pending, *, t: float) -> tuple[GroupState, list[Change]]:
    """The status changes held by a creation, applied right after it, in order (spec §13.2.5 step 5): the group
    after them, and a change for each naming its input (no-ops included, spec §2.4.13)."""
    changes: list[Change] = []
    for held in pending.status_changes:
        applied = apply_status_change(group, held.request(), t=t)
        coordinates = held.source.coordinates() if held.source else None
        changes.append(_status_outcome(applied, change_id=held.change_id, group=group, t=t, coordinates=coordinates))
        group = applied.state
    return group, changes


# ------------------------------------------------------------------------------------------ idle keys

# Past the last window a key could matter to, so a message decided just before the sweep looked, or
# slightly out of order in T, never finds its key forgotten.
FORGET_MARGIN_SECONDS = 60.0


def keep_seconds(state: KeyState, *, dedupe_seconds: int, longest_noise_seconds: int) -> float:
    """How long a key without a group must stay untouched before it may be forgotten (design §4).

    Its own noise window and the dedupe window, plus a margin; `longest_noise_seconds` (the longest of
    every registered type) stands in for a state that does not say which windows it was counted in.
    """
    noise = state.noise_seconds if state.noise_seconds is not None else longest_noise_seconds
    return max(noise, dedupe_seconds) + FORGET_MARGIN_SECONDS


def is_idle(state: KeyState, *, now: float, keep: float) -> bool:
    """Nothing of the key needs keeping: no group, no creation in flight, never a deleted group, quiet.

    A key whose group was deleted (generation > 0) is kept for good: its next group must get the next
    generation, never the first one again (spec §2.4.5).
    """
    return (
        state.offset >= 0
        and state.group is None
        and state.pending is None
        and state.generation == 0
        and state.last_t + keep <= now
    )


def decide_forget(state: KeyState, *, key_offset: int, t: float, keep_seconds: float) -> bool:
    """Whether a `forget` message removes the key: still idle, and nothing applied since the sweep looked.

    A message applied after the sweep moved the watermark past `key_offset`; a redelivered forget finds
    no state (offset −1). Either way the key stays as it is.
    """
    return state.offset == key_offset and is_idle(state, now=t, keep=keep_seconds)
