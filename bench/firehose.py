"""A seeded detector firehose for end-to-end runs: the input messages, and the outcome Postgres must end with.

Many projects, each with group keys of three built-in types: 2001 (no noise gate, the default creation
quota), 1008 (a noise gate, NoiseConfig ignore_limit 3, the default creation quota) and 4001 (no noise
gate, a large quota: the long tail). Occurrences pick their key from a Zipf distribution over all keys,
so a few groups are hot and most see one or two occurrences (a 1008 key seen fewer than 3 times never
becomes a group: its occurrences are `held_back`). On top: a share of detector duplicates (the same
occurrence sent again, byte for byte: spec §12.3 `duplicate`), a share of invalid messages (each one DLQ
entry with a known reason, §7.2) and, last, a few status changes of groups that exist by then (§14).

The outcome is known without running anything, because the workload stays where the spec leaves no
choice to timing: a key of a quota-limited type never has more group keys per project than its quota
allows in an hour (§13.2), every noise window is far larger than a run (§13.1.3), every message is keyed
by `"{fingerprint[0]}-{project_id}"` as the reference producer does, so a group's messages share an input
partition and keep their order (§2.3.3), and the status changes come after every occurrence. Send the
status changes once the occurrences' outcome is in Postgres, as a detector resolving what it reported
earlier would: one that reaches a group whose creation still waits for its quota answer is dead-lettered
as `group_not_found` by the code of 2026-11 (spec §13.2.5.5 says it should wait), so in the same burst
their outcome would depend on timing.

Everything is a function of the config: the same seed and base time give the same bytes.
"""
from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from grouptypes import default_registry
from streams.core.enums import GroupStatus, GroupSubStatus
from streams.core.fingerprint import group_key, hash_fingerprint
from streams.core.rejection import Reason

# (type id, group keys of that type per project). The quota-limited types stay below their hourly quota.
TYPE_MIX: tuple[tuple[int, int], ...] = ((2001, 4), (1008, 4), (4001, 16))

# Each invalid message is a valid occurrence broken in one way; the reason is the one spec §3.2 gives it.
INVALID_KINDS: tuple[Reason, ...] = (
    Reason.INVALID_JSON,
    Reason.INVALID_PAYLOAD_TYPE,
    Reason.INVALID_FIELD,
    Reason.UNKNOWN_GROUP_TYPE,
    Reason.EVENT_PROJECT_MISMATCH,
)
UNREGISTERED_TYPE = 1  # spec §9.6: type 1 (`error`) is deliberately not registered

# (new_status, new_substatus) of the status changes, used in turn: resolve, archive forever (§14).
STATUS_CHANGES: tuple[tuple[int, int | None], ...] = (
    (GroupStatus.RESOLVED, None),
    (GroupStatus.IGNORED, GroupSubStatus.FOREVER),
)
CREATED = (GroupStatus.UNRESOLVED, GroupSubStatus.NEW)  # spec §13.3.1

_TITLES: dict[int, tuple[str, str, str]] = {
    2001: ("File I/O on Main Thread", "open('/etc/app.conf') blocked the UI thread", "app.io.read_config"),
    1008: ("File IO on Main Thread", "/data/user/0/com.example/files/cache.db", "com.example.storage.CacheStore.load"),
    4001: ("Monitor failure", "Your monitor has reached its failure threshold.", ""),
}
_ENVIRONMENTS = ("production", "production", "production", "staging")


class Kind(StrEnum):
    OCCURRENCE = "occurrence"  # a valid occurrence, first copy
    DUPLICATE = "duplicate"  # the same bytes again (a detector retry)
    INVALID = "invalid"  # ends as one DLQ entry
    STATUS_CHANGE = "status_change"


@dataclass(frozen=True)
class FirehoseConfig:
    # Occurrence messages on the input topic: valid ones, duplicate copies and invalid ones together.
    occurrences: int = 6000
    projects: int = 60
    first_project_id: int = 1
    zipf_exponent: float = 1.1
    duplicate_share: float = 0.03
    invalid_share: float = 0.01
    status_changes: int = 24
    seed: int = 15
    # Event timestamps and detection times start here (epoch seconds); the outcome does not depend on it.
    base_time: float = 1_795_000_000.0


@dataclass(frozen=True)
class GroupKeySpec:
    project_id: int
    type_id: int
    fingerprint: str
    group_key: str
    noise_limit: int  # occurrences needed before a group is created; 1 without a noise gate

    @property
    def input_key(self) -> bytes:
        return f"{self.fingerprint}-{self.project_id}".encode()


@dataclass(frozen=True)
class InputMessage:
    key: bytes
    value: bytes
    kind: Kind
    group_key: str | None
    reason: Reason | None = None  # for Kind.INVALID: the DLQ reason it must get


