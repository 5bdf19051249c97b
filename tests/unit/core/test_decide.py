"""The owner's decisions for one key: redelivery, dedupe, noise gate, quota protocol (spec §12.2, §13)."""
from __future__ import annotations

from dataclasses import replace

import orjson

from storage.changes import (
    CountedDrop,
    CreationLink,
    GrouplessOccurrence,
    InputNoop,
    QuotaRefusal,
    StatusChange,
)
from streams.core.decide import (
    Decision,
    IncomingOccurrence,
    decide_occurrence,
    decide_quota_answer,
    decide_status_change,
)
from streams.core.group_state import (
    MAX_WAITING_IDS,
    MAX_WAITING_STATUS_BYTES,
    MAX_WAITING_STATUS_CHANGES,
    InputOffset,
    KeyState,
    SeenRecord,
    TypeRules,
)
from streams.core.grouping import MAX_GROUP_ENVIRONMENTS, OccurrenceFacts, Outcome
from streams.core.noise import NoiseState, count_in_window
from streams.core.postprocess import waiter_entries
from streams.core.status import StatusRequest

KEY = "1:" + "b" * 32
NO_NOISE = TypeRules(type_id=2001, default_priority=25)
NOISE_3 = TypeRules(type_id=1008, default_priority=25, noise_limit=3, noise_seconds=3600)
DEDUPE = 3600


def facts(n: int, *, type_id: int = 2001, environment: str = "production") -> OccurrenceFacts:
    return OccurrenceFacts(
        id=f"{n:032x}", project_id=1, type_id=type_id, title="Title", subtitle=f"sub {n}", culprit="c",
        level=20, event_id="e" * 32, event_timestamp=1_000.0 + n, platform="python", environment=environment,
        priority=None, assignee=None,
    )


def incoming(n: int, **kwargs: object) -> IncomingOccurrence:
    occurrence_facts = facts(n, **kwargs)  # type: ignore[arg-type]
    return IncomingOccurrence(occurrence_facts, {"id": occurrence_facts.id, "evidence_data": {"big": 1}}, None)


def occur(state: KeyState, n: int, offset: int, *, t: float | None = None, rules: TypeRules = NO_NOISE,
          noise: NoiseState | None = None, seen: SeenRecord | None = None, **kwargs: object):
    return decide_occurrence(state, incoming(n, **kwargs), group_key=KEY, offset=offset,
                             t=t if t is not None else 2_000.0 + offset, rules=rules, noise_before=noise, seen=seen,
                             dedupe_seconds=DEDUPE)


def grant(state: KeyState, request_id: str, offset: int, *, granted: bool = True, rules: TypeRules = NO_NOISE):
    return decide_quota_answer(state, request_id=request_id, granted=granted, group_key=KEY, offset=offset,
                               t=3_000.0 + offset, rules=rules)


def created_state() -> KeyState:
    first = occur(KeyState(), 1, 0)
    return grant(first.state, facts(1).id, 1).state


def test_a_new_key_without_noise_asks_the_quota_first() -> None:  # spec §13.2.5 step 1
    decision = occur(KeyState(), 1, 0)
    assert decision.outcome is Outcome.PENDING_QUOTA
    assert decision.quota_request is not None and decision.quota_request.request_id == facts(1).id
    assert decision.count_noise is None  # spec §13.1.2: no noise config, no noise table
    assert decision.state.pending is not None and decision.state.group is None
    (change,) = decision.changes
    assert isinstance(change, GrouplessOccurrence)
    assert (change.outcome, change.occurrence["id"]) == ("pending_quota", facts(1).id)


