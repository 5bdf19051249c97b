"""The group changes the grouping owner sends the sink (group-changes topic): typed records and their wire form.

The core builds them (streams.core.decide, streams.core.messages) and the sink reads them (storage.sink_plan);
storage may not import streams, so they live here, pure: no database import. `to_wire()` gives the JSON object
the version before these records wrote, key for key and in the same order, and `change_from_wire` reads it
back, so workers of both versions can share the topic (tests/fixtures/group-changes-wire.jsonl). A change's output
id and cause (spec §2.4.7) are written only when set, so a change without them keeps that form byte for byte.

The occurrence and the event travel as the JSON documents the sink stores and forwards as they are; everything
around them is typed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import orjson

from storage.frozen import construct

# A JSON document stored and forwarded as it is: the normalised occurrence (spec §4), the event (spec §5.3).
Document = dict[str, Any]

# Decided at ingest, before any table remembers the input: counted once by an id from the input's coordinates.
INGEST_DROP_OUTCOMES = frozenset({"ingest_disabled"})

# A change's output id (spec §2.4.7): uuid5 of the grouping message's coordinates and the output's index, as 32 hex.
_OUTPUT_ID = re.compile(r"[0-9a-f]{32}")

# (partition, offset) of the grouping-topic message whose decision sent a change (spec §2.4.7).
Cause = tuple[int, int]
# (topic, partition, offset) of the input record a change is the outcome of: the sink records it in the
# ledger in the transaction that applies the change (spec §2.4.13). One change per input carries it.
InputCoordinates = tuple[str, int, int]


def _check_output_id(change_id: str | None, cause: Cause | None) -> None:
    """An id comes with its cause: the sink keeps the id until the grouping group commits past the cause."""
    if change_id is None and cause is None:
        return
    if change_id is None or cause is None:
        raise ValueError(f"a change id and its cause come together: change_id {change_id!r}, cause {cause!r}")
    if not _OUTPUT_ID.fullmatch(change_id):
        raise ValueError(f"a change id is 32 lowercase hex characters: {change_id!r}")
    if len(cause) != 2:
        raise ValueError(f"a change's cause is (partition, offset): {cause!r}")


@dataclass(frozen=True, slots=True)
class GroupState:
    """The owner's view of one live group: kept in the key's state, sent whole with each of its changes,
    upserted by the sink (the rules that change it are in streams.core.grouping)."""

    group_key: str
    project_id: int
    type_id: int
    generation: int
    status: int
    substatus: int | None
    substatus_since: float
    priority: int
    initial_priority: int
    priority_locked_at: float | None
    assignee: str | None
    first_seen: float
    last_seen: float
    times_seen: int
    level: int
    culprit: str
    title: str
    subtitle: str
    message: str
    platform: str | None
    created_at: float
    resolved_at: float | None = None
    environments: tuple[str, ...] = ()
    # Bumped by every change; the sink's upsert only applies a newer version.
    version: int = 1
    # The snooze of IGNORED/UNTIL_CONDITION_MET (spec §14.4, §12.7): escalate once times_seen has grown by
    # `snooze_count` from `times_seen_at_snooze`, or become ONGOING at `snooze_until`. None without one; a
    # state of the version before has none.
    snooze_count: int | None = None
    times_seen_at_snooze: int | None = None
    snooze_until: float | None = None
    # IGNORED/UNTIL_ESCALATING only (spec §12.7, §15.5.4): the forecast §15.5.2 stored (14 daily values, the
    # first for `forecast_date`, "YYYY-MM-DD"); None otherwise. And in every state, whatever the status: the
    # occurrences of the UTC hour that starts at `hour_start` (§12.7 compares them); None before the first
    # occurrence counted, and in a state of the versions before.
    forecast: tuple[int, ...] | None = None
    forecast_date: str | None = None
    hour_start: float | None = None
    hour_count: int | None = None

    @property
    def identity(self) -> tuple[str, int]:
        """The row it is stored as (spec §2.4.5: a deleted group's key comes back as the next generation)."""
        return self.group_key, self.generation

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _GROUP_FIELDS}
        data["environments"] = list(self.environments)
        # Only a snoozed group carries the snooze keys: every other value keeps the form and size of the
        # version before (its changelog is written once per occurrence).
        if self.snooze_count is not None or self.snooze_until is not None or self.times_seen_at_snooze is not None:
            data["snooze_count"] = self.snooze_count
            data["times_seen_at_snooze"] = self.times_seen_at_snooze
            data["snooze_until"] = self.snooze_until
        if self.forecast is not None or self.forecast_date is not None:
            data["forecast"] = list(self.forecast) if self.forecast is not None else None
            data["forecast_date"] = self.forecast_date
        if self.hour_start is not None or self.hour_count is not None:
            data["hour_start"] = self.hour_start
            data["hour_count"] = self.hour_count
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupState:
        forecast = data.get("forecast")
        return construct(cls, {**data, "environments": tuple(data.get("environments", ())),
                               "forecast": tuple(forecast) if forecast is not None else None})