@dataclass(frozen=True)
class ExpectedGroup:
    project_id: int
    type_id: int
    times_seen: int
    status: int
    substatus: int | None


@dataclass(frozen=True)
class GroundTruth:
    groups: dict[str, ExpectedGroup]  # by group key
    stored_occurrences: int  # occurrence rows: every valid occurrence, counted once
    held_back: int  # drop counter `held_back` (§7.4), summed over projects and types
    duplicates: int  # drop counter `duplicate`
    dlq_by_reason: dict[str, int]
    status_changes: int

    @property
    def dlq_entries(self) -> int:
        return sum(self.dlq_by_reason.values())

    @property
    def times_seen_total(self) -> int:
        return sum(group.times_seen for group in self.groups.values())

    def summary(self) -> dict[str, Any]:
        by_type = Counter(group.type_id for group in self.groups.values())
        return {
            "groups": len(self.groups),
            "groups_by_type": {str(type_id): count for type_id, count in sorted(by_type.items())},
            "times_seen_total": self.times_seen_total,
            "hottest_group_times_seen": max((g.times_seen for g in self.groups.values()), default=0),
            "groups_seen_once": sum(1 for g in self.groups.values() if g.times_seen == 1),
            "stored_occurrences": self.stored_occurrences,
            "held_back": self.held_back,
            "duplicates": self.duplicates,
            "dlq_entries": self.dlq_entries,
            "dlq_by_reason": dict(sorted(self.dlq_by_reason.items())),
            "status_changes": self.status_changes,
        }


@dataclass(frozen=True)
class Firehose:
    config: FirehoseConfig
    keys: list[GroupKeySpec]
    messages: list[InputMessage] = field(repr=False)
    truth: GroundTruth

    def count(self, kind: Kind) -> int:
        return sum(1 for message in self.messages if message.kind is kind)

    @property
    def occurrence_messages(self) -> list[InputMessage]:
        """Valid, duplicate and invalid occurrences, in send order."""
        return [message for message in self.messages if message.kind is not Kind.STATUS_CHANGE]

    @property
    def status_change_messages(self) -> list[InputMessage]:
        return [message for message in self.messages if message.kind is Kind.STATUS_CHANGE]


def key_catalogue(config: FirehoseConfig) -> list[GroupKeySpec]:
    """Every group key the workload may use, checked against the types' noise gates and quotas."""
    registry = default_registry
    keys: list[GroupKeySpec] = []
    for type_id, per_project in TYPE_MIX:
        group_type = registry.get_by_type_id(type_id)
        if per_project >= group_type.creation_quota.limit:
            raise ValueError(f"{per_project} keys of type {type_id} per project could be refused by its quota "
                             f"({group_type.creation_quota.limit} an hour): the outcome would depend on timing")
        noise = group_type.noise_config
        noise_limit = noise.ignore_limit if noise is not None and noise.ignore_limit > 1 else 1
        for project_id in range(config.first_project_id, config.first_project_id + config.projects):
            for index in range(per_project):
                fingerprint = f"bench-{type_id}-{project_id}-{index}"
                keys.append(GroupKeySpec(project_id, type_id, fingerprint,
                                         group_key(project_id, hash_fingerprint([fingerprint])), noise_limit))
    return keys


def generate(config: FirehoseConfig) -> Firehose:
    rng = random.Random(config.seed)
    keys = key_catalogue(config)
    invalid = round(config.occurrences * config.invalid_share)
    duplicates = round(config.occurrences * config.duplicate_share)
    valid = config.occurrences - invalid - duplicates
    if valid < 1:
        raise ValueError("no valid occurrence left: lower the duplicate and invalid shares")

    # Zipf over the keys in a seeded order, so hot keys fall on every type and project.
    ranked = keys[:]
    rng.shuffle(ranked)
    weights = [1.0 / (rank ** config.zipf_exponent) for rank in range(1, len(ranked) + 1)]
    picks = rng.choices(ranked, weights=weights, k=valid)

    clock = _Clock(config.base_time)
    messages = [_occurrence_message(spec, rng, clock) for spec in picks]
    # A duplicate goes somewhere after its original: the second copy is the one counted as `duplicate`.
    for original_index in sorted(rng.sample(range(valid), duplicates), reverse=True):
        original = messages[original_index]
        position = rng.randint(original_index + 1, len(messages))
        messages.insert(position, InputMessage(original.key, original.value, Kind.DUPLICATE, original.group_key))
    for index in range(invalid):
        spec = rng.choice(keys)
        reason = INVALID_KINDS[index % len(INVALID_KINDS)]
        messages.insert(rng.randint(0, len(messages)), _invalid_message(spec, reason, rng, clock))

    seen = Counter(spec.group_key for spec in picks)
    by_key = {spec.group_key: spec for spec in keys}
    created = sorted(key for key, count in seen.items() if count >= by_key[key].noise_limit)
    statuses = {key: CREATED for key in created}
    for index, key in enumerate(rng.sample(created, min(config.status_changes, len(created)))):
        status, substatus = STATUS_CHANGES[index % len(STATUS_CHANGES)]
        messages.append(_status_change_message(by_key[key], status, substatus, rng, clock))
        statuses[key] = (status, substatus)

    truth = GroundTruth(
        groups={key: ExpectedGroup(by_key[key].project_id, by_key[key].type_id, seen[key],
                                   int(statuses[key][0]), _optional_int(statuses[key][1]))
                for key in created},
        stored_occurrences=valid,
        held_back=sum(min(count, by_key[key].noise_limit - 1) for key, count in seen.items()),
        duplicates=duplicates,
        dlq_by_reason=dict(Counter(str(INVALID_KINDS[index % len(INVALID_KINDS)]) for index in range(invalid))),
        status_changes=min(config.status_changes, len(created)),
    )
    return Firehose(config, keys, messages, truth)