def test_a_grant_creates_the_group_and_links_the_waiting_occurrences() -> None:  # spec §13.2.5 steps 3–4
    state = occur(KeyState(), 1, 0).state
    waiting = occur(state, 2, 1)
    assert waiting.outcome is Outcome.PENDING_QUOTA and waiting.quota_request is None  # one request per key
    decision = grant(waiting.state, facts(1).id, 2)
    assert decision.outcome is Outcome.CREATED
    group = decision.state.group
    assert group is not None and group.times_seen == 2 and decision.state.pending is None
    (change,) = decision.changes
    assert change.link == CreationLink(window=None, ids=(facts(1).id, facts(2).id), creator_id=facts(1).id,
                                       request_id=facts(1).id)
    assert change.post_process is None  # built by the sink from the waiters' own changes (spec §2.4.11)
    assert [a.type for a in change.activities] == [9]  # FIRST_SEEN
    waiters = [c for d in (occur(KeyState(), 1, 0), waiting) for c in d.changes]
    assert all(isinstance(c, GrouplessOccurrence) and c.request_id == facts(1).id for c in waiters)
    entries = waiter_entries(group.times_seen, [c.post_process_facts() for c in waiters])  # type: ignore[union-attr]
    assert [(e["times_seen"], e["is_new"], e["occurrence"]["id"]) for e in entries] == [
        (1, True, facts(1).id), (2, False, facts(2).id)]
    assert all("evidence_data" not in e["occurrence"] for e in entries)
    assert [e["event_timestamp"] for e in entries] == [1_001.0, 1_002.0]


def test_ten_thousand_waiters_keep_the_pending_state_small() -> None:  # spec §2.4.11
    state = occur(KeyState(), 1, 0).state
    for n in range(2, 10_002):
        state = occur(state, n, n - 1, environment=f"env-{n % 3}").state
    pending = state.pending
    assert pending is not None
    assert (pending.times_seen, pending.waiting_count, len(pending.waiting_ids)) == (10_001, 10_001, MAX_WAITING_IDS)
    assert pending.waiting_ids[0] == facts(1).id  # the creator first
    assert len(orjson.dumps(state.to_dict())) < 64 * 1024
    assert KeyState.from_dict(orjson.loads(orjson.dumps(state.to_dict()))) == state
    # Every waiter past the bound still names its request: the sink links or refuses it with the others.
    last = occur(state, 10_002, 10_001)
    (change,) = last.changes
    assert isinstance(change, GrouplessOccurrence) and change.request_id == facts(1).id
    created = grant(last.state, facts(1).id, 10_002)
    assert created.state.group is not None and created.state.group.times_seen == 10_002
    refused = grant(last.state, facts(1).id, 10_002, granted=False)
    (refusal,) = refused.changes
    assert isinstance(refusal, QuotaRefusal) and refusal.request_id == facts(1).id


def test_a_pending_state_of_the_version_before_loses_its_unbounded_forwards() -> None:  # spec §2.4.11
    state = occur(occur(KeyState(), 1, 0).state, 2, 1).state
    stored = state.to_dict()
    del stored["pending"]["waiting_count"]
    stored["pending"]["forwards"] = [{"occurrence": {"id": facts(1).id}}, {"occurrence": {"id": facts(2).id}}]
    assert KeyState.from_dict(stored) == state


def test_a_refusal_refuses_the_request_and_what_waited_then_the_next_one_asks_again() -> None:  # §13.2.5
    state = occur(occur(KeyState(), 1, 0).state, 2, 1).state
    refused = grant(state, facts(1).id, 2, granted=False)
    assert refused.outcome is Outcome.QUOTA_REFUSED and refused.state.pending is None
    (change,) = refused.changes
    assert isinstance(change, QuotaRefusal) and change.ids == (facts(1).id, facts(2).id)
    again = occur(refused.state, 3, 3)
    assert again.quota_request is not None and again.quota_request.request_id == facts(3).id


def test_an_answer_for_another_request_is_ignored() -> None:  # spec §13.2.5 step 4
    state = occur(KeyState(), 1, 0).state
    decision = grant(state, "not-the-pending-one", 1)
    assert decision.outcome is Outcome.IGNORED_ANSWER and decision.state.pending == state.pending


def test_an_existing_group_is_updated_without_the_quota() -> None:  # spec §13.2.5: only would-be new groups
    decision = occur(created_state(), 2, 5)
    assert decision.outcome is Outcome.APPLIED and decision.quota_request is None
    assert decision.state.group is not None and decision.state.group.times_seen == 2
    assert decision.record_seen


def test_a_redelivered_earlier_offset_has_no_effect() -> None:  # spec §2.3.2
    state = occur(created_state(), 2, 5).state
    decision = occur(state, 2, 1)
    assert decision.outcome is Outcome.REDELIVERED and decision.state == state and not decision.changes