_SNOOZE_FIELDS = ("snooze_count", "times_seen_at_snooze", "snooze_until")
_ESCALATION_FIELDS = ("forecast", "forecast_date", "hour_start", "hour_count")
_GROUP_FIELDS = tuple(field.name for field in fields(GroupState)
                      if field.name not in _SNOOZE_FIELDS and field.name not in _ESCALATION_FIELDS)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityRecord:
    """One activity of a group change (spec §8.6, §18.3), under its deterministic id (spec §18.2)."""

    id: str
    type: int
    data: dict[str, Any]
    datetime: float
    source: str  # "occurrence" or "status_change": the kind of message that caused it
    actor: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data, "datetime": self.datetime, "id": self.id,
                "source": self.source, "actor": self.actor}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ActivityRecord:
        return cls(id=wire["id"], type=wire["type"], data=wire["data"], datetime=wire["datetime"],
                   source=wire["source"], actor=wire.get("actor"))


@dataclass(frozen=True, slots=True, kw_only=True)
class CreationLink:
    """What a creation counted before the group existed, to be linked to it (spec §13.1.5, §13.2.5 step 4)."""

    # First and last T of the deciding noise window: its held-back occurrences are linked; None without noise.
    window: tuple[float, float] | None
    ids: tuple[str, ...]  # the first occurrences that waited for the quota answer (spec §2.4.11), the creator first
    creator_id: str
    # The quota request the occurrences waited on: the sink links every `pending_quota` row stored under it,
    # past the bound of `ids` too, and builds their post-process messages from them. None in a change of the
    # version before, which listed every waiter in `ids` and `post_process`.
    request_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire = {"window": list(self.window) if self.window is not None else None, "ids": list(self.ids),
                "creator_id": self.creator_id}
        if self.request_id is not None:
            wire["request_id"] = self.request_id
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> CreationLink:
        window = wire.get("window")
        return cls(window=(window[0], window[1]) if window else None, ids=tuple(wire["ids"]),
                   creator_id=wire["creator_id"], request_id=wire.get("request_id"))


