"""What the grouping owner keeps per group key (the `groups` table) and per seen id, and how it is stored."""
from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from grouptypes import GroupType
from storage.frozen import construct
from streams.core.grouping import GroupState, OccurrenceFacts, shallow_dict
from streams.core.noise import NoiseState
from streams.core.status import StatusRequest


@dataclass(frozen=True)
class TypeRules:
    """What deciding needs of a group type (spec §9.2)."""

    type_id: int
    default_priority: int
    noise_limit: int | None = None  # NoiseConfig.ignore_limit; None or ≤ 1: no noise gate (§13.1.2)
    noise_seconds: int | None = None
    escalation_detection: bool = True  # spec §9.2, §12.7, §15.5.4

    @property
    def has_noise_gate(self) -> bool:
        return self.noise_limit is not None and self.noise_limit > 1


def type_rules(group_type: type[GroupType]) -> TypeRules:
    noise = group_type.noise_config
    return TypeRules(
        type_id=group_type.type_id,
        default_priority=int(group_type.default_priority),
        noise_limit=noise.ignore_limit if noise else None,
        noise_seconds=noise.expiry_seconds if noise else None,
        escalation_detection=group_type.enable_escalation_detection,
    )


# The waiting occurrence ids a pending key keeps (spec §2.4.11); the sink finds every waiter, these and
# those past the bound, by the request id their stored rows carry.
MAX_WAITING_IDS = 1000
# The status changes a pending key holds until its answer (spec §13.2.5 step 5, bounded like the waiters:
# each keeps its original bytes, for a dead letter on a refusal); one more is dead-lettered at once.
MAX_WAITING_STATUS_CHANGES = 100
# ... and at most this many bytes of them (a status change may carry 16 KiB of activity data), so the key's
# value stays far below the 1 MiB every table value must keep under.
MAX_WAITING_STATUS_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class InputOffset:
    """Where an input record was read: a partition of an input topic, and its offset there (spec §2.4.1)."""

    topic: str
    partition: int
    offset: int

    @property
    def partition_name(self) -> str:
        return f"{self.topic}:{self.partition}"

    def coordinates(self) -> tuple[str, int, int]:
        """(topic, partition, offset), as a change names its input for the ledger (spec §2.4.13)."""
        return self.topic, self.partition, self.offset

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True, slots=True)
class WaitingStatusChange:
    """A status change that reached a key whose creation waits for the quota answer (spec §13.2.5 step 5):
    applied right after the creation, in its order, or dead-lettered `group_not_found` on a refusal."""

    change_id: str
    new_status: int
    new_substatus: int | None
    t: float
    source: InputOffset | None
    raw_key: bytes | None  # the input's key and value as they came, for its dead letter
    raw: str
    # The rest of what it asks (StatusRequest.extras: activity fields, update_date, snooze), only those set.
    extras: Mapping[str, Any] = field(default_factory=dict)

    def request(self) -> StatusRequest:
        return StatusRequest(self.new_status, self.new_substatus, **self.extras)

    def to_dict(self) -> dict[str, Any]:
        source = self.source
        data = {"change_id": self.change_id, "new_status": self.new_status, "new_substatus": self.new_substatus,
                "t": self.t, "source": [source.topic, source.partition, source.offset] if source else None,
                "raw_key_b64": base64.b64encode(self.raw_key).decode("ascii") if self.raw_key is not None else None,
                "raw": self.raw}
        if self.extras:
            data["extras"] = dict(self.extras)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WaitingStatusChange:
        source = data.get("source")
        encoded = data.get("raw_key_b64")
        return cls(change_id=data["change_id"], new_status=data["new_status"], new_substatus=data["new_substatus"],
                   t=data["t"], source=InputOffset(source[0], source[1], source[2]) if source else None,
                   raw_key=base64.b64decode(encoded) if encoded is not None else None, raw=data["raw"],
                   extras=data.get("extras") or {})

    def stored_bytes(self) -> int:
        """What it adds to the key's value, in bytes (the bound counts these, not characters)."""
        return len(orjson.dumps(self.to_dict()))


