"""The group-changes wire form: typed records round-trip, and match what the version before them wrote, byte
for byte, so workers of both versions can share the topic (storage.changes)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.changes import (
    ActivityRecord,
    Change,
    CountedDrop,
    CreationLink,
    GrouplessOccurrence,
    GroupState,
    IngestDrop,
    OccurrenceChange,
    PostProcessEntry,
    QuotaRefusal,
    StatusChange,
    change_from_wire,
    decode_change,
    encode_change,
)
from streams.core.decide import (
    IncomingOccurrence,
    activity_id,
    decide_occurrence,
    decide_quota_answer,
    decide_status_change,
)
from streams.core.group_state import InputOffset, KeyState, SeenRecord, TypeRules
from streams.core.grouping import OccurrenceFacts
from streams.core.messages import drop_message
from streams.core.noise import NoiseState, count_in_window
from streams.core.status import StatusRequest

# Written by the code before the typed records existed (captured at cd2b48a, with this file's `scenario`):
# each line is {"scenario", "wire"} (a group-changes message) or {"scenario", "state"} (a key's table form).
FIXTURE = Path(__file__).parents[2] / "fixtures" / "group-changes-wire.jsonl"

KEY = "1:" + "b" * 32
REFUSED_KEY = "1:" + "c" * 32
NOISY_KEY = "1:" + "d" * 32
NO_NOISE = TypeRules(type_id=2001, default_priority=25)
NOISE_3 = TypeRules(type_id=1008, default_priority=25, noise_limit=3, noise_seconds=3600)


def fixture_lines() -> list[bytes]:
    return FIXTURE.read_bytes().splitlines()


def facts(n: int, *, type_id: int = 2001, environment: str = "production", priority: int | None = None,
          assignee: str | None = None) -> OccurrenceFacts:
    return OccurrenceFacts(
        id=f"{n:032x}", project_id=1, type_id=type_id, title="Slow DB query", subtitle=f"SELECT {n}",
        culprit="api.orders", level=40, event_id=f"{n + 0xe0:032x}", event_timestamp=1_700_000_000.0 + n,
        platform="python", environment=environment, priority=priority, assignee=assignee,
    )


def incoming(n: int, *, input_offset: int | None = None, **kwargs: Any) -> IncomingOccurrence:
    f = facts(n, **kwargs)
    occurrence = {
        "id": f.id, "project_id": 1, "fingerprint": ["a" * 32], "type": f.type_id, "issue_title": f.title,
        "subtitle": f.subtitle, "culprit": f.culprit, "level": 40, "detection_time": 1_700_000_000.5,
        "evidence_display": [{"name": "Duration", "value": "900 ms", "important": True}],
        "evidence_data": {"duration_ms": 900}, "priority": f.priority, "assignee": f.assignee, "resource_id": None,
        "event_id": f.event_id,
    }
    event = {"event_id": f.event_id, "project_id": 1, "platform": "python", "timestamp": "2023-11-14T22:13:20Z",
             "received": None, "tags": [["a", "b"]], "level": "error", "metadata": {}, "environment": f.environment}
    # A detector's duplicate is another input record than the first copy (spec §2.4.10, §12.3).
    return IncomingOccurrence(f, occurrence, event, source=InputOffset("in", 0, input_offset or n))


def scenario() -> Iterator[dict[str, Any]]:
    """The fixture's scenario, driven through today's code: every kind of change, and each read again."""
    lines: list[dict[str, Any]] = []

    def emit(name: str, decision: Any) -> KeyState:
        lines.extend({"scenario": name, "wire": change.to_wire()} for change in decision.changes)
        lines.append({"scenario": name, "state": decision.state.to_dict()})
        return decision.state

    def occ(state: KeyState, key: str, n: int, offset: int, *, rules: TypeRules = NO_NOISE,
            noise: NoiseState | None = None, seen: SeenRecord | None = None, **kwargs: Any) -> Any:
        return decide_occurrence(state, incoming(n, **kwargs), group_key=key, offset=offset,
                                 t=1_700_000_100.0 + offset, rules=rules, noise_before=noise, seen=seen,
                                 dedupe_seconds=3600)

    def answer(state: KeyState, key: str, n: int, offset: int, t: float, *, granted: bool = True,
               rules: TypeRules = NO_NOISE) -> Any:
        return decide_quota_answer(state, request_id=facts(n).id, granted=granted, group_key=key, offset=offset,
                                   t=t, rules=rules)

    def resolve(state: KeyState) -> Any:
        return decide_status_change(state, change_id="f" * 32, request=StatusRequest(1, None), group_key=KEY,
                                    offset=5, t=1_700_000_300.0, seen=None, dedupe_seconds=3600)

    s = emit("creator waits for the quota", occ(KeyState(), KEY, 1, 0, assignee="user:7"))
    emit("creator read again", occ(s, KEY, 1, 0, assignee="user:7"))
    s = emit("second occurrence waits", occ(s, KEY, 2, 1, environment="staging"))
    s = emit("grant creates the group", answer(s, KEY, 1, 2, 1_700_000_200.0))
    emit("grant read again", answer(s, KEY, 1, 2, 1_700_000_200.0))
    s = emit("applied with a new priority", occ(s, KEY, 3, 3, priority=75))
    emit("applied read again", occ(s, KEY, 3, 3, priority=75))
    seen = SeenRecord(t=1_700_000_103.0, offset=3)
    s = emit("duplicate", occ(s, KEY, 3, 4, priority=75, seen=seen, input_offset=103))
    emit("duplicate read again", occ(s, KEY, 3, 4, priority=75, seen=seen, input_offset=103))
    s = emit("resolved", resolve(s))
    emit("resolved read again", resolve(s))
    emit("regression", occ(s, KEY, 4, 6, input_offset=104))

    r = emit("refused: creator waits", occ(KeyState(), REFUSED_KEY, 11, 0))
    r = emit("refused: second waits", occ(r, REFUSED_KEY, 12, 1))
    r = emit("refusal", answer(r, REFUSED_KEY, 11, 2, 1_700_000_400.0, granted=False))
    emit("refusal read again", answer(r, REFUSED_KEY, 11, 2, 1_700_000_400.0, granted=False))

    window = None
    n_state = KeyState()
    for index, n in enumerate((21, 22, 23)):
        decision = occ(n_state, NOISY_KEY, n, index, rules=NOISE_3, noise=NoiseState.from_dict(window), type_id=1008)
        n_state = emit(f"noisy {index + 1}", decision)
        window = count_in_window(window, decision.count_noise)
        if index == 0:
            emit("noisy 1 read again", occ(n_state, NOISY_KEY, n, index, rules=NOISE_3, type_id=1008))
    emit("noisy grant", answer(n_state, NOISY_KEY, 23, 3, 1_700_000_500.0, rules=NOISE_3))

    drop = drop_message(outcome="ingest_disabled", t=1_700_000_600.0, group_key=KEY, project_id=1, type_id=2001,
                        drop_id="9" * 32)
    lines.append({"scenario": "ingest drop", "wire": drop.to_wire()})
    yield from lines


def _first_decisions(lines: list[bytes]) -> list[bytes]:
    # The key's state changed form on purpose (issue 11: no replayed changes kept in it, input watermarks),
    # and a message read again now emits nothing (its outputs were acknowledged before its state, spec
    # §2.4.6): what must not change is every change a first decision sends.
    return [line for line in lines if _is_first_decision_wire(orjson.loads(line))]


def _is_first_decision_wire(line: dict[str, Any]) -> bool:
    return "wire" in line and "read again" not in line["scenario"]


def _with_bounded_waiters(lines: list[bytes]) -> list[bytes]:
    """The captured changes as this version sends them on purpose (spec §2.4.11): a waiting occurrence names
    its request and carries its event timestamp, a creation links by request id instead of listing each
    waiter's post-process entry, a refusal names its request. Nothing else may differ."""
    requests: dict[str, str] = {}  # key → the id of the request its waiters wait on
    changed = []
    for line in lines:
        decoded = orjson.loads(line)
        wire = decoded["wire"]
        if wire["kind"] == "drop" and wire["outcome"] == "pending_quota":
            request_id = requests.setdefault(wire["group_key"], wire["id"])
            wire["request_id"] = request_id
            wire["event_timestamp"] = facts(int(wire["id"], 16)).event_timestamp
        elif wire["kind"] == "quota_refused":
            wire["request_id"] = requests.pop(wire["group_key"])
        elif wire.get("link") is not None:
            wire["link"]["request_id"] = requests.pop(wire["group_key"])
            del wire["post_process"]
        changed.append(orjson.dumps(decoded))
    return changed


