"""Timer `tracker_tickets`: makes the automatic tickets the `trackers` agent claimed (spec §24.5), on every worker.

Each tick takes due claims one at a time (storage.tracker_auto.take_due_claim: `FOR UPDATE SKIP LOCKED`, marked
`calling` with a lease and committed before any call), and for each:
- if an earlier call may have made the ticket (it failed in doubt, or its worker died mid-call: the claim was
  found `calling`), asks the tracker's `find_by_marker` first and adopts what it finds;
- else creates the ticket with the default fields (§24.1), the claim id as the request (delivery) id and as a
  marker line in the body;
- keeps the ticket on the claim, then records it exactly as the API does (§24.4): an `external_issue` message to
  the grouping topic under the claim id as request id, actor `auto`; then marks the claim `done`.
A failure that proves nothing was made is retried with backoff; an in-doubt one searches on its next attempt, or
is left `in_doubt` for a person when the tracker cannot search (streams.core.tracker_auto.after_failure).
Nothing here runs in an agent: a slow tracker delays only this timer.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection

from storage import queries
from storage.errors import is_transient
from storage.tracker_auto import (
    Claim,
    finish_claim,
    renew_lease,
    save_ticket,
    take_due_claim,
)
from storage.tracker_configs import read_tracker_config
from streams.app import settings
from streams.core.messages import encode
from streams.core.tracker_auto import AUTO_ACTOR, DONE, FAILED, IN_DOUBT, after_failure
from streams.core.tracker_records import external_issue_message
from streams.metrics import count_tracker_action
from streams.outbox import Outbox
from streams.services import postgres, trackers
from streams.topics import grouping_topic
from streams.trackers import (
    ExternalIssue,
    InvalidForm,
    TrackedEvent,
    TrackedIssue,
    Tracker,
    TrackerCallError,
)
from streams.trackers.fields import form_errors
from streams.trackers.http_client import CALL_TIMEOUT_SECONDS
from streams.trackers.issue import event_tags
from streams.trackers.issue_text import with_marker

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # the first retry of §24.5 is after 1 s
CLAIMS_PER_TICK = 20
# How long a call may be under way: the create's whole timeout with room to spare. A claim still `calling` after
# that was left by a dead worker; another takes it over, in doubt. It must never run out during a live call, or
# the take-over's search could miss a ticket that call is still making.
CALL_LEASE = timedelta(seconds=3 * CALL_TIMEOUT_SECONDS)
# The marker is searched among tickets changed since the claim was made, less this for clocks that disagree.
SEARCH_MARGIN = timedelta(minutes=10)


# Test only: streams.worker.guard points this at the kill point `trackers.after_call` (timers import no agent).
after_call: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class _Issue:
    group_key: str
    generation: int
    tracked: TrackedIssue
    event: TrackedEvent


async def make_auto_tickets() -> None:
    """One tick: work due claims until none is left or CLAIMS_PER_TICK were worked."""
    for _ in range(CLAIMS_PER_TICK):
        try:
            pool = await postgres.get()
            async with pool.connection() as conn:
                claim = await take_due_claim(conn, CALL_LEASE)
        except Exception as error:  # noqa: BLE001  # the next tick tries again; nothing was taken
            log.warning("trackers: taking a due claim failed%s: %s", "" if is_transient(error) else " (bug?)", error)
            return
        if claim is None:
            return
        try:
            await work_claim(claim)
        except Exception as error:  # the claim stays `calling`: taken over in doubt after its lease
            log.warning("trackers: the automatic %s ticket of group %s: %s; retried in doubt after %s", claim.tracker,
                        claim.group_id, error, CALL_LEASE, exc_info=not is_transient(error))


async def work_claim(claim: Claim) -> None:
    cls = trackers.get(claim.tracker)
    pool = await postgres.get()
    async with pool.connection() as conn:
        row = await read_tracker_config(conn, claim.project_id, claim.tracker)
        issue = await _issue(conn, claim.group_id)
    config = {} if row is None else row.config
    tracker = cls() if cls is not None else None
    if tracker is None or not tracker.implements("create") or "create" not in tracker.allowed_actions:
        return await _give_up(claim, f"no tracker {claim.tracker} that creates tickets")
    if row is None or not await tracker.is_configured(config):
        return await _give_up(claim, f"the {claim.tracker} tracker is no longer configured for the project")
    if issue is None:
        return await _give_up(claim, "the issue no longer exists")
    if claim.external_id is not None and claim.label is not None:  # made earlier, not recorded yet
        await _record(claim, tracker, issue, ExternalIssue(claim.external_id, claim.title, claim.url), claim.label)
        return
    async with tracker.http:
        await _call(claim, tracker, config, issue)


async def _call(claim: Claim, tracker: Tracker, config: dict[str, Any], issue: _Issue) -> None:
    doubt = claim.in_doubt  # whether an earlier call may have made the ticket
    calling = False
    try:
        found: ExternalIssue | None = None
        if doubt:
            if not tracker.can_find_by_marker():
                return await _retry(claim, tracker, "the ticket may exist and the tracker cannot search for it",
                                    in_doubt=True)
            found = await tracker.find_by_marker(config, claim.id, claim.created_at - SEARCH_MARGIN)
            doubt = found is not None  # searched and not there: no earlier call made it
        if found is not None:
            log.info("trackers: adopted %s ticket %s of group %s (found by its marker)", tracker.slug, found.id,
                     claim.group_id)
            external, title = found, found.title
        else:
            fields = await tracker.new_issue_fields(issue.tracked, issue.event)
            form: dict[str, Any] = {field.name: field.default for field in fields if field.default is not None}
            form["description"] = with_marker(str(form.get("description") or ""), claim.id)
            errors = form_errors(fields, form)
            if errors:
                raise InvalidForm(errors)
            pool = await postgres.get()
            async with pool.connection() as conn:
                renewed = await renew_lease(conn, claim, CALL_LEASE)
            if not renewed:
                log.warning("trackers: the claim of group %s was taken over; not calling", claim.group_id)
                return
            calling = True  # from here a failure may have left a ticket behind, unless it proves otherwise
            external = await tracker.create_issue(config, issue.tracked, form, request_id=claim.id)
            after_call()  # test only: the ticket exists, nothing knows it yet (§24.5)
            title = external.title or form.get("title")
        url = await tracker.issue_url(config, external)
        label = await tracker.issue_label(external)
    except InvalidForm as error:
        return await _retry(claim, tracker, f"invalid: {error}", in_doubt=doubt)
    except TrackerCallError as error:
        count_tracker_action(tracker.slug, "create", error.code)
        # A failed search leaves the doubt as it was; a failed create says itself whether it may have made one.
        return await _retry(claim, tracker, error.message, in_doubt=error.in_doubt if calling else doubt)
    ticket = ExternalIssue(external.id, title, url)
    pool = await postgres.get()
    async with pool.connection() as conn:
        await save_ticket(conn, claim.id, external_id=ticket.id, url=url, label=label, title=title)
    await _record(claim, tracker, issue, ticket, label)


async def _record(claim: Claim, tracker: Tracker, issue: _Issue, ticket: ExternalIssue, label: str) -> None:
    """Through the stream, as the API records a ticket (spec §24.4), under the claim id: the owner applies it once
    whatever the retries."""
    message = external_issue_message(
        request_id=claim.id, generation=issue.generation, t=time.time(), group_id=claim.group_id,
        provider=tracker.title, action="create", tracker=tracker.slug, external_id=ticket.id, url=ticket.url,
        label=label, title=ticket.title, actor=AUTO_ACTOR)
    outbox = Outbox()
    outbox.add(grouping_topic, issue.group_key, encode(message), timestamp=message["t"])
    await outbox.send()
    pool = await postgres.get()
    async with pool.connection() as conn:
        await finish_claim(conn, claim, state=DONE)
    count_tracker_action(tracker.slug, "create", "ok")
    log.info("trackers: automatic %s ticket %s (%s) of group %s recorded", tracker.slug, ticket.id, label,
             claim.group_id)


async def _retry(claim: Claim, tracker: Tracker, error: str, *, in_doubt: bool) -> None:
    update = after_failure(attempts=claim.attempts, created_at=claim.created_at, now=claim.now, in_doubt=in_doubt,
                           can_search=tracker.can_find_by_marker())
    pool = await postgres.get()
    async with pool.connection() as conn:
        await finish_claim(conn, claim, state=update.state, next_attempt_at=update.next_attempt_at,
                           in_doubt=update.in_doubt, error=error)
    log.warning("trackers: the automatic %s ticket of group %s, attempt %d: %s; now %s%s", tracker.slug,
                claim.group_id, claim.attempts, error, update.state,
                f" (next attempt at {update.next_attempt_at:%H:%M:%S}"
                f"{', searching for the ticket first' if update.in_doubt else ''})" if update.state == "pending" else "")


async def _give_up(claim: Claim, error: str) -> None:
    pool = await postgres.get()
    async with pool.connection() as conn:
        await finish_claim(conn, claim, state=IN_DOUBT if claim.in_doubt else FAILED, in_doubt=claim.in_doubt,
                           error=error)
    log.warning("trackers: the automatic %s ticket of group %s failed: %s", claim.tracker, claim.group_id, error)


async def _issue(conn: AsyncConnection[Any], group_id: int) -> _Issue | None:
    """What the ticket is made from, as the API's create form has it by default (§24.1); None once deleted."""
    row = await queries.group_by_id(conn, group_id)
    targets = await queries.target_rows(conn, [group_id])
    if row is None or not targets:
        return None
    latest = await queries.latest_occurrence(conn, group_id)
    data = await queries.event_data(conn, row.project_id, latest.event_id) if latest is not None else None
    tracked = TrackedIssue(group_id=row.id, project_id=row.project_id, title=row.title,
                           url=f"http://{settings.web_host}:{settings.web_port}/issues/{row.id}/", culprit=row.culprit,
                           evidence=tuple(latest.evidence_display) if latest is not None else ())
    event = TrackedEvent(event_id=latest.event_id if latest is not None else "",
                         tags=event_tags(data.get("tags")) if data is not None else ())
    return _Issue(targets[0].group_key, targets[0].generation, tracked, event)
