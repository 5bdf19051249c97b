"""Forgetting idle keys of `groups`: which states are idle, and when a `forget` message removes one (design §4)."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from streams.core.decide import FORGET_MARGIN_SECONDS, decide_forget, is_idle, keep_seconds
from streams.core.group_state import KeyState
from streams.core.grouping import Outcome
from streams.settings import SettingsError, load_settings
from tests.unit.core.test_decide import NO_NOISE, NOISE_3, created_state, facts, grant, occur

KEEP = 3660.0
# Held back once (NoiseConfig(3, 1 h)): no group, no pending, generation 0.
HELD = occur(KeyState(), 1, 5, t=1_000.0, rules=NOISE_3, type_id=1008).state
IDLE_AT = HELD.last_t + KEEP


def test_a_held_back_key_is_idle_exactly_once_its_keep_has_passed() -> None:
    assert HELD.group is None and HELD.pending is None and HELD.generation == 0
    assert not is_idle(HELD, now=IDLE_AT - 0.001, keep=KEEP)
    assert is_idle(HELD, now=IDLE_AT, keep=KEEP)  # the boundary counts as idle
    assert is_idle(HELD, now=IDLE_AT + 10_000, keep=KEEP)


def test_a_key_with_a_group_is_never_idle() -> None:
    state = created_state()
    assert state.group is not None
    assert not is_idle(state, now=state.last_t + 10 * KEEP, keep=KEEP)


def test_a_key_waiting_for_its_quota_answer_is_never_idle() -> None:
    state = occur(KeyState(), 1, 0).state
    assert state.pending is not None
    assert not is_idle(state, now=state.last_t + 10 * KEEP, keep=KEEP)


def test_a_key_whose_group_was_deleted_keeps_its_generation_for_good() -> None:  # spec §2.4.5
    state = replace(HELD, generation=1)
    assert not is_idle(state, now=IDLE_AT + 10 * KEEP, keep=KEEP)


def test_a_key_without_state_is_not_idle() -> None:
    assert not is_idle(KeyState(), now=1e12, keep=KEEP)


def test_a_key_refused_by_the_quota_is_idle_too() -> None:  # spec §13.2.4: no noise, no group, no pending
    asked = occur(KeyState(), 1, 0)
    refused = grant(asked.state, facts(1).id, 1, granted=False)
    assert refused.outcome is Outcome.QUOTA_REFUSED
    keep = keep_seconds(refused.state, dedupe_seconds=60, longest_noise_seconds=86_400)
    assert keep == 60 + FORGET_MARGIN_SECONDS
    assert is_idle(refused.state, now=refused.state.last_t + keep, keep=keep)


def test_the_key_keeps_its_own_noise_window_and_the_dedupe_window() -> None:
    assert HELD.noise_seconds == 3600
    assert keep_seconds(HELD, dedupe_seconds=60, longest_noise_seconds=86_400) == 3600 + FORGET_MARGIN_SECONDS
    assert keep_seconds(HELD, dedupe_seconds=7200, longest_noise_seconds=86_400) == 7200 + FORGET_MARGIN_SECONDS
    no_noise = occur(KeyState(), 1, 0, rules=NO_NOISE).state
    assert no_noise.noise_seconds == 0
    assert keep_seconds(no_noise, dedupe_seconds=60, longest_noise_seconds=86_400) == 60 + FORGET_MARGIN_SECONDS


def test_the_longest_noise_window_a_key_was_counted_in_is_kept() -> None:
    short = occur(KeyState(), 1, 0, rules=replace(NOISE_3, noise_seconds=8), type_id=1008).state
    assert short.noise_seconds == 8
    longer = occur(short, 2, 1, rules=NOISE_3, type_id=1008).state
    assert longer.noise_seconds == 3600
    again = occur(longer, 3, 2, rules=replace(NOISE_3, noise_seconds=8, noise_limit=5), type_id=1008).state
    assert again.noise_seconds == 3600


def test_a_state_that_does_not_record_its_windows_keeps_the_longest_registered_one() -> None:
    old = {key: value for key, value in HELD.to_dict().items() if key != "noise_seconds"}
    restored = KeyState.from_dict(old)
    assert restored.noise_seconds is None
    assert keep_seconds(restored, dedupe_seconds=60, longest_noise_seconds=86_400) == 86_400 + FORGET_MARGIN_SECONDS
    # Unknown stays unknown as it is counted again: it may still have windows of any size.
    assert occur(restored, 2, 6, rules=NOISE_3, type_id=1008).state.noise_seconds is None


def test_the_noise_window_survives_the_changelog() -> None:
    assert KeyState.from_dict(HELD.to_dict()) == HELD


def test_forget_removes_an_idle_key_still_at_the_offset_the_sweep_saw() -> None:
    assert decide_forget(HELD, key_offset=HELD.offset, t=IDLE_AT, keep_seconds=KEEP)


def test_forget_keeps_a_key_that_applied_a_message_since_the_sweep() -> None:
    moved = occur(HELD, 2, 9, t=IDLE_AT - 1, rules=NOISE_3, type_id=1008).state
    assert moved.offset == 9
    assert not decide_forget(moved, key_offset=HELD.offset, t=IDLE_AT, keep_seconds=KEEP)


def test_forget_keeps_a_key_that_is_no_longer_idle() -> None:
    pending = replace(HELD, pending=occur(KeyState(), 1, 0).state.pending)
    assert not decide_forget(pending, key_offset=HELD.offset, t=IDLE_AT, keep_seconds=KEEP)
    grouped = replace(HELD, group=created_state().group)
    assert not decide_forget(grouped, key_offset=HELD.offset, t=IDLE_AT, keep_seconds=KEEP)
    deleted_before = replace(HELD, generation=2)
    assert not decide_forget(deleted_before, key_offset=HELD.offset, t=IDLE_AT, keep_seconds=KEEP)


@pytest.mark.parametrize("t", [IDLE_AT - 0.001, HELD.last_t])
def test_forget_keeps_a_key_that_is_not_old_enough(t: float) -> None:
    assert not decide_forget(HELD, key_offset=HELD.offset, t=t, keep_seconds=KEEP)


def test_a_redelivered_forget_finds_no_state_and_does_nothing() -> None:
    assert not decide_forget(KeyState(), key_offset=HELD.offset, t=IDLE_AT, keep_seconds=KEEP)
    # ...nor does one for a key that came back after it was forgotten: its watermark is another offset.
    back = occur(KeyState(), 3, 40, t=IDLE_AT + 5, rules=NOISE_3, type_id=1008).state
    assert not decide_forget(back, key_offset=HELD.offset, t=back.last_t + 2 * KEEP, keep_seconds=KEEP)


def test_a_forgotten_key_counts_afresh() -> None:
    """After forgetting, the next occurrence starts from an empty key state (the noise table decides)."""
    decision = occur(KeyState(), 3, 40, t=IDLE_AT + 5, rules=NOISE_3, type_id=1008)
    assert decision.outcome is Outcome.HELD_BACK
    assert decision.state.offset == 40 and decision.state.generation == 0


def test_the_sweep_interval_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("ISSUE_PLATFORM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    assert load_settings().idle_key_sweep_seconds == 600
    monkeypatch.setenv("ISSUE_PLATFORM_IDLE_KEY_SWEEP_SECONDS", "5")
    assert load_settings().idle_key_sweep_seconds == 5
    monkeypatch.setenv("ISSUE_PLATFORM_IDLE_KEY_SWEEP_SECONDS", "0")
    with pytest.raises(SettingsError, match="ISSUE_PLATFORM_IDLE_KEY_SWEEP_SECONDS"):
        load_settings()
