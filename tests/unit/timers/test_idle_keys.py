"""Which idle keys the sweep may forget: none whose inputs could still be read again (spec §2.4.10)."""
from __future__ import annotations

import asyncio
from typing import Any

from streams import input_topic
from streams.core.group_state import KeyState
from streams.input_topic import is_retired
from streams.timers.idle_keys import NEVER_READ_AGAIN, _inputs_committed, inputs_past


def test_a_key_is_forgettable_only_once_every_input_is_committed_past() -> None:
    state = KeyState(offset=7, inputs={"in:0": 41, "in:3": 9})
    assert inputs_past(state, {"in:0": 42, "in:3": 10})
    assert not inputs_past(state, {"in:0": 41, "in:3": 10})  # offset 41 is the next one read: not past it
    assert not inputs_past(state, {"in:0": 42, "in:3": None})  # nothing committed there yet
    assert not inputs_past(state, {"in:0": 42})  # unknown: kept


def test_a_key_fed_by_no_input_is_not_held_by_inputs() -> None:
    assert inputs_past(KeyState(offset=3), {})


def test_inputs_of_a_retired_incarnation_of_the_input_topic_never_hold_a_key(monkeypatch: Any) -> None:
    # After a recreated input topic was accepted (spec §2.4.10) the old topic's records cannot be read again.
    monkeypatch.setattr(input_topic, "_running", {"in": 2})
    assert is_retired("in") and is_retired("in#1")
    assert not is_retired("in#2") and not is_retired("other")
    committed = asyncio.run(_inputs_committed({"in:0", "in#1:3"}))
    state = KeyState(offset=7, inputs={"in:0": 41, "in#1:3": 9})
    assert committed == {"in:0": NEVER_READ_AGAIN, "in#1:3": NEVER_READ_AGAIN}
    assert inputs_past(state, committed)