@dataclass(frozen=True, slots=True, kw_only=True)
class PostProcessEntry:
    """One occurrence a creation applied, for its post-process message (spec §18.1)."""

    occurrence: Document  # without evidence_data
    event_timestamp: float | None
    environment: str | None
    times_seen: int  # the group's times_seen right after this occurrence
    is_new: bool
    is_new_group_environment: bool

    def to_wire(self) -> dict[str, Any]:
        return {"occurrence": self.occurrence, "event_timestamp": self.event_timestamp,
                "environment": self.environment, "times_seen": self.times_seen, "is_new": self.is_new,
                "is_new_group_environment": self.is_new_group_environment}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> PostProcessEntry:
        return cls(occurrence=wire["occurrence"], event_timestamp=wire.get("event_timestamp"),
                   environment=wire.get("environment"), times_seen=wire["times_seen"], is_new=wire["is_new"],
                   is_new_group_environment=wire["is_new_group_environment"])


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupChange:
    """A change of one live group, with the activities it recorded: the sink upserts the group (newest
    version wins), stores the activities and forwards them."""

    KIND: ClassVar[str]

    outcome: str
    t: float  # the decision time T' (spec §0.2)
    group_key: str
    project_id: int
    group: GroupState  # the group right after the change
    cause_id: str  # the id of the message that caused it
    activities: tuple[ActivityRecord, ...] = ()
    # Sent again after a crash (streams.core.decide.replayed_changes): applied only if not stored yet.
    replay: bool = False
    # The output id and the grouping message that caused it (spec §2.4.7): the sink applies an id at most once.
    change_id: str | None = None
    cause: Cause | None = None
    input: InputCoordinates | None = None  # the input record this outcome is of (spec §2.4.13)
    # The API change (spec §20.8.4) this is the outcome of: the sink records it in `api_changes`, where
    # `?wait=1` sees it applied. None for every other cause.
    api_change: str | None = None

    def __post_init__(self) -> None:
        _check_output_id(self.change_id, self.cause)

    @property
    def identity(self) -> tuple[str, int]:
        return self.group.identity