def test_the_last_message_of_a_key_read_again_is_skipped_without_outputs() -> None:  # spec §2.3.2, §2.4.6
    # Its state was written only once its outputs were acknowledged: nothing is left to send again.
    applied = occur(created_state(), 2, 5)
    again = occur(applied.state, 2, 5)
    assert again.outcome is Outcome.REDELIVERED and again.state == applied.state
    assert again.changes == () and again.quota_request is None


def test_deciding_a_message_again_from_the_same_state_gives_the_same_decision() -> None:  # spec §2.4.7.1
    # A crash between the acknowledged outputs and the state write: the message is decided again.
    pending = occur(KeyState(), 1, 0)
    assert occur(KeyState(), 1, 0) == pending
    created = grant(pending.state, facts(1).id, 1)
    assert grant(pending.state, facts(1).id, 1) == created
    resolve = dict(change_id="c", request=StatusRequest(1, None), group_key=KEY, offset=2, t=9_000.0,
                   seen=None, dedupe_seconds=DEDUPE)
    assert decide_status_change(created.state, **resolve) == decide_status_change(created.state, **resolve)


def test_the_key_state_keeps_no_outputs() -> None:  # issue 11 item 6: no replay payloads in state
    applied = occur(created_state(), 2, 5)
    assert "replay" not in applied.state.to_dict()
    assert KeyState.from_dict(applied.state.to_dict()) == applied.state


def test_a_duplicate_carries_the_id_its_count_is_deduplicated_by() -> None:  # spec §7.4
    decision = occur(created_state(), 2, 5, t=5_000.0, seen=SeenRecord(t=4_999.0, offset=3))
    (change,) = decision.changes
    assert isinstance(change, CountedDrop) and change.count_id == f"duplicate:{KEY}@5"


def test_an_id_seen_within_the_window_is_a_counted_duplicate() -> None:  # spec §12.3
    state = created_state()
    decision = occur(state, 2, 5, t=5_000.0, seen=SeenRecord(t=5_000.0 - DEDUPE + 1, offset=3))
    assert decision.outcome is Outcome.DUPLICATE
    assert decision.state.group == state.group
    (change,) = decision.changes
    assert isinstance(change, CountedDrop) and change.outcome == "duplicate"


def test_an_id_seen_before_the_window_is_processed_as_new() -> None:  # spec §12.3
    decision = occur(created_state(), 2, 5, t=5_000.0, seen=SeenRecord(t=5_000.0 - DEDUPE, offset=3))
    assert decision.outcome is Outcome.APPLIED


def test_the_same_message_redelivered_is_not_its_own_duplicate() -> None:  # spec §2.3.2 vs §12.3
    decision = occur(created_state(), 2, 5, t=5_000.0, seen=SeenRecord(t=5_000.0, offset=5))
    assert decision.outcome is Outcome.APPLIED


def _from_source(state: KeyState, n: int, offset: int, source: InputOffset, seen: SeenRecord | None = None,
                 *, t: float = 5_000.0) -> Decision:
    occurrence = incoming(n)
    reproduced = IncomingOccurrence(occurrence.facts, occurrence.occurrence, None, source=source)
    return decide_occurrence(state, reproduced, group_key=KEY, offset=offset, t=t, rules=NO_NOISE,
                             noise_before=None, seen=seen, dedupe_seconds=DEDUPE)


def test_an_input_read_again_is_recognised_by_its_offset_not_by_time() -> None:  # spec §2.4.10
    first = _from_source(created_state(), 2, 5, InputOffset("in", 0, 42))
    assert first.outcome is Outcome.APPLIED and first.state.inputs == {"in:0": 42}
    # Re-read three hours later, long after the dedupe window: a no-op that does not move T'.
    again = _from_source(first.state, 2, 9, InputOffset("in", 0, 42), t=5_000.0 + 3 * 3600)
    assert again.outcome is Outcome.REREAD and again.changes == ()
    assert again.state.offset == 9 and again.state.last_t == first.state.last_t
    assert again.state.group == first.state.group
    # An earlier offset of the same input partition too; another partition is another input.
    assert _from_source(first.state, 3, 10, InputOffset("in", 0, 41)).outcome is Outcome.REREAD
    other = _from_source(first.state, 3, 10, InputOffset("in", 1, 41))
    assert other.outcome is Outcome.APPLIED and other.state.inputs == {"in:0": 42, "in:1": 41}