def _with_status_activities(lines: list[bytes]) -> list[bytes]:
    """The captured changes as this version sends them on purpose (issue 12, spec §14.3): an applied status
    change counts as `applied` (spec §23) and carries its activity, here T2's SET_RESOLVED at T under the
    deterministic id of its change (spec §18.2). Nothing else may differ."""
    changed = []
    for line in lines:
        decoded = orjson.loads(line)
        wire = decoded["wire"]
        if wire["kind"] == "status_change":
            assert wire["outcome"] == "status_changed" and wire["activities"] == []
            wire["outcome"] = "applied"
            wire["activities"] = [{"type": 1, "data": {}, "datetime": wire["t"],
                                   "id": activity_id(wire["cause_id"], 0), "source": "status_change",
                                   "actor": None}]
        changed.append(orjson.dumps(decoded))
    return changed


def _with_hour_counts(lines: list[bytes]) -> list[bytes]:
    """The captured changes as this version sends them on purpose (issue 12, spec §12.7): every group state
    keeps the count of hour(T), last in its form. The scenario's inputs all come in one UTC hour, so a creation
    counts all its occurrences, an applied occurrence one more, and a status change keeps the count. Nothing
    else may differ."""
    changed, counts = [], {}
    for line in lines:
        decoded = orjson.loads(line)
        wire = decoded["wire"]
        group = wire.get("group")
        if group is not None:
            key = group["group_key"]
            if wire["outcome"] == "created":
                counts[key] = group["times_seen"]
            elif wire["kind"] == "occurrence":
                counts[key] += 1
            group["hour_start"] = wire["t"] - wire["t"] % 3600
            group["hour_count"] = counts[key]
        changed.append(orjson.dumps(decoded))
    return changed