@dataclass(frozen=True)
class Pending:
    """A quota request in flight for a key without a group (spec §13.2.5 steps 1 and 3).

    Bounded whatever the number of waiters (spec §2.4.11): counts, and at most MAX_WAITING_IDS ids. What a
    waiter's post-process message needs travels in its own `pending_quota` change, which the sink keeps
    under the request id until the answer.
    """

    request_id: str
    t: float
    creator: OccurrenceFacts
    latest: OccurrenceFacts
    times_seen: int
    first_seen: float
    last_seen: float
    environments: tuple[str, ...]
    # Bounds (first T, last T) of the deciding noise window: its held-back occurrences are linked (§13.1.5).
    link_window: tuple[float, float] | None
    # The first MAX_WAITING_IDS occurrences stored groupless while waiting, the creator first.
    waiting_ids: tuple[str, ...]
    # Every occurrence that waited, the creator included: the waiting_ids and those past the bound.
    waiting_count: int = 1
    # Status changes that came meanwhile, in their order (at most MAX_WAITING_STATUS_CHANGES).
    status_changes: tuple[WaitingStatusChange, ...] = ()

    def with_waiter(self, occurrence_id: str) -> tuple[tuple[str, ...], int]:
        """(waiting_ids, waiting_count) once one more occurrence waits."""
        ids = self.waiting_ids if len(self.waiting_ids) >= MAX_WAITING_IDS else (*self.waiting_ids, occurrence_id)
        return ids, self.waiting_count + 1

    def to_dict(self) -> dict[str, Any]:
        data = shallow_dict(self)
        data["creator"] = self.creator.to_dict()
        data["latest"] = self.latest.to_dict()
        data["environments"] = list(self.environments)
        data["waiting_ids"] = list(self.waiting_ids)
        data["link_window"] = list(self.link_window) if self.link_window else None
        if self.status_changes:
            data["status_changes"] = [change.to_dict() for change in self.status_changes]
        else:
            del data["status_changes"]  # the common case keeps the form of the version before
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pending:
        values = dict(data)
        values["creator"] = OccurrenceFacts.from_dict(values["creator"])
        values["latest"] = OccurrenceFacts.from_dict(values["latest"])
        values["environments"] = tuple(values["environments"])
        values["waiting_ids"] = tuple(values["waiting_ids"])
        # A state of the version before kept every waiter's post-process facts here (unbounded): dropped.
        values.pop("forwards", None)
        values.setdefault("waiting_count", len(values["waiting_ids"]))
        values["link_window"] = tuple(values["link_window"]) if values.get("link_window") else None
        values["status_changes"] = tuple(WaitingStatusChange.from_dict(c) for c in values.get("status_changes", ()))
        return cls(**values)


@dataclass(frozen=True)
class KeyState:
    """Everything the owner keeps per group key in the `groups` table."""

    offset: int = -1  # watermark: last grouping offset applied to this key (spec §2.4.2)
    last_t: float = 0.0  # the monotonic decision time T' (spec §0.2)
    generation: int = 0
    group: GroupState | None = None
    pending: Pending | None = None
    # Per input partition that fed the key ("topic:partition"), the highest input offset applied: an input
    # read again, at any later time, is recognised by it (spec §2.4.10).
    inputs: Mapping[str, int] = field(default_factory=dict)
    # The longest noise window any occurrence of this key was counted in (0: none). It bounds how long an
    # idle key must be kept (`keep_seconds`); None for a state written before it was recorded: unknown.
    noise_seconds: int | None = 0
    # The grouping offset of the last API delete of this key's group (spec §20.9), -1 without one: noise counted
    # at or below it belonged to the deleted group, and a new group starts its noise gate afresh (spec §19).
    noise_floor: int = -1
    # Occurrences counted per granule index by the project's occurrence rate limit (spec §11.2), while it is on.
    rate: Mapping[int, int] = field(default_factory=dict)
    # The group's entries in the `timer-index` table (spec §15.1), check → the time each holds
    # (streams.core.timers.wanted_entries): the owner knows them without reading the index.
    timers: Mapping[str, float] = field(default_factory=dict)

    def noise_after_delete(self, window: NoiseState | None) -> NoiseState | None:
        """A noise window as the next group sees it: None when all it counted belonged to a deleted group."""
        return None if window is not None and window.offset <= self.noise_floor else window

    def has_applied(self, source: InputOffset | None) -> bool:
        """The input record `source` was applied to this key before (spec §2.4.10)."""
        return source is not None and self.inputs.get(source.partition_name, -1) >= source.offset

    def with_input(self, source: InputOffset | None) -> Mapping[str, int]:
        """`inputs` once `source` is applied."""
        if source is None or self.inputs.get(source.partition_name, -1) >= source.offset:
            return self.inputs
        return {**self.inputs, source.partition_name: source.offset}

    def to_dict(self) -> dict[str, Any]:
        data = {
            "offset": self.offset,
            "last_t": self.last_t,
            "generation": self.generation,
            "group": self.group.to_dict() if self.group else None,
            "pending": self.pending.to_dict() if self.pending else None,
            "inputs": dict(self.inputs),
            "noise_seconds": self.noise_seconds,
        }
        if self.noise_floor >= 0:  # only a key whose group was deleted: every other value keeps its form
            data["noise_floor"] = self.noise_floor
        if self.rate:  # only while a rate limit counts this key
            data["rate"] = {str(granule): count for granule, count in self.rate.items()}
        if self.timers:  # only a live group's value has them
            data["timers"] = dict(self.timers)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> KeyState:
        if not data:
            return cls()
        return construct(cls, {  # once per key and batch in the grouping agent
            "offset": data["offset"],
            "last_t": data["last_t"],
            "generation": data.get("generation", 0),
            "group": GroupState.from_dict(data["group"]) if data.get("group") else None,
            "pending": Pending.from_dict(data["pending"]) if data.get("pending") else None,
            "inputs": data.get("inputs") or {},
            "noise_seconds": data.get("noise_seconds"),
            "noise_floor": data.get("noise_floor", -1),
            "rate": {int(granule): count for granule, count in data["rate"].items()} if "rate" in data else {},
            "timers": data.get("timers") or {},
        })


@dataclass(frozen=True)
class SeenRecord:
    """A dedupe window entry: when (T) and from which offset an id was recorded (spec §12.3)."""

    t: float
    offset: int
    # The input record it came from ("topic:partition:offset"); None in entries written before it was kept.
    source: str | None = None