def test_a_status_change_read_again_is_a_no_op() -> None:  # spec §2.4.10
    change = dict(change_id="c", request=StatusRequest(1, None), group_key=KEY, t=9_000.0, seen=None,
                  dedupe_seconds=DEDUPE, source=InputOffset("in", 3, 7))
    resolved = decide_status_change(created_state(), offset=9, **change)
    assert resolved.outcome is Outcome.APPLIED
    again = decide_status_change(resolved.state, offset=12, **change)
    assert again.outcome is Outcome.REREAD and again.changes == () and again.state.offset == 12


def test_a_reconciled_input_the_key_applied_is_recorded_lost_and_one_it_never_saw_is_applied() -> None:  # §2.4.13
    first = _from_source(created_state(), 2, 5, InputOffset("in", 0, 42))
    occurrence = incoming(2)
    resubmitted = IncomingOccurrence(occurrence.facts, occurrence.occurrence, None, source=InputOffset("in", 0, 42),
                                     reconcile=True)
    lost = decide_occurrence(first.state, resubmitted, group_key=KEY, offset=9, t=9_000.0, rules=NO_NOISE,
                             noise_before=None, seen=None, dedupe_seconds=DEDUPE)
    assert lost.outcome is Outcome.LOST and lost.state.group == first.state.group  # never applied twice
    assert lost.state.last_t == first.state.last_t and lost.state.offset == 9
    (noop,) = lost.changes
    assert isinstance(noop, InputNoop) and (noop.outcome, noop.project_id, noop.group_key) == ("lost", 1, KEY)
    never_seen = replace(resubmitted, source=InputOffset("in", 0, 43))
    applied = decide_occurrence(first.state, never_seen, group_key=KEY, offset=9, t=9_000.0, rules=NO_NOISE,
                                noise_before=None, seen=None, dedupe_seconds=DEDUPE)
    assert applied.outcome is Outcome.APPLIED
    change = dict(change_id="c", request=StatusRequest(1, None), group_key=KEY, t=9_000.0, seen=None,
                  dedupe_seconds=DEDUPE, source=InputOffset("in", 3, 7))
    resolved = decide_status_change(created_state(), offset=9, **change)
    again = decide_status_change(resolved.state, offset=12, reconcile=True, **change)
    assert again.outcome is Outcome.LOST and [c.outcome for c in again.changes] == ["lost"]


def test_a_status_change_that_changes_nothing_still_sends_its_outcome() -> None:  # spec §2.4.13
    change = dict(change_id="c", request=StatusRequest(1, None), group_key=KEY, t=9_000.0, seen=None,
                  dedupe_seconds=DEDUPE)
    resolved = decide_status_change(created_state(), offset=9, source=InputOffset("in", 3, 7), **change)
    noop = decide_status_change(resolved.state, offset=10, source=InputOffset("in", 3, 8),
                                **{**change, "change_id": "d"})
    assert noop.outcome is Outcome.NOOP and [(c.outcome, type(c)) for c in noop.changes] == [("noop", InputNoop)]


def test_the_same_id_from_another_input_record_is_still_a_counted_duplicate() -> None:  # spec §12.3
    first = _from_source(created_state(), 2, 5, InputOffset("in", 0, 42), t=4_999.0)
    decision = _from_source(first.state, 2, 9, InputOffset("in", 0, 43), SeenRecord(t=4_999.0, offset=5))
    assert decision.outcome is Outcome.DUPLICATE


def test_another_type_for_a_live_group_is_a_type_mismatch() -> None:  # spec §12.9
    state = created_state()
    decision = occur(state, 2, 5, type_id=2002)
    assert decision.outcome is Outcome.TYPE_MISMATCH and decision.rejection is not None
    assert decision.rejection.reason == "type_mismatch" and not decision.changes
    # No effect on the group (spec §12.9); the dead letter is the input's outcome: the watermark moves past it
    # (§2.4.10), so the same message read again is recognised instead of decided a second time.
    assert decision.state.group == state.group and decision.state.offset == 5
    assert occur(decision.state, 2, 5, type_id=2002).outcome is Outcome.REDELIVERED


def test_a_status_change_dead_lettered_for_a_missing_group_is_never_applied_when_read_again_later() -> None:
    # spec §2.4.10: its dead letter is its outcome; a re-read after the group exists must not apply it.
    missing = _status(KeyState(), 0, 70)
    assert missing.outcome is Outcome.GROUP_NOT_FOUND and missing.state.inputs == {"in:1": 70}
    created = grant(occur(missing.state, 1, 1).state, facts(1).id, 2).state
    assert _status(created, 3, 70).outcome is Outcome.REREAD