def test_the_core_sends_byte_for_byte_what_the_previous_version_did() -> None:
    expected = _with_hour_counts(_with_status_activities(_with_bounded_waiters(_first_decisions(fixture_lines()))))
    produced = [orjson.dumps(line) for line in scenario()]
    assert [line for line in map(orjson.loads, produced) if "wire" in line and "read again" in line["scenario"]] == []
    produced = _first_decisions(produced)
    assert len(produced) == len(expected)
    for made, captured in zip(produced, expected, strict=True):
        assert made == captured, orjson.loads(captured)["scenario"]


@pytest.mark.parametrize("line", [line for line in fixture_lines() if b'"wire"' in line[:40]],
                         ids=lambda line: orjson.loads(line)["scenario"])
def test_a_message_of_the_previous_version_decodes_and_encodes_to_the_same_bytes(line: bytes) -> None:
    wire = orjson.dumps(orjson.loads(line)["wire"])
    assert encode_change(decode_change(wire)) == wire


def test_every_kind_of_change_is_in_the_fixture() -> None:
    kinds = {type(decode_change(orjson.dumps(orjson.loads(line)["wire"])))
             for line in fixture_lines() if b'"wire"' in line[:40]}
    assert kinds == {OccurrenceChange, StatusChange, GrouplessOccurrence, CountedDrop, IngestDrop, QuotaRefusal}


def test_a_message_of_no_known_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        change_from_wire({"kind": "novel"})
    with pytest.raises(ValueError):
        decode_change(b"[1, 2]")


# ------------------------------------------------------------------------------------------ round trips

FINITE = st.floats(allow_nan=False, allow_infinity=False)
INT = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | INT | FINITE | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
DOCUMENT = st.dictionaries(TEXT, JSON, max_size=6)