@dataclass(frozen=True, slots=True, kw_only=True)
class OccurrenceChange(GroupChange):
    """An occurrence applied to a live group, or the creation of a group (outcome `applied` or `created`)."""

    KIND: ClassVar[str] = "occurrence"

    occurrence: Document | None = None  # None for a creation: what it counted is stored already
    occurrence_stored: bool = False  # a creation: its occurrences are stored groupless, to be linked
    event: Document | None = None  # an embedded event to store (spec §5.6)
    environment: str | None = None
    event_timestamp: float | None = None
    is_new: bool = False
    is_regression: bool = False
    is_escalating: bool = False  # spec §12.7: the occurrence escalated its IGNORED group
    is_new_group_environment: bool = False
    link: CreationLink | None = None  # a creation: what it counted
    post_process: tuple[PostProcessEntry, ...] | None = None  # a creation: every occurrence it applied

    def to_wire(self) -> dict[str, Any]:
        wire = _group_change_wire(self, occurrence=self.occurrence, occurrence_stored=self.occurrence_stored,
                                  event=self.event, environment=self.environment,
                                  event_timestamp=self.event_timestamp, is_new=self.is_new,
                                  is_regression=self.is_regression,
                                  is_new_group_environment=self.is_new_group_environment,
                                  link=self.link.to_wire() if self.link is not None else None)
        if self.post_process is not None:
            wire["post_process"] = [entry.to_wire() for entry in self.post_process]
        if self.is_escalating:  # rare: every other change keeps the wire form of the version before
            wire["is_escalating"] = True
        return _identified(_replay_marked(wire, self.replay), self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> OccurrenceChange:
        link = wire.get("link")
        entries = wire.get("post_process")
        return construct(cls, {  # one per change the sink reads
            **_group_change_fields(wire),
            "occurrence": wire.get("occurrence"),
            "occurrence_stored": wire.get("occurrence_stored", False),
            "event": wire.get("event"),
            "environment": wire.get("environment"),
            "event_timestamp": wire.get("event_timestamp"),
            "is_new": wire.get("is_new", False),
            "is_regression": wire.get("is_regression", False),
            "is_escalating": wire.get("is_escalating", False),
            "is_new_group_environment": wire.get("is_new_group_environment", False),
            "link": CreationLink.from_wire(link) if link else None,
            "post_process": tuple(PostProcessEntry.from_wire(e) for e in entries) if entries is not None else None,
        })


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChange(GroupChange):
    """A status change applied to a live group (spec §14.3); never post-processed (spec §14.3.2)."""

    KIND: ClassVar[str] = "status_change"

    def to_wire(self) -> dict[str, Any]:
        return _occurrence_free_wire(self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> StatusChange:
        return cls(**_group_change_fields(wire))


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateChange(GroupChange):
    """An API `update` applied to a live group (spec §20.8): its priority, locked (§17), and its assignee.
    Like a status change it is never post-processed; its activities are forwarded."""

    KIND: ClassVar[str] = "update"

    def to_wire(self) -> dict[str, Any]:
        return _occurrence_free_wire(self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> UpdateChange:
        return cls(**_group_change_fields(wire))


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalLink:
    """A ticket created in, linked from or unlinked from an external tracker (spec §24.4)."""

    action: str  # "create", "link" or "unlink"
    tracker: str
    external_id: str
    url: str | None
    label: str
    title: str | None
    actor: str | None

    def to_wire(self) -> dict[str, Any]:
        return {"action": self.action, "tracker": self.tracker, "external_id": self.external_id, "url": self.url,
                "label": self.label, "title": self.title, "actor": self.actor}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ExternalLink:
        return cls(action=wire["action"], tracker=wire["tracker"], external_id=wire["external_id"],
                   url=wire.get("url"), label=wire["label"], title=wire.get("title"), actor=wire.get("actor"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalIssueChange(GroupChange):
    """An `external_issue` message applied to its live group (spec §24.4): the group as it is (no new version),
    a CREATE_ISSUE activity for create and link; the sink stores the link in `external_issues` and, after commit,
    sends the `issue_tracker.used` analytics record. `api_change` is the request id."""

    KIND: ClassVar[str] = "external_issue"

    external: ExternalLink

    def to_wire(self) -> dict[str, Any]:
        wire = _group_change_wire(self, occurrence=None, occurrence_stored=False, event=None, environment=None,
                                  event_timestamp=None, is_new=False, is_regression=False,
                                  is_new_group_environment=False, link=None)
        wire["external_issue"] = self.external.to_wire()
        return _identified(_replay_marked(wire, self.replay), self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ExternalIssueChange:
        return cls(**_group_change_fields(wire), external=ExternalLink.from_wire(wire["external_issue"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupDeletion:
    """An API `delete` (spec §20.9): the sink removes the group row of (group key, generation) and every row
    of it (spec §19). No activity and no post-process message."""

    KIND: ClassVar[str] = "delete"
    OUTCOME: ClassVar[str] = "deleted"

    t: float
    group_key: str
    project_id: int
    generation: int
    api_change: str | None = None
    replay: bool = False  # never set: a field every change has
    change_id: str | None = None  # spec §2.4.7, as on GroupChange
    cause: Cause | None = None
    input: InputCoordinates | None = None  # always None: an API message is no input record

    def __post_init__(self) -> None:
        _check_output_id(self.change_id, self.cause)

    @property
    def outcome(self) -> str:
        return self.OUTCOME

    @property
    def identity(self) -> tuple[str, int]:
        return self.group_key, self.generation

    def to_wire(self) -> dict[str, Any]:
        return _identified({
            "kind": self.KIND, "outcome": self.OUTCOME, "t": self.t, "group_key": self.group_key,
            "project_id": self.project_id, "generation": self.generation, "group": None, "occurrence": None,
        }, self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> GroupDeletion:
        return cls(t=wire["t"], group_key=wire["group_key"], project_id=wire["project_id"],
                   generation=wire["generation"], **_output_id_fields(wire), **_api_change_field(wire))


@dataclass(frozen=True, slots=True, kw_only=True)
class GrouplessOccurrence:
    """An occurrence stored without a group, under its outcome (spec §7.4): held back by the noise gate
    (§13.1.4) or waiting for the quota answer (§13.2.5); linked to the group a creation makes later."""

    outcome: str
    t: float
    group_key: str
    project_id: int
    type_id: int
    id: str
    occurrence: Document  # with the event's environment under "environment"
    event: Document | None = None
    replay: bool = False
    change_id: str | None = None  # spec §2.4.7, as on GroupChange
    cause: Cause | None = None
    input: InputCoordinates | None = None  # the input record this outcome is of (spec §2.4.13)
    # `pending_quota`: the quota request it waits on, and its event's timestamp; the sink keeps what its
    # post-process message needs under the request id until the answer (spec §2.4.11).
    request_id: str | None = None
    event_timestamp: float | None = None

    def __post_init__(self) -> None:
        _check_output_id(self.change_id, self.cause)

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "kind": "drop", "outcome": self.outcome, "t": self.t, "group_key": self.group_key,
            "project_id": self.project_id, "type_id": self.type_id, "id": self.id, "group": None,
            "occurrence": self.occurrence, "event": self.event,
        }
        if self.request_id is not None:
            wire["request_id"] = self.request_id
            wire["event_timestamp"] = self.event_timestamp
        return _identified(_replay_marked(wire, self.replay), self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> GrouplessOccurrence:
        return cls(outcome=wire["outcome"], t=wire["t"], group_key=wire["group_key"], project_id=wire["project_id"],
                   type_id=wire["type_id"], id=wire["id"], occurrence=wire["occurrence"], event=wire.get("event"),
                   replay=wire.get("replay", False), request_id=wire.get("request_id"),
                   event_timestamp=wire.get("event_timestamp"), **_output_id_fields(wire))

    def post_process_facts(self) -> dict[str, Any]:
        """What the post-process message of a waiting occurrence needs once its group exists (spec §18.1)."""
        return {
            "occurrence": {k: v for k, v in self.occurrence.items() if k not in ("evidence_data", "environment")},
            "event_timestamp": self.event_timestamp,
            "environment": self.occurrence.get("environment") or "",
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CountedDrop:
    """A drop the grouping owner decided whose occurrence is not stored (spec §7.4: `duplicate`, §12.3)."""

    outcome: str
    t: float
    group_key: str
    project_id: int
    type_id: int
    id: str  # the dropped occurrence's id
    # The dropped message's identity (outcome, key, grouping offset): counted once even when sent again.
    count_id: str | None
    replay: bool = False
    change_id: str | None = None  # spec §2.4.7, as on GroupChange; not `id`, the dropped occurrence's
    cause: Cause | None = None
    input: InputCoordinates | None = None  # the input record this outcome is of (spec §2.4.13)

    def __post_init__(self) -> None:
        _check_output_id(self.change_id, self.cause)

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "kind": "drop", "outcome": self.outcome, "t": self.t, "group_key": self.group_key,
            "project_id": self.project_id, "type_id": self.type_id, "id": self.id, "group": None,
            "occurrence": None, "event": None,
        }
        if self.count_id is not None:
            wire["count_id"] = self.count_id
        return _identified(_replay_marked(wire, self.replay), self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> CountedDrop:
        return cls(outcome=wire["outcome"], t=wire["t"], group_key=wire["group_key"], project_id=wire["project_id"],
                   type_id=wire["type_id"], id=wire["id"], count_id=wire.get("count_id"),
                   replay=wire.get("replay", False), **_output_id_fields(wire))


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestDrop:
    """A drop decided at ingest (spec §3.2 row 8, §10.3.1), counted once by its input-derived id (§2.4.1)."""

    outcome: str
    t: float
    group_key: str
    project_id: int
    type_id: int
    id: str  # derived from the input's coordinates: the same when the input is read again
    change_id: str | None = None  # spec §2.4.7, as on GroupChange
    cause: Cause | None = None
    input: InputCoordinates | None = None  # the input record this outcome is of (spec §2.4.13)

    def __post_init__(self) -> None:
        _check_output_id(self.change_id, self.cause)

    @property
    def count_id(self) -> str:
        return self.id

    def to_wire(self) -> dict[str, Any]:
        return _identified({
            "kind": "drop", "outcome": self.outcome, "t": self.t, "group_key": self.group_key,
            "project_id": self.project_id, "type_id": self.type_id, "id": self.id, "group": None,
            "occurrence": None,
        }, self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> IngestDrop:
        if wire.get("occurrence") is not None:
            raise ValueError(f"an ingest drop stores no occurrence: {wire['outcome']} {wire['id']}")
        return cls(outcome=wire["outcome"], t=wire["t"], group_key=wire["group_key"], project_id=wire["project_id"],
                   type_id=wire["type_id"], id=wire["id"], **_output_id_fields(wire))


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaRefusal:
    """The quota agent refused a creation: what waited is marked and counted `quota_refused` (§13.2.5 step 4)."""

    OUTCOME: ClassVar[str] = "quota_refused"

    t: float
    group_key: str
    project_id: int
    type_id: int
    ids: tuple[str, ...]  # the first occurrences stored `pending_quota` while the request was in flight (§2.4.11)
    replay: bool = False
    change_id: str | None = None  # spec §2.4.7, as on GroupChange
    cause: Cause | None = None
    input: InputCoordinates | None = None  # the input record this outcome is of (spec §2.4.13)
    # The refused request: every `pending_quota` row stored under it is refused, past the bound of `ids` too.
    # None in a change of the version before, whose `ids` listed every waiter.
    request_id: str | None = None

    def __post_init__(self) -> None:
        _check_output_id(self.change_id, self.cause)

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "kind": "quota_refused", "outcome": self.OUTCOME, "t": self.t, "group_key": self.group_key,
            "project_id": self.project_id, "type_id": self.type_id, "ids": list(self.ids), "group": None,
            "occurrence": None,
        }
        if self.request_id is not None:
            wire["request_id"] = self.request_id
        return _identified(_replay_marked(wire, self.replay), self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> QuotaRefusal:
        return cls(t=wire["t"], group_key=wire["group_key"], project_id=wire["project_id"], type_id=wire["type_id"],
                   ids=tuple(wire["ids"]), replay=wire.get("replay", False), request_id=wire.get("request_id"),
                   **_output_id_fields(wire))


@dataclass(frozen=True, slots=True, kw_only=True)
class InputNoop:
    """An input the owner decided changes nothing (a status change equal to the group's or escalating a group
    that is not ignored, spec §14.3 T1 and T6b, or one already applied within the dedupe window): nothing is
    stored, only its outcome is, in the ledger (spec §2.4.13)."""

    KIND: ClassVar[str] = "noop"

    outcome: str  # "noop", "ignored_escalation", "duplicate", "lost" or, for an API change, "group_not_found"
    t: float
    group_key: str
    project_id: int
    replay: bool = False  # never set: a field every change has
    change_id: str | None = None  # spec §2.4.7, as on GroupChange
    cause: Cause | None = None
    input: InputCoordinates | None = None  # the input record this outcome is of (spec §2.4.13)
    api_change: str | None = None  # the API change it is the outcome of, as on GroupChange

    def __post_init__(self) -> None:
        _check_output_id(self.change_id, self.cause)

    def to_wire(self) -> dict[str, Any]:
        return _identified({
            "kind": self.KIND, "outcome": self.outcome, "t": self.t, "group_key": self.group_key,
            "project_id": self.project_id, "group": None, "occurrence": None,
        }, self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> InputNoop:
        return cls(outcome=wire["outcome"], t=wire["t"], group_key=wire["group_key"], project_id=wire["project_id"],
                   **_output_id_fields(wire), **_api_change_field(wire))


Change = (OccurrenceChange | StatusChange | UpdateChange | GrouplessOccurrence | CountedDrop | IngestDrop
          | QuotaRefusal | InputNoop | GroupDeletion | ExternalIssueChange)
Drop = GrouplessOccurrence | CountedDrop | IngestDrop


def change_from_wire(wire: dict[str, Any]) -> Change:
    """The typed record of one group-changes message; ValueError for a message no version writes."""
    kind = wire.get("kind")
    if kind == OccurrenceChange.KIND:
        return OccurrenceChange.from_wire(wire)
    if kind == StatusChange.KIND:
        return StatusChange.from_wire(wire)
    if kind == UpdateChange.KIND:
        return UpdateChange.from_wire(wire)
    if kind == GroupDeletion.KIND:
        return GroupDeletion.from_wire(wire)
    if kind == ExternalIssueChange.KIND:
        return ExternalIssueChange.from_wire(wire)
    if kind == "drop":
        if wire["outcome"] in INGEST_DROP_OUTCOMES:
            return IngestDrop.from_wire(wire)
        if wire.get("occurrence") is None:
            return CountedDrop.from_wire(wire)
        return GrouplessOccurrence.from_wire(wire)
    if kind == "quota_refused":
        return QuotaRefusal.from_wire(wire)
    if kind == InputNoop.KIND:
        return InputNoop.from_wire(wire)
    raise ValueError(f"not a group change: kind {kind!r}")


def decode_change(value: bytes) -> Change:
    decoded = orjson.loads(value)
    if not isinstance(decoded, dict):
        raise ValueError("not a group change: expected a JSON object")
    return change_from_wire(decoded)


def encode_change(change: Change) -> bytes:
    return orjson.dumps(change.to_wire())


def _group_change_fields(wire: dict[str, Any]) -> dict[str, Any]:
    return {
        "outcome": wire["outcome"], "t": wire["t"], "group_key": wire["group_key"], "project_id": wire["project_id"],
        "group": GroupState.from_dict(wire["group"]), "cause_id": wire["cause_id"],
        "activities": tuple(ActivityRecord.from_wire(a) for a in wire.get("activities", ())),
        "replay": wire.get("replay", False), **_output_id_fields(wire), **_api_change_field(wire),
    }


def _group_change_wire(change: GroupChange, **occurrence_keys: Any) -> dict[str, Any]:
    return {
        "kind": change.KIND, "outcome": change.outcome, "t": change.t, "group_key": change.group_key,
        "project_id": change.project_id, "group": change.group.to_dict(), "cause_id": change.cause_id,
        "activities": [activity.to_wire() for activity in change.activities],
        **occurrence_keys,
    }


def _occurrence_free_wire(change: GroupChange) -> dict[str, Any]:
    """The wire form of a group change that carries no occurrence (a status change, an update): the occurrence
    keys are there, empty, so that every group change has one shape."""
    wire = _group_change_wire(change, occurrence=None, occurrence_stored=False, event=None, environment=None,
                              event_timestamp=None, is_new=False, is_regression=False,
                              is_new_group_environment=False, link=None)
    return _identified(_replay_marked(wire, change.replay), change)


def _replay_marked(wire: dict[str, Any], replay: bool) -> dict[str, Any]:
    if replay:
        wire["replay"] = True
    return wire


def _identified(wire: dict[str, Any], change: Any) -> dict[str, Any]:
    if change.change_id is not None and change.cause is not None:
        wire["change_id"] = change.change_id
        wire["cause"] = list(change.cause)
    if change.input is not None:
        wire["input"] = list(change.input)
    api_change = getattr(change, "api_change", None)
    if api_change is not None:  # written only when set: every other change keeps its form byte for byte
        wire["api_change"] = api_change
    return wire


def _output_id_fields(wire: dict[str, Any]) -> dict[str, Any]:
    cause = wire.get("cause")
    source = wire.get("input")
    return {"change_id": wire.get("change_id"), "cause": tuple(cause) if cause is not None else None,
            "input": (source[0], source[1], source[2]) if source is not None else None}


def _api_change_field(wire: dict[str, Any]) -> dict[str, Any]:
    return {"api_change": wire["api_change"]} if "api_change" in wire else {}
