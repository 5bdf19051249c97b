"""Claims of automatic tickets (`tracker_auto`, spec §24.5): inserted by the `trackers` agent, worked by a timer.

A claim is the promise "this group gets at most one automatic ticket from this tracker". Only an INSERT that
creates the row proceeds; the row is never deleted, so neither a redelivered activity nor a later regression of
the same group after an unlink makes a second ticket. The timer takes one due claim at a time (`FOR UPDATE SKIP
LOCKED`, so every worker can run it), marks it `calling` with a lease and commits before it calls the tracker:
no lock is held during the call, and a claim still `calling` once its lease ran out was left by a worker that
died mid-call, so the ticket may exist (in doubt).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection


@dataclass(frozen=True)
class AutoCreateConfig:
    tracker: str
    config: dict[str, Any]  # secrets in clear (§24.3.1): never logged
    auto_create: dict[str, Any]


async def auto_create_configs_of(conn: AsyncConnection[Any],
                                 project_ids: list[int]) -> dict[int, list[AutoCreateConfig]]:
    """project id → its tracker configs that ask for automatic tickets, for a batch of activities at once."""
    cursor = await conn.execute(
        "SELECT project_id, tracker, config, auto_create FROM tracker_configs"
        " WHERE project_id = ANY(%s) AND auto_create IS NOT NULL ORDER BY project_id, tracker", (project_ids,))
    configs: dict[int, list[AutoCreateConfig]] = {}
    for project_id, tracker, config, auto_create in await cursor.fetchall():
        configs.setdefault(int(project_id), []).append(AutoCreateConfig(tracker, config, auto_create))
    return configs


async def insert_claim(
    conn: AsyncConnection[Any], *, claim_id: str, group_id: int, project_id: int, tracker: str, trigger: str,
    cause_id: str,
) -> bool:
    """Claim the group's automatic ticket of `tracker`; True only for the one insert that made the row. A group
    that already has a ticket of this tracker (created or linked by a person) gets no claim (spec §24.5)."""
    cursor = await conn.execute(
        "INSERT INTO tracker_auto (group_id, tracker, id, project_id, trigger, cause_id)"
        " SELECT %s, %s, %s, %s, %s, %s WHERE NOT EXISTS"
        " (SELECT 1 FROM external_issues WHERE group_id = %s AND tracker = %s)"
        " ON CONFLICT DO NOTHING",
        (group_id, tracker, claim_id, project_id, trigger, cause_id, group_id, tracker))
    return cursor.rowcount == 1


@dataclass(frozen=True)
class Claim:
    """A claim taken by this worker for one attempt. `in_doubt`: an earlier call may have made the ticket (it
    failed in doubt, or its worker died mid-call), so the attempt searches for the marker before any create.
    `external_id` is set once a call made the ticket: the attempt only records it."""

    id: str
    group_id: int
    tracker: str
    project_id: int
    trigger: str
    in_doubt: bool
    attempts: int
    created_at: datetime
    now: datetime
    external_id: str | None
    url: str | None
    label: str | None
    title: str | None


_CLAIM_COLUMNS = ("t.id, t.group_id, t.tracker, t.project_id, t.trigger, t.in_doubt, t.attempts, t.created_at, now(),"
                  " t.external_id, t.url, t.label, t.title")


async def take_due_claim(conn: AsyncConnection[Any], lease: timedelta) -> Claim | None:
    """The most overdue claim no other worker holds, marked `calling` until `lease` from now (committed by the
    caller before the tracker is called). A claim found `calling` is in doubt from now on."""
    cursor = await conn.execute(
        "WITH due AS (SELECT group_id, tracker, state FROM tracker_auto"
        " WHERE state IN ('pending', 'calling') AND next_attempt_at <= now()"
        " ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " UPDATE tracker_auto t SET state = 'calling', attempts = t.attempts + 1,"
        " in_doubt = t.in_doubt OR due.state = 'calling', next_attempt_at = now() + %s, updated_at = now()"
        f" FROM due WHERE t.group_id = due.group_id AND t.tracker = due.tracker RETURNING {_CLAIM_COLUMNS}",
        (lease,))
    row = await cursor.fetchone()
    return None if row is None else Claim(*row)


async def renew_lease(conn: AsyncConnection[Any], claim: Claim, lease: timedelta) -> bool:
    """Extend the claim's lease right before a create; False if it is no longer ours to call: another worker took
    it over once the lease ran out (during a long search), which `attempts`, raised by every take, tells."""
    cursor = await conn.execute(
        "UPDATE tracker_auto SET next_attempt_at = now() + %s, updated_at = now()"
        " WHERE id = %s AND state = 'calling' AND attempts = %s", (lease, claim.id, claim.attempts))
    return cursor.rowcount == 1


async def save_ticket(
    conn: AsyncConnection[Any], claim_id: str, *, external_id: str, url: str | None, label: str, title: str | None
) -> None:
    """The ticket a call made or a search found, kept on the claim before it is recorded through the stream: a
    worker that dies before recording leaves it for the next attempt, which then only records it."""
    await conn.execute(
        "UPDATE tracker_auto SET external_id = %s, url = %s, label = %s, title = %s, in_doubt = false,"
        " last_error = NULL, updated_at = now() WHERE id = %s",
        (external_id, url, label, title, claim_id))


async def finish_claim(
    conn: AsyncConnection[Any], claim: Claim, *, state: str, next_attempt_at: datetime | None = None,
    in_doubt: bool = False, error: str | None = None,
) -> bool:
    """End the attempt: `done`, or back to `pending` for a retry at `next_attempt_at`, or `failed` / `in_doubt`
    for a person. Only while the claim is still this attempt's (`calling`, same `attempts`): a worker whose lease
    ran out must not undo what the worker that took the claim over did."""
    cursor = await conn.execute(
        "UPDATE tracker_auto SET state = %s, next_attempt_at = coalesce(%s, next_attempt_at), in_doubt = %s,"
        " last_error = coalesce(%s, last_error), updated_at = now()"
        " WHERE id = %s AND state = 'calling' AND attempts = %s",
        (state, next_attempt_at, in_doubt, error, claim.id, claim.attempts))
    return cursor.rowcount == 1


@dataclass(frozen=True)
class FailedClaim:
    id: str
    group_id: int
    project_id: int
    tracker: str
    state: str
    trigger: str
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "group_id": self.group_id, "project_id": self.project_id, "tracker": self.tracker,
                "state": self.state, "trigger": self.trigger, "attempts": self.attempts, "last_error": self.last_error,
                "created_at": self.created_at, "updated_at": self.updated_at}


async def failed_claims(conn: AsyncConnection[Any], limit: int) -> list[FailedClaim]:
    """The claims waiting for a person (spec §24.5): `failed` and `in_doubt`, the latest first."""
    cursor = await conn.execute(
        "SELECT id, group_id, project_id, tracker, state, trigger, attempts, last_error, created_at, updated_at"
        " FROM tracker_auto WHERE state IN ('failed', 'in_doubt') ORDER BY updated_at DESC, id LIMIT %s", (limit,))
    return [FailedClaim(*row) for row in await cursor.fetchall()]
