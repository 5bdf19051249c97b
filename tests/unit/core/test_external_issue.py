"""The owner's decision for an `external_issue` message, its change on the wire, and the sink's link rows (§24.4)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from storage.changes import ExternalIssueChange, ExternalLink, change_from_wire
from storage.external_issues import link_writes
from streams.core.decide import activity_id
from streams.core.enums import ActivityType
from streams.core.group_state import KeyState, SeenRecord
from streams.core.grouping import Outcome
from streams.core.mutations import decide_external_issue
from streams.core.tracker_records import tracker_used_record
from tests.unit.core.test_decide import KEY, created_state

T = 5_000.0
REQUEST = "e" * 32
LINK = ExternalLink(action="create", tracker="github", external_id="acme/web#7", url="https://github.com/acme/web/issues/7",
                    label="GH-7", title="Boom", actor="api")


def external(state: KeyState, link: ExternalLink = LINK, *, offset: int = 10, generation: int = 0,
             seen: SeenRecord | None = None, t: float = T):
    return decide_external_issue(state, change_id=REQUEST, link=link, provider="GitHub", generation=generation,
                                 group_key=KEY, offset=offset, t=t, seen=seen, dedupe_seconds=3600)


def test_a_create_records_a_create_issue_activity_and_leaves_the_group_as_it_is() -> None:  # §24.4, §8.6 row 7
    state = created_state()
    decision = external(state)
    assert decision.outcome is Outcome.APPLIED and decision.state.group == state.group
    (change,) = decision.changes
    assert isinstance(change, ExternalIssueChange)
    assert change.group == state.group and change.api_change == REQUEST and change.external == LINK
    (activity,) = change.activities
    assert activity.type == ActivityType.CREATE_ISSUE == 7 and activity.id == activity_id(REQUEST, 0)
    assert activity.data == {"title": "Boom", "provider": "GitHub", "location": "https://github.com/acme/web/issues/7",
                             "label": "GH-7"}
    assert activity.actor == "api" and decision.record_seen


def test_an_unlink_records_no_activity() -> None:
    unlink = ExternalLink(**{**LINK.to_wire(), "action": "unlink"})
    (change,) = external(created_state(), unlink).changes
    assert isinstance(change, ExternalIssueChange) and change.activities == ()


def test_a_message_for_a_deleted_group_is_dropped_and_counted() -> None:  # §24.4, §2.4.5
    decision = external(created_state(), generation=1)
    assert decision.outcome is Outcome.GROUP_NOT_FOUND
    assert [(c.outcome, c.api_change) for c in decision.changes] == [("group_not_found", REQUEST)]


def test_a_message_sent_twice_is_applied_once() -> None:  # §2.4, §12.3
    first = external(created_state())
    again = external(first.state, offset=11, seen=SeenRecord(t=first.t, offset=10), t=T + 1)
    assert again.outcome is Outcome.DUPLICATE and all(not isinstance(c, ExternalIssueChange) for c in again.changes)


def test_the_change_reads_back_from_its_wire_form() -> None:
    (change,) = external(created_state()).changes
    assert change_from_wire(change.to_wire()) == change


@dataclass
class _Persisted:
    id: int


def test_the_sink_keeps_the_last_action_per_group_and_tracker() -> None:  # §24.3: one per tracker
    (create,) = external(created_state()).changes
    unlink_link = ExternalLink(**{**LINK.to_wire(), "action": "unlink"})
    (unlink,) = external(created_state(), unlink_link).changes
    persisted: dict[Any, _Persisted] = {create.identity: _Persisted(41)}
    assert link_writes([create, unlink], persisted) == {(41, "github"): None}
    writes = link_writes([unlink, create], persisted)
    row = writes[(41, "github")]
    assert row is not None and row[:9] == (41, create.project_id, "github", "acme/web#7", LINK.url, "GH-7", "Boom",
                                           "api", REQUEST)
    assert link_writes([], persisted) == {}


def test_the_analytics_record_is_keyed_by_the_request_id() -> None:  # §24.4, §2.1
    (change,) = external(created_state()).changes
    assert isinstance(change, ExternalIssueChange)
    record = tracker_used_record(change, 41)
    assert record == {"id": REQUEST, "type": "issue_tracker.used", "tracker": "github", "action": "create",
                      "project_id": change.project_id, "group_id": 41, "actor": "api",
                      "datetime": "1970-01-01T01:23:20.000000Z"}


def test_an_automatic_ticket_is_an_activity_of_actor_and_source_auto() -> None:  # spec §24.5, §24.6
    decision = external(created_state(), replace(LINK, actor="auto"))
    (change,) = decision.changes
    (activity,) = change.activities
    assert (activity.actor, activity.source) == ("auto", "auto")
    (person,) = external(created_state()).changes[0].activities
    assert (person.actor, person.source) == ("api", "api")