def noise_after(*counts: tuple[int, float]) -> NoiseState | None:
    state = None
    for offset, t in counts:
        from streams.core.noise import NoiseCount

        state = count_in_window(state, NoiseCount(1_000.0 + offset, t, 1008, offset))
    return NoiseState(**state) if state else None


def test_below_the_noise_limit_occurrences_are_held_back_and_counted() -> None:  # spec §13.1.4
    first = occur(KeyState(), 1, 0, rules=NOISE_3, type_id=1008, noise=None)
    assert first.outcome is Outcome.HELD_BACK and first.count_noise is not None and first.quota_request is None
    second = occur(first.state, 2, 1, rules=NOISE_3, type_id=1008, noise=noise_after((0, 2_000.0)))
    assert second.outcome is Outcome.HELD_BACK
    assert [c.outcome for c in (*first.changes, *second.changes)] == ["held_back", "held_back"]


def test_the_third_occurrence_in_the_window_asks_to_create_with_the_window_count() -> None:  # §13.1.5, §13.1.8
    before = noise_after((0, 2_000.0), (1, 2_001.0))
    decision = occur(KeyState(offset=1, last_t=2_001.0), 3, 2, rules=NOISE_3, type_id=1008, noise=before)
    assert decision.outcome is Outcome.PENDING_QUOTA and decision.quota_request is not None
    pending = decision.state.pending
    assert pending is not None and pending.times_seen == 3
    assert (pending.first_seen, pending.last_seen) == (1_000.0, 1_003.0)
    assert pending.link_window == (2_000.0, 2_002.0)
    created = grant(decision.state, facts(3, type_id=1008).id, 3, rules=NOISE_3)
    assert created.state.group is not None and created.state.group.times_seen == 3
    (change,) = created.changes
    assert change.link is not None and change.link.window == (2_000.0, 2_002.0)
    (waiter,) = decision.changes
    assert isinstance(waiter, GrouplessOccurrence)
    entries = waiter_entries(created.state.group.times_seen, [waiter.post_process_facts()])
    assert [(e["times_seen"], e["is_new"]) for e in entries] == [(3, True)]


def test_a_quota_refusal_keeps_the_noise_count() -> None:  # spec §13.1.6
    before = noise_after((0, 2_000.0), (1, 2_001.0))
    asked = occur(KeyState(offset=1, last_t=2_001.0), 3, 2, rules=NOISE_3, type_id=1008, noise=before)
    refused = grant(asked.state, facts(3, type_id=1008).id, 3, granted=False, rules=NOISE_3)
    after_refusal = noise_after((0, 2_000.0), (1, 2_001.0), (2, 2_002.0))
    retry = occur(refused.state, 4, 4, rules=NOISE_3, type_id=1008, noise=after_refusal)
    assert retry.quota_request is not None
    assert retry.state.pending is not None and retry.state.pending.times_seen == 4


def test_a_noise_state_of_another_type_is_a_type_mismatch() -> None:  # spec §13.1.7
    decision = occur(KeyState(), 1, 0, rules=TypeRules(1006, 25, 3, 3600), type_id=1006, noise=noise_after((0, 1.0)))
    assert decision.outcome is Outcome.TYPE_MISMATCH


def test_key_state_round_trips_through_its_table_form() -> None:
    state = occur(occur(KeyState(), 1, 0).state, 2, 1).state
    assert KeyState.from_dict(state.to_dict()) == state
    created = created_state()
    assert KeyState.from_dict(created.to_dict()) == created


def test_status_change_without_a_group_is_group_not_found() -> None:  # spec §14.3
    decision = decide_status_change(KeyState(), change_id="c", request=StatusRequest(1, None), group_key=KEY,
                                    offset=0, t=1.0, seen=None, dedupe_seconds=DEDUPE)
    assert decision.outcome is Outcome.GROUP_NOT_FOUND and decision.rejection is not None


