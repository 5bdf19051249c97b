"""Automatic tickets (spec §24.5), the pure decisions: which activity asks for a ticket, the claim id, the retries."""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from grouptypes.priority import PriorityLevel
from streams.core.enums import ActivityType
from streams.core.payload import ID_NAMESPACE

AUTO_ACTOR = "auto"  # spec §24.5: the actor of an automatic ticket's activity
# spec §24.5 `auto_create.on`: the activity that makes an issue new, a regression, or escalating (§8.6).
TRIGGERS: dict[int, str] = {
    ActivityType.FIRST_SEEN: "new",
    ActivityType.SET_REGRESSION: "regression",
    ActivityType.SET_ESCALATING: "escalating",
}
FIRST_RETRY = timedelta(seconds=1)  # spec §24.5: 1 s doubling to 10 min, for up to 24 h
MAX_RETRY = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(hours=24)

PENDING, CALLING, DONE, FAILED, IN_DOUBT = "pending", "calling", "done", "failed", "in_doubt"


def claim_id(group_id: int, tracker: str) -> str:
    """`uuid5(NAMESPACE, "{group_id}:{tracker}")` (spec §24.5), as 32 hex: the request id of §24.4, the webhook's
    delivery id and the marker in the ticket's body. The same for every worker and every redelivery."""
    return uuid.uuid5(ID_NAMESPACE, f"{group_id}:{tracker}").hex


def trigger_of(activity: Mapping[str, Any]) -> str | None:
    """`new`, `regression` or `escalating` for an activity message (§18.2) that can ask for a ticket, else None."""
    kind = activity.get("type")
    return TRIGGERS.get(kind) if isinstance(kind, int) and not isinstance(kind, bool) else None


def matching_trigger(auto_create: Mapping[str, Any] | None, activity: Mapping[str, Any]) -> str | None:
    """The trigger under which `activity` asks the tracker whose `auto_create` this is for a ticket, or None.

    It asks when its trigger is in `on`, the group's priority after it is at least `min_priority`, and the
    group's type is among `types` (null: every type). A message without `type_id` matches only `types: null`.
    """
    if not auto_create:
        return None
    trigger = trigger_of(activity)
    if trigger is None or trigger not in (auto_create.get("on") or ()):
        return None
    priority = activity.get("priority")
    minimum = str(auto_create.get("min_priority") or "").upper()
    if minimum not in PriorityLevel.__members__ or not isinstance(priority, int) or isinstance(priority, bool):
        return None
    if priority < PriorityLevel[minimum]:
        return None
    types = auto_create.get("types")
    if types is not None and activity.get("type_id") not in types:
        return None
    return trigger


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed call: 1 s, 2 s, 4 s, … at most 10 minutes."""
    if attempts <= 1:
        return FIRST_RETRY
    # Capped before the power grows: 2**40 seconds is no delay anyone waits for.
    return min(FIRST_RETRY * (2 ** min(attempts - 1, 20)), MAX_RETRY)


@dataclass(frozen=True)
class ClaimUpdate:
    """What becomes of a claim after an attempt that made no ticket: its state, its next attempt, whether an
    earlier call may have made the ticket (then the next attempt searches for the marker first), and why."""

    state: str
    next_attempt_at: datetime
    in_doubt: bool


def after_failure(*, attempts: int, created_at: datetime, now: datetime, in_doubt: bool, can_search: bool) -> ClaimUpdate:
    """After a failed attempt (spec §24.5).

    A failure that proves nothing was created (no connection, a 4xx) is retried with backoff; so is an in-doubt one
    (a timeout, a 5xx, a crash mid-call) when the tracker can search its tickets for the marker, the retry searching
    first. Without that search an in-doubt claim is left `in_doubt` for a person: a second call could make a second
    ticket. After 24 h of retries the claim is `failed`, or `in_doubt` if the ticket may exist.
    """
    if in_doubt and not can_search:
        return ClaimUpdate(IN_DOUBT, now, True)
    next_attempt_at = now + retry_delay(attempts)
    if next_attempt_at - created_at > GIVE_UP_AFTER:
        return ClaimUpdate(IN_DOUBT if in_doubt else FAILED, now, in_doubt)
    return ClaimUpdate(PENDING, next_attempt_at, in_doubt)
