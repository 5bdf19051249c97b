"""storage.frozen.replace_fields makes exactly the copy dataclasses.replace makes, for every class it is used on."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.changes import GroupState, OccurrenceChange
from storage.frozen import construct, replace_fields
from streams.core.group_state import KeyState

GROUP = GroupState(group_key="1:abc", project_id=1, type_id=1001, generation=2, status=0, substatus=7,
                   substatus_since=1.0, priority=50, initial_priority=50, priority_locked_at=None, assignee=None,
                   first_seen=1.0, last_seen=2.0, times_seen=3, level=40, culprit="c", title="t", subtitle="s",
                   message="m", platform="python", created_at=1.0, environments=("prod",), hour_start=0.0,
                   hour_count=3)
STATE = KeyState(offset=7, last_t=2.0, generation=2, group=GROUP, inputs={"in:0": 5}, timers={"auto_resolve": 9.0})


def _same(copy: Any, expected: Any) -> None:
    assert type(copy) is type(expected)
    assert copy == expected
    for name in (f.name for f in dataclasses.fields(expected)):
        assert getattr(copy, name) is getattr(expected, name), name


@given(times_seen=st.integers(0, 10**9), last_seen=st.floats(allow_nan=False), status=st.sampled_from([0, 1, 2]),
       environments=st.lists(st.text(max_size=5), max_size=3).map(tuple))
def test_a_slotted_class_copies_as_replace_does(times_seen: int, last_seen: float, status: int,
                                                environments: tuple[str, ...]) -> None:
    changes = {"times_seen": times_seen, "last_seen": last_seen, "status": status, "environments": environments}
    _same(replace_fields(GROUP, **changes), dataclasses.replace(GROUP, **changes))


@given(offset=st.integers(-1, 10**12), last_t=st.floats(allow_nan=False),
       inputs=st.dictionaries(st.text(max_size=4), st.integers(0, 100), max_size=3))
def test_a_class_with_a_dict_copies_as_replace_does(offset: int, last_t: float, inputs: dict[str, int]) -> None:
    changes = {"offset": offset, "last_t": last_t, "inputs": inputs}
    _same(replace_fields(STATE, **changes), dataclasses.replace(STATE, **changes))
    _same(replace_fields(STATE), dataclasses.replace(STATE))


def test_the_original_is_left_as_it_was() -> None:
    before = dataclasses.replace(STATE)
    copy = replace_fields(STATE, offset=99, group=None)
    assert STATE == before and copy.offset == 99 and copy.group is None
    assert copy is not STATE and copy.__dict__ is not STATE.__dict__


def test_an_inherited_slotted_class_keeps_every_field() -> None:
    change = OccurrenceChange(outcome="created", t=1.0, group_key="1:abc", project_id=1, group=GROUP, cause_id="c",
                              occurrence={"id": "o"}, event=None)
    changes = {"change_id": "ab" * 16, "cause": (3, 4), "input": ("in", 0, 5)}
    _same(replace_fields(change, **changes), dataclasses.replace(change, **changes))


def test_a_name_that_is_no_field_is_refused_as_replace_refuses_it() -> None:
    for obj in (GROUP, STATE):
        with pytest.raises(TypeError):
            dataclasses.replace(obj, no_such_field=1)
        with pytest.raises(TypeError, match="no_such_field"):
            replace_fields(obj, no_such_field=1)


@dataclass(frozen=True)
class _Checked:
    value: int
    doubled: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "doubled", self.value * 2)


def test_a_class_with_post_init_goes_through_its_init() -> None:
    assert replace_fields(_Checked(2), value=5).doubled == 10



def test_post_init_checks_the_copy_as_init_would() -> None:
    change = OccurrenceChange(outcome="applied", t=1.0, group_key="1:abc", project_id=1, group=GROUP, cause_id="c",
                              occurrence={"id": "o"}, event=None)
    with pytest.raises(ValueError) as by_replace:
        dataclasses.replace(change, change_id="not an output id", cause=(1, 2))
    with pytest.raises(ValueError) as by_copy:
        replace_fields(change, change_id="not an output id", cause=(1, 2))
    assert str(by_copy.value) == str(by_replace.value)


@given(times_seen=st.integers(0, 10**9), environments=st.lists(st.text(max_size=5), max_size=3).map(tuple),
       optional=st.fixed_dictionaries({}, optional={"resolved_at": st.floats(allow_nan=False), "hour_count": st.integers(),
                                                    "forecast": st.tuples(st.integers())}))
def test_construct_makes_what_the_constructor_makes(times_seen: int, environments: tuple[str, ...],
                                                    optional: dict[str, Any]) -> None:
    values = {f.name: getattr(GROUP, f.name) for f in dataclasses.fields(GroupState) if f.name not in optional} | {
        "times_seen": times_seen, "environments": environments} | optional
    for name in ("resolved_at", "version", "hour_count"):  # left to their defaults
        if name not in optional:
            values.pop(name)
    _same(construct(GroupState, values), GroupState(**values))
    state_values = {"offset": 3, "last_t": 1.5, "group": GROUP}  # the rest default, factories included
    built, expected = construct(KeyState, state_values), KeyState(**state_values)
    assert type(built) is KeyState and built == expected and list(built.__dict__) == list(expected.__dict__)
    assert built.inputs == {} and built.inputs is not construct(KeyState, state_values).inputs  # a fresh dict each


def test_construct_refuses_what_the_constructor_refuses() -> None:
    values = {f.name: getattr(GROUP, f.name) for f in dataclasses.fields(GroupState)}
    with pytest.raises(TypeError, match="no_such_field"):
        construct(GroupState, values | {"no_such_field": 1})
    del values["title"]
    with pytest.raises(TypeError):
        GroupState(**values)
    with pytest.raises(TypeError, match="title"):
        construct(GroupState, values)


def test_construct_runs_post_init() -> None:
    values = {"outcome": "applied", "t": 1.0, "group_key": "1:abc", "project_id": 1, "group": GROUP, "cause_id": "c",
              "change_id": "not an output id", "cause": (1, 2)}
    with pytest.raises(ValueError, match="32 lowercase hex"):
        construct(OccurrenceChange, values)
    values["change_id"] = "ab" * 16
    _same(construct(OccurrenceChange, values), OccurrenceChange(**values))
