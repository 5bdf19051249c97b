"""Noise window aggregates (spec §13.1) and the creation quota's sliding window (spec §13.2.2–§13.2.3)."""
from __future__ import annotations

import random

from streams.core.noise import (
    NoiseCount,
    NoiseState,
    as_of,
    count_in_window,
    counted,
    deciding_window_delta,
    noise_gate,
    window_step,
)
from streams.core.quota import QuotaRule, QuotaState, decide_quota

HOUR = QuotaRule(3600, 60, 5)


def test_windows_hop_by_a_quarter_of_their_size_in_whole_seconds() -> None:  # spec §13.1.3
    assert window_step(86_400) == 21_600
    assert window_step(3_600) == 900
    assert window_step(3) == 1 and window_step(1) == 1
    assert deciding_window_delta(3_600) == 2_700


def test_counting_aggregates_count_event_bounds_and_first_t() -> None:
    state = None
    for offset, (event_ts, t) in enumerate([(50.0, 100.0), (40.0, 110.0), (70.0, 120.0)]):
        state = count_in_window(state, NoiseCount(event_ts, t, 1008, offset))
    assert NoiseState(**state) == NoiseState(count=3, earliest_event=40.0, latest_event=70.0, first_t=100.0,
                                             last_t=120.0, type_id=1008, offset=2)


def test_a_window_never_counts_the_same_offset_twice() -> None:  # spec §2.4.2
    once = count_in_window(None, NoiseCount(1.0, 1.0, 1008, 7))
    assert count_in_window(once, NoiseCount(1.0, 1.0, 1008, 7)) == once
    assert count_in_window(once, NoiseCount(1.0, 1.0, 1008, 6)) == once


def batch_counts(window: dict | None, offsets: list[int], *, watermark: int) -> dict:
    """A grouping batch's writes to one window: each count made against the key's written watermark."""
    for offset in offsets:
        window = count_in_window(window, NoiseCount(float(offset), 100.0 + offset, 1008, offset, watermark=watermark))
    assert window is not None
    return window


def test_a_window_keeps_itself_as_of_the_key_state_it_was_counted_against() -> None:  # spec §2.4.6, §2.4.10
    written = batch_counts(None, [3, 5], watermark=2)  # batch 1: the key's state at offset 2 before it
    assert as_of(written, 5) == written  # the key's state covers both counts: the window as it is
    assert as_of(written, 2) is None  # it covers neither: the window was empty then
    nxt = batch_counts(written, [8, 9, 11], watermark=5)  # batch 2, after batch 1's state was written
    assert NoiseState(**nxt).count == 5
    snapshot = as_of(nxt, 5)
    assert snapshot is not None and NoiseState(**snapshot) == NoiseState(**{**written, "before": None})
    assert "before" not in snapshot  # never nested
    assert as_of(nxt, 11) == nxt


def test_a_batch_decided_again_against_the_window_as_of_its_key_state_makes_the_same_verdicts() -> None:
    """Counts written, the key's state not (a worker killed between): the re-read inputs meet the same gate."""
    before_batch = batch_counts(None, [1], watermark=0)
    verdicts = []
    window = as_of(before_batch, 1)
    for offset in (4, 6, 7):  # the first decision, counting as it goes (what Batch.noise_window does)
        verdict = noise_gate(NoiseState.from_dict(window), limit=3, type_id=1008, event_timestamp=1.0,
                             t=100.0 + offset, offset=offset)
        verdicts.append(verdict.held_back)
        window = count_in_window(window, NoiseCount(1.0, 100.0 + offset, 1008, offset, watermark=1))
    assert verdicts == [True, False, False]
    stored = window  # what reached the changelog; the key's state stayed at offset 1
    again = []
    window = as_of(stored, 1)
    for offset in (4, 6, 7):
        verdict = noise_gate(NoiseState.from_dict(window), limit=3, type_id=1008, event_timestamp=1.0,
                             t=100.0 + offset, offset=offset)
        again.append(verdict.held_back)
        window = count_in_window(window, NoiseCount(1.0, 100.0 + offset, 1008, offset, watermark=1))
    assert again == verdicts
    # Read without `as_of`, the stored window already holds offsets 4, 6 and 7: offset 4 would pass the gate.
    assert not noise_gate(NoiseState.from_dict(stored), limit=3, type_id=1008, event_timestamp=1.0, t=104.0,
                          offset=4).held_back