GROUPS = st.builds(
    GroupState, group_key=TEXT, project_id=INT, type_id=INT, generation=INT, status=INT, substatus=st.none() | INT,
    substatus_since=FINITE, priority=INT, initial_priority=INT, priority_locked_at=st.none() | FINITE,
    assignee=st.none() | TEXT, first_seen=FINITE, last_seen=FINITE, times_seen=INT, level=INT, culprit=TEXT,
    title=TEXT, subtitle=TEXT, message=TEXT, platform=st.none() | TEXT, created_at=FINITE,
    resolved_at=st.none() | FINITE, environments=st.tuples() | st.lists(TEXT, max_size=3).map(tuple), version=INT,
    snooze_count=st.none() | INT, times_seen_at_snooze=st.none() | INT, snooze_until=st.none() | FINITE,
)
ACTIVITIES = st.lists(st.builds(ActivityRecord, id=TEXT, type=INT, data=DOCUMENT, datetime=FINITE, source=TEXT,
                                actor=st.none() | TEXT), max_size=3).map(tuple)
COMMON = dict(t=FINITE, group_key=TEXT, project_id=INT, replay=st.booleans())
GROUP_CHANGE = dict(COMMON, outcome=TEXT, group=GROUPS, cause_id=TEXT, activities=ACTIVITIES)

# An output id and its cause travel together (spec §2.4.7), or neither does (a change of the version before).
OUTPUT_IDS = st.just({}) | st.fixed_dictionaries({
    "change_id": st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
    "cause": st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**62))})
# A waiting occurrence names its request and carries its event timestamp together (spec §2.4.11).
WAITING_ON = st.just({}) | st.fixed_dictionaries({"request_id": TEXT, "event_timestamp": st.none() | FINITE})


def identified(cls: Any, *fields: st.SearchStrategy[dict[str, Any]], **kwargs: Any) -> st.SearchStrategy[Any]:
    """`st.builds(cls, **kwargs)` with each of `fields`' fields all set or all left out."""
    combined = st.tuples(OUTPUT_IDS, *fields).map(lambda parts: {k: v for part in parts for k, v in part.items()})
    return combined.flatmap(lambda chosen: st.builds(cls, **kwargs, **{k: st.just(v) for k, v in chosen.items()}))


CHANGES: st.SearchStrategy[Change] = st.one_of(
    identified(
        OccurrenceChange, **GROUP_CHANGE, occurrence=st.none() | DOCUMENT, occurrence_stored=st.booleans(),
        event=st.none() | DOCUMENT, environment=st.none() | TEXT, event_timestamp=st.none() | FINITE,
        is_new=st.booleans(), is_regression=st.booleans(), is_new_group_environment=st.booleans(),
        link=st.none() | st.builds(CreationLink, window=st.none() | st.tuples(FINITE, FINITE),
                                   ids=st.lists(TEXT, max_size=3).map(tuple), creator_id=TEXT,
                                   request_id=st.none() | TEXT),
        post_process=st.none() | st.lists(st.builds(
            PostProcessEntry, occurrence=DOCUMENT, event_timestamp=st.none() | FINITE, environment=st.none() | TEXT,
            times_seen=INT, is_new=st.booleans(), is_new_group_environment=st.booleans()), max_size=3).map(tuple),
    ),
    identified(StatusChange, **GROUP_CHANGE),
    identified(GrouplessOccurrence, WAITING_ON, **COMMON, outcome=st.sampled_from(["held_back", "pending_quota"]),
               type_id=INT, id=TEXT, occurrence=DOCUMENT, event=st.none() | DOCUMENT),
    identified(CountedDrop, **COMMON, outcome=st.just("duplicate"), type_id=INT, id=TEXT,
               count_id=st.none() | TEXT),
    st.builds(IngestDrop, t=FINITE, group_key=TEXT, project_id=INT, outcome=st.just("ingest_disabled"),
              type_id=INT, id=TEXT),
    identified(QuotaRefusal, **COMMON, type_id=INT, ids=st.lists(TEXT, max_size=3).map(tuple),
               request_id=st.none() | TEXT),
)


@settings(max_examples=300, deadline=None)
@given(CHANGES)
def test_every_change_comes_back_from_its_wire_form_as_it_was(change: Change) -> None:
    wire = encode_change(change)
    assert decode_change(wire) == change
    assert encode_change(decode_change(wire)) == wire