def test_status_change_resolves_and_emits_a_change_without_post_process() -> None:  # spec §14.3 T2, §14.3.2
    decision = decide_status_change(created_state(), change_id="c", request=StatusRequest(1, None),
                                    group_key=KEY, offset=9, t=9_000.0, seen=None, dedupe_seconds=DEDUPE)
    assert decision.outcome is Outcome.APPLIED
    (change,) = decision.changes
    assert isinstance(change, StatusChange) and change.group.status == 1
    assert replace(decision.state, offset=0).group is not None


def test_a_redelivered_waiting_occurrence_does_not_ask_again() -> None:
    waiting = occur(occur(KeyState(), 1, 0).state, 2, 1)
    assert occur(waiting.state, 2, 1).quota_request is None


def _status(state: KeyState, offset: int, input_offset: int, new_status: int = 1, raw: str = "{}") -> Decision:
    return decide_status_change(state, change_id=f"s{input_offset}", request=StatusRequest(new_status, None),
                                group_key=KEY, offset=offset, t=2_500.0 + offset, seen=None, dedupe_seconds=DEDUPE,
                                source=InputOffset("in", 1, input_offset), raw_key=None, raw=raw)


def test_a_status_change_for_a_pending_creation_waits_and_is_applied_right_after_it() -> None:  # §13.2.5 step 5
    pending = occur(KeyState(), 1, 0).state
    held = _status(pending, 1, 70)
    assert held.outcome is Outcome.STATUS_WAITING and held.changes == () and held.rejection is None
    assert held.state.inputs == pending.inputs  # its outcome is not decided yet: not recorded as applied
    assert _status(held.state, 2, 70).outcome is Outcome.REREAD  # the same input again: held once
    again = _status(held.state, 2, 71, new_status=1)  # a second one, the same status: a no-op after the first
    created = grant(again.state, facts(1).id, 3)
    assert created.outcome is Outcome.CREATED and created.state.pending is None
    creation, resolved, noop = created.changes
    assert isinstance(resolved, StatusChange) and resolved.group.status == 1 and resolved.input == ("in", 1, 70)
    assert isinstance(noop, InputNoop) and noop.input == ("in", 1, 71)
    assert created.state.group is not None and created.state.group.status == 1
    assert created.state.inputs["in:1"] == 71  # both have their outcome now: a re-read is a re-read
    assert _status(created.state, 4, 70).outcome is Outcome.REREAD


def test_a_refused_creation_dead_letters_its_held_status_changes_and_too_many_are_refused_at_once() -> None:
    pending = occur(KeyState(), 1, 0).state
    held = _status(pending, 1, 70, raw='{"payload_type": "status_change"}')
    refused = grant(held.state, facts(1).id, 2, granted=False)
    ((letter, rejection),) = refused.dead_letters
    assert letter.raw == '{"payload_type": "status_change"}' and letter.source == InputOffset("in", 1, 70)
    assert rejection.reason == "group_not_found" and "refused by the creation quota" in rejection.message
    assert refused.state.inputs["in:1"] == 70
    state = pending
    for index in range(MAX_WAITING_STATUS_CHANGES):
        state = _status(state, index + 1, 100 + index).state
    full = _status(state, 500, 999)
    assert full.outcome is Outcome.GROUP_NOT_FOUND and full.rejection is not None
    big = _status(pending, 1, 5, raw="x" * (MAX_WAITING_STATUS_BYTES + 1))
    assert big.outcome is Outcome.GROUP_NOT_FOUND
    assert len(orjson.dumps(state.to_dict())) < 1024 * 1024
    assert KeyState.from_dict(orjson.loads(orjson.dumps(state.to_dict()))) == state


def test_a_group_remembers_a_bounded_number_of_environments() -> None:  # spec §2.4.11, §12.8
    state = created_state()
    for n in range(2, MAX_GROUP_ENVIRONMENTS + 40):
        decision = decide_occurrence(state, incoming(n, environment=f"env-{n:04d}" + "x" * 55), group_key=KEY,
                                     offset=n, t=3_000.0 + n, rules=NO_NOISE, noise_before=None, seen=None,
                                     dedupe_seconds=DEDUPE)
        state = decision.state
    assert state.group is not None and len(state.group.environments) == MAX_GROUP_ENVIRONMENTS
    assert state.group.times_seen == MAX_GROUP_ENVIRONMENTS + 39
    assert len(orjson.dumps(state.to_dict())) < 16 * 1024
    (change,) = decision.changes
    assert change.is_new_group_environment  # past the bound: counted as new (Postgres lists them all)