def test_a_batch_read_again_in_two_parts_makes_the_same_verdicts() -> None:  # spec §2.4.6, §2.4.10
    """The batch read again after the kill need not be the one that died: its first part's state is written
    before the rest is decided, and the rest must still see the first part counted (a kill -9 test once
    counted one held-back occurrence too many this way: 55 against 54)."""
    def verdict(window: dict | None, offset: int) -> bool:
        return noise_gate(NoiseState.from_dict(window), limit=3, type_id=1008, event_timestamp=1.0,
                          t=100.0 + offset, offset=offset).held_back

    def count(window: dict | None, offset: int, watermark: int) -> dict:
        return count_in_window(window, NoiseCount(1.0, 100.0 + offset, 1008, offset, watermark=watermark))

    stored = batch_counts(None, [1], watermark=0)
    window = as_of(stored, 1)
    verdicts = []
    for offset in (4, 6, 7):  # the first decision; its counts reach the changelog, its state does not
        verdicts.append(verdict(window, offset))
        window = count(window, offset, 1)
        stored = count(stored, offset, 1)
    assert verdicts == [True, False, False]
    again = []
    for part, watermark in (((4,), 1), ((6, 7), 4)):  # read again in two batches; the state written after each
        window = as_of(stored, watermark)
        for offset in part:
            again.append(verdict(window, offset))
            window = count(window, offset, watermark)
        for offset in part:  # the batch's writes: counted already, so only the window as of its state moves
            stored = count(stored, offset, watermark)
    assert again == verdicts
    assert NoiseState(**stored).count == 4 and as_of(stored, 7) == stored
    assert as_of(stored, 4) is not None and "before" not in as_of(stored, 4)  # never nested


def test_a_window_the_table_has_no_value_for_reads_as_empty() -> None:
    assert as_of({}, 3) == {}
    assert NoiseState(**count_in_window({}, NoiseCount(1.0, 1.0, 1008, 4, watermark=3))).before is None


def test_counted_matches_the_window_operation() -> None:
    before = NoiseState(**count_in_window(None, NoiseCount(1.0, 1.0, 1008, 1)))
    assert counted(before, NoiseCount(2.0, 3.0, 1008, 2)).count == 2
    assert counted(None, NoiseCount(2.0, 3.0, 1008, 2)).count == 1


def test_the_gate_holds_back_until_the_limit_th_occurrence_in_the_deciding_window() -> None:  # spec §13.1.4
    window = None
    verdicts = []
    for offset in range(4):
        verdict = noise_gate(NoiseState.from_dict(window), limit=3, type_id=1008, event_timestamp=50.0 - offset,
                             t=100.0 + offset, offset=offset)
        window = count_in_window(window, verdict.contribution)
        verdicts.append(verdict)
    assert [v.held_back for v in verdicts] == [True, True, False, False]
    # The limit-th counts every occurrence of the window, with their event and decision bounds (§13.1.8).
    assert verdicts[2].deciding == NoiseState(count=3, earliest_event=48.0, latest_event=50.0, first_t=100.0,
                                              last_t=102.0, type_id=1008, offset=2)
    assert verdicts[2].contribution == NoiseCount(48.0, 102.0, 1008, 2)


def test_the_gate_counts_a_re_read_offset_once() -> None:  # spec §2.4.2
    before = NoiseState(**count_in_window(None, NoiseCount(1.0, 1.0, 1008, 7)))
    verdict = noise_gate(before, limit=2, type_id=1008, event_timestamp=1.0, t=1.0, offset=7)
    assert verdict.deciding == before and verdict.held_back


def grant(state: QuotaState, request_id: str, t: float, offset: int, rule: QuotaRule = HOUR) -> tuple[QuotaState, bool]:
    decision = decide_quota(state, request_id=request_id, t=t, offset=offset, rule=rule)
    return decision.state, decision.granted


def test_five_grants_per_hour_then_refusals() -> None:  # spec §9.2 default, §13.2.2
    state = QuotaState()
    answers = []
    for index in range(8):
        state, granted = grant(state, f"r{index}", 1_000.0 + index, index)
        answers.append(granted)
    assert answers == [True] * 5 + [False] * 3


def test_grants_free_up_once_their_granule_leaves_the_window() -> None:
    state = QuotaState()
    for index in range(5):
        state, _ = grant(state, f"r{index}", 60.0 * index, index)  # granules 0..4
    state, granted = grant(state, "late", 3_599.0, 10)  # granule 59: 0..4 still inside
    assert not granted
    state, granted = grant(state, "later", 3_600.0, 11)  # granule 60: granule 0 has left
    assert granted


