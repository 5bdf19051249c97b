"""One attempt of an automatic ticket (spec §24.5): when the tracker is searched, when it is called, and what the
claim becomes; the claim's storage is replaced by a recorder (tests/integration/test_tracker_auto.py runs it for real)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from storage.tracker_auto import Claim
from streams.core.tracker_auto import claim_id
from streams.timers import tracker_tickets
from streams.trackers import (
    ExternalIssue,
    TrackedEvent,
    TrackedIssue,
    Tracker,
    TrackerAnswerError,
    TrackerTimeout,
)
from streams.trackers.issue_text import marker_line

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
ISSUE = tracker_tickets._Issue(  # what the timer reads from Postgres
    group_key="1:abc", generation=0, event=TrackedEvent("e" * 32),
    tracked=TrackedIssue(group_id=42, project_id=1, title="Boom", url="http://127.0.0.1:6066/issues/42/"))
TICKET = ExternalIssue("acme/web#7", "Boom", "https://github.example/acme/web/issues/7")


class Script(Tracker):
    """A tracker answering from lists: each search or create takes the next answer (an exception is raised)."""

    slug = "scripted"
    title = "Scripted"
    version = "1"
    author = "tests"
    description = "answers from a script"
    searches: ClassVar[list[Any]] = []
    creates: ClassVar[list[Any]] = []
    calls: ClassVar[list[tuple[str, Any]]] = []

    async def create_issue(self, config: Any, issue: TrackedIssue, form: Any, *, request_id: str) -> ExternalIssue:
        self.calls.append(("create", (dict(form), request_id)))
        return _answer(self.creates.pop(0))

    async def find_by_marker(self, config: Any, marker: str, since: datetime) -> ExternalIssue | None:
        self.calls.append(("search", (marker, since)))
        return _answer(self.searches.pop(0))


class Blind(Script):
    """No find_by_marker: an in-doubt ticket cannot be looked for."""

    find_by_marker = Tracker.find_by_marker  # type: ignore[assignment]


def _answer(answer: Any) -> Any:
    if isinstance(answer, BaseException):
        raise answer
    return answer


def claim(*, in_doubt: bool = False, attempts: int = 1) -> Claim:
    return Claim(id=claim_id(42, "scripted"), group_id=42, tracker="scripted", project_id=1, trigger="new",
                 in_doubt=in_doubt, attempts=attempts, created_at=NOW - timedelta(minutes=1), now=NOW,
                 external_id=None, url=None, label=None, title=None)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.lease = True


@pytest.fixture
def storage(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    Script.searches, Script.creates, Script.calls = [], [], []

    class Pool:
        @asynccontextmanager
        async def connection(self) -> AsyncIterator[None]:
            yield None

    async def pool() -> Pool:
        return Pool()

    async def renew_lease(conn: Any, taken: Claim, lease: timedelta) -> bool:
        recorder.events.append(("renew", taken.id))
        return recorder.lease

    async def save_ticket(conn: Any, claim_id: str, **ticket: Any) -> None:
        recorder.events.append(("save", ticket))

    async def finish_claim(conn: Any, taken: Claim, **update: Any) -> bool:
        recorder.events.append(("finish", (update["state"], update["in_doubt"])))
        return True

    async def record(claim: Claim, tracker: Tracker, issue: Any, ticket: ExternalIssue, label: str) -> None:
        recorder.events.append(("record", (ticket.id, label)))

    monkeypatch.setattr(tracker_tickets.postgres, "get", pool)
    monkeypatch.setattr(tracker_tickets, "renew_lease", renew_lease)
    monkeypatch.setattr(tracker_tickets, "save_ticket", save_ticket)
    monkeypatch.setattr(tracker_tickets, "finish_claim", finish_claim)
    monkeypatch.setattr(tracker_tickets, "_record", record)
    monkeypatch.setattr(tracker_tickets, "after_call", lambda: recorder.events.append(("after_call", None)))
    return recorder


async def attempt(cls: type[Tracker], taken: Claim) -> None:
    await tracker_tickets._call(taken, cls(), {}, ISSUE)


async def test_a_create_carries_the_claim_id_and_its_marker_and_is_recorded(storage: Recorder) -> None:
    Script.creates = [TICKET]
    await attempt(Script, claim())
    ((kind, (form, request_id)),) = Script.calls
    assert kind == "create" and request_id == claim_id(42, "scripted")
    assert form["title"] == "Boom" and form["description"].splitlines()[-1] == marker_line(request_id)
    assert [event for event, _ in storage.events] == ["renew", "after_call", "save", "record"]
    assert storage.events[-1] == ("record", ("acme/web#7", "#acme/web#7"))


@pytest.mark.parametrize(("failure", "in_doubt"), [
    (TrackerAnswerError("scripted", "422", status=422, in_doubt=False), False),  # proves nothing: plain retry
    (TrackerTimeout("scripted", "timeout", in_doubt=True), True),  # may exist: the retry searches first
])
async def test_a_failed_create_is_retried_searching_first_when_it_may_have_made_the_ticket(
    storage: Recorder, failure: Exception, in_doubt: bool
) -> None:
    Script.creates = [failure]
    await attempt(Script, claim())
    assert storage.events[-1] == ("finish", ("pending", in_doubt))


async def test_in_doubt_a_found_ticket_is_adopted_without_a_create(storage: Recorder) -> None:
    Script.searches = [TICKET]
    await attempt(Script, claim(in_doubt=True))
    ((kind, (marker, since)),) = Script.calls
    assert (kind, marker) == ("search", claim_id(42, "scripted")) and since < NOW - timedelta(minutes=1)
    assert [event for event, _ in storage.events] == ["save", "record"]


async def test_in_doubt_nothing_found_creates_and_a_4xx_then_clears_the_doubt(storage: Recorder) -> None:
    Script.searches = [None]
    Script.creates = [TrackerAnswerError("scripted", "422", status=422, in_doubt=False)]
    await attempt(Script, claim(in_doubt=True))
    assert [kind for kind, _ in Script.calls] == ["search", "create"]
    assert storage.events[-1] == ("finish", ("pending", False))


async def test_a_failed_search_keeps_the_doubt_whatever_its_status(storage: Recorder) -> None:
    Script.searches = [TrackerAnswerError("scripted", "404", status=404, in_doubt=False)]
    await attempt(Script, claim(in_doubt=True))
    assert [kind for kind, _ in Script.calls] == ["search"]
    assert storage.events == [("finish", ("pending", True))]


async def test_a_tracker_that_cannot_search_leaves_an_in_doubt_claim_to_a_person(storage: Recorder) -> None:
    await attempt(Blind, claim(in_doubt=True))
    assert Script.calls == []
    assert storage.events == [("finish", ("in_doubt", True))]


async def test_a_claim_taken_over_meanwhile_is_not_called(storage: Recorder) -> None:
    storage.lease = False
    Script.creates = [TICKET]
    await attempt(Script, claim())
    assert Script.calls == [] and [event for event, _ in storage.events] == ["renew"]