def _optional_int(value: int | None) -> int | None:
    return None if value is None else int(value)


class _Clock:
    """Event and detection times: one step per message, so the order of event timestamps is the send order."""

    def __init__(self, base_time: float) -> None:
        self._next = base_time

    def tick(self) -> float:
        now = self._next
        self._next = round(self._next + 0.001, 3)
        return now


def _uuid(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex


def _occurrence(spec: GroupKeySpec, rng: random.Random, clock: _Clock) -> dict[str, Any]:
    """A valid occurrence with an embedded event (spec §4, §5), shaped like tests/fixtures/occurrence-*.json."""
    when = clock.tick()
    title, subtitle, culprit = _TITLES[spec.type_id]
    duration = rng.randint(20, 2000)
    return {
        "payload_type": "occurrence",
        "id": _uuid(rng),
        "project_id": spec.project_id,
        "fingerprint": [spec.fingerprint],
        "type": spec.type_id,
        "issue_title": title,
        "subtitle": subtitle,
        "culprit": culprit,
        "level": "warning",
        "detection_time": when,
        "evidence_display": [
            {"name": "Duration", "value": f"{duration} ms", "important": True},
            {"name": "Path", "value": "/etc/app.conf", "important": False},
        ],
        "evidence_data": {"duration_ms": duration, "frame": "app/io.py:41"},
        "event": {
            "event_id": _uuid(rng),
            "project_id": spec.project_id,
            "platform": "python",
            "timestamp": when,
            "environment": rng.choice(_ENVIRONMENTS),
            "release": "app@1.4.2",
            "tags": {"os": "linux", "device": "pixel-7"},
        },
    }


def _occurrence_message(spec: GroupKeySpec, rng: random.Random, clock: _Clock) -> InputMessage:
    return InputMessage(spec.input_key, orjson.dumps(_occurrence(spec, rng, clock)), Kind.OCCURRENCE, spec.group_key)


def _invalid_message(spec: GroupKeySpec, reason: Reason, rng: random.Random, clock: _Clock) -> InputMessage:
    document = _occurrence(spec, rng, clock)
    if reason is Reason.INVALID_JSON:
        encoded = orjson.dumps(document)
        value = encoded[: len(encoded) // 2]  # cut off mid-way, as a broken producer would
    else:
        if reason is Reason.INVALID_PAYLOAD_TYPE:
            document["payload_type"] = "Occurrence"
        elif reason is Reason.INVALID_FIELD:
            document["fingerprint"] = []
        elif reason is Reason.UNKNOWN_GROUP_TYPE:
            document["type"] = UNREGISTERED_TYPE
        elif reason is Reason.EVENT_PROJECT_MISMATCH:
            document["event"]["project_id"] = str(spec.project_id)
        else:
            raise ValueError(f"no invalid message of kind {reason}")
        value = orjson.dumps(document)
    return InputMessage(spec.input_key, value, Kind.INVALID, None, reason)


def _status_change_message(spec: GroupKeySpec, status: int, substatus: int | None, rng: random.Random,
                           clock: _Clock) -> InputMessage:
    document = {
        "payload_type": "status_change",
        "id": f"bench-status-{_uuid(rng)}",
        "fingerprint": [spec.fingerprint],
        "project_id": spec.project_id,
        "new_status": int(status),
        "new_substatus": _optional_int(substatus),
        "update_date": clock.tick(),
    }
    return InputMessage(spec.input_key, orjson.dumps(document), Kind.STATUS_CHANGE, spec.group_key)