def test_a_refusal_records_nothing() -> None:  # spec §13.2.2
    state = QuotaState()
    for index in range(5):
        state, _ = grant(state, f"r{index}", 10.0, index)
    refused_state, granted = grant(state, "x", 10.0, 9)
    assert not granted and refused_state.grants == state.grants


def test_a_request_sent_again_gets_the_same_answer_and_consumes_nothing() -> None:  # spec §13.2.3, §2.4.7
    state = QuotaState()
    for index in range(4):
        state, _ = grant(state, f"r{index}", 10.0, index)
    state, first = grant(state, "same", 10.0, 5)
    # The same id at a later offset (its owner decided it again after a crash): the recorded answer, even
    # though the quota is now used up, and nothing consumed.
    again = decide_quota(state, request_id="same", t=10.0, offset=9, rule=HOUR, decided=first)
    assert first and again.granted is True and again.redelivered and again.state == state
    refused = decide_quota(state, request_id="other", t=10.0, offset=10, rule=HOUR, decided=False)
    assert refused.granted is False and refused.state == state


def test_a_grant_recorded_past_the_state_is_counted_when_read_again() -> None:  # spec §2.4.6, §13.2.3
    """The answer's write reached its changelog, the quota state's did not (a worker killed between them)."""
    one = QuotaRule(3600, 60, 1)
    written = QuotaState()  # the state as the restarted worker reads it: the grant at offset 5 not in it
    again = decide_quota(written, request_id="r1", t=10.0, offset=5, rule=one, decided=True, decided_at=5)
    assert again.granted is True and again.recounted and not again.is_new
    assert again.state == QuotaState({0: 1}, 5)
    # The limit of one is used up: the next request is refused, as it was before the crash.
    assert decide_quota(again.state, request_id="r2", t=11.0, offset=6, rule=one).granted is False
    # Without the recount it would have been granted: the quota overspent.
    assert decide_quota(written, request_id="r2", t=11.0, offset=6, rule=one).granted is True


def test_a_recorded_answer_the_state_covers_or_a_refusal_is_not_counted_again() -> None:
    state, _ = grant(QuotaState(), "a", 10.0, 4)
    covered = decide_quota(state, request_id="a", t=10.0, offset=9, rule=HOUR, decided=True, decided_at=4)
    assert covered.granted is True and not covered.recounted and covered.state == state
    refused = decide_quota(state, request_id="b", t=10.0, offset=9, rule=HOUR, decided=False, decided_at=8)
    assert refused.granted is False and not refused.recounted and refused.state == state


def test_a_request_read_again_at_or_below_the_watermark_sends_nothing() -> None:  # spec §2.4.6
    state, _ = grant(QuotaState(), "a", 10.0, 4)
    again = decide_quota(state, request_id="b", t=10.0, offset=4, rule=HOUR)
    assert again.granted is None and again.redelivered and again.state == state


def test_the_quota_value_stays_small_whatever_the_number_of_requests() -> None:  # spec §2.4.11
    state = QuotaState()
    for index in range(10_000):
        state, _ = grant(state, f"r{index}", 10.0 + index * 0.01, index)
    assert len(str(state.to_dict())) < 200
    assert QuotaState.from_dict({"grants": {"0": 1}, "decided": {"x": True}, "decided_at": {"x": 0},
                                 "offset": 3}) == QuotaState({0: 1}, 3)


def test_state_round_trips_through_json_shapes() -> None:
    state, _ = grant(QuotaState(), "a", 100.0, 3)
    assert QuotaState.from_dict(state.to_dict()) == state


def test_no_run_of_window_granules_ever_holds_more_than_the_limit() -> None:  # spec §13.2.3, exactness
    rule = QuotaRule(600, 60, 3)
    generator = random.Random(7)
    state = QuotaState()
    granted_at: list[int] = []
    for offset in range(2_000):
        # Requests come from many group keys, so T is only roughly ordered.
        t = offset * 7.0 + generator.uniform(-300, 300)
        state, granted = grant(state, f"r{offset}", t, offset, rule)
        if granted:
            granted_at.append(int(t // 60))
    assert granted_at, "some requests must be granted"
    for end in range(min(granted_at), max(granted_at) + 1):
        assert sum(1 for granule in granted_at if end - 10 < granule <= end) <= 3
