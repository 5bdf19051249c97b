"""Which idle keys the sweep may forget: none whose inputs could still be read again (spec §2.4.10)."""
from __future__ import annotations

from streams.core.group_state import KeyState
from streams.timers.idle_keys import inputs_past


def test_a_key_is_forgettable_only_once_every_input_is_committed_past() -> None:
    state = KeyState(offset=7, inputs={"in:0": 41, "in:3": 9})
    assert inputs_past(state, {"in:0": 42, "in:3": 10})
    assert not inputs_past(state, {"in:0": 41, "in:3": 10})  # offset 41 is the next one read: not past it
    assert not inputs_past(state, {"in:0": 42, "in:3": None})  # nothing committed there yet
    assert not inputs_past(state, {"in:0": 42})  # unknown: kept


def test_a_key_fed_by_no_input_is_not_held_by_inputs() -> None:
    assert inputs_past(KeyState(offset=3), {})
