"""Noise windows (spec §13.1): the aggregate of the occurrences counted in one hopping window of a key."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# Hopping windows of size W step W/4 (spec §13.1.3).
STEPS_PER_WINDOW = 4


def window_step(expiry_seconds: int) -> int:
    """Whole seconds (spec §13.1.3); at least one."""
    return max(1, expiry_seconds // STEPS_PER_WINDOW)


def deciding_window_delta(expiry_seconds: int) -> int:
    """How far back to look so Faust's `.delta()` returns the earliest window containing T (§13.1.3)."""
    return expiry_seconds - window_step(expiry_seconds)


@dataclass(frozen=True)
class NoiseState:
    """What one window knows about a key: an aggregate, never the occurrences themselves (§13.1.5)."""

    count: int
    earliest_event: float  # event timestamps, epoch seconds
    latest_event: float
    first_t: float  # decision time of the first counted occurrence
    last_t: float
    type_id: int
    offset: int  # watermark: the last grouping offset counted here (spec §2.4.2)
    # The window as it stood at the key's state watermark, before the counts that state does not cover yet
    # (None: empty then): see `as_of`. Never nested: a snapshot has no `before` of its own.
    before: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        # Not `asdict`: it deep-copies `before` and walks the fields generically (four windows per count).
        return {"count": self.count, "earliest_event": self.earliest_event, "latest_event": self.latest_event,
                "first_t": self.first_t, "last_t": self.last_t, "type_id": self.type_id, "offset": self.offset,
                "before": self.before}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> NoiseState | None:
        return cls(**data) if data else None


@dataclass(frozen=True)
class NoiseCount:
    """One occurrence's contribution to every window that contains its T."""

    event_timestamp: float
    t: float
    type_id: int
    offset: int
    # The grouping offset of the key's last API delete (spec §20.9, §19), -1 without one: a window that counted
    # nothing after it holds the deleted group's noise and starts again from this occurrence.
    floor: int = -1
    # The key's state watermark (KeyState.offset as last written, before this batch) the count is made
    # against; None keeps no snapshot (see `as_of`).
    watermark: int | None = None


def count_in_window(current: dict[str, Any] | None, contribution: NoiseCount) -> dict[str, Any]:
    """Window operation: add one occurrence, unless this window already counted its offset.

    On the stored dicts, as `NoiseState.to_dict` lays them out: it runs for each of the four windows that
    contain an occurrence's T, on every write and on every read of a batch's own counts."""
    if current and current["offset"] > contribution.floor and contribution.offset <= current["offset"]:
        return {**current, "before": _recounted(current.get("before"), contribution)}
    before = _snapshot(current, contribution.watermark)
    if not current or current["offset"] <= contribution.floor:
        return {"count": 1, "earliest_event": contribution.event_timestamp,
                "latest_event": contribution.event_timestamp, "first_t": contribution.t, "last_t": contribution.t,
                "type_id": contribution.type_id, "offset": contribution.offset, "before": before}
    return {"count": current["count"] + 1,
            "earliest_event": min(current["earliest_event"], contribution.event_timestamp),
            "latest_event": max(current["latest_event"], contribution.event_timestamp),
            "first_t": current["first_t"], "last_t": max(current["last_t"], contribution.t),
            "type_id": current["type_id"], "offset": contribution.offset, "before": before}


def _recounted(before: dict[str, Any] | None, contribution: NoiseCount) -> dict[str, Any] | None:
    """The `before` of a window that already counted `contribution`: an input read again after a worker died
    between a batch's counts and its keys' states. Its key's state is about to cover it, so the window as that
    state knows it must count it too: the key's next input read again (say in the next batch, if the batch
    read again holds only part of the one that died) reads `before` (`as_of`), which still stopped at the old
    watermark, and would be decided on one occurrence too few, not as it was decided the first time."""
    if contribution.watermark is None or (before is not None and before["offset"] >= contribution.offset):
        return before
    recounted = count_in_window(before, replace(contribution, watermark=None))
    recounted.pop("before", None)
    return recounted


def _snapshot(current: dict[str, Any] | None, watermark: int | None) -> dict[str, Any] | None:
    """The `before` of a window counting one more: the window itself while it holds nothing past the key's
    state watermark, else the snapshot it already carries (taken at the first count past the watermark)."""
    if watermark is None or not current:  # a window the table has no value for reads as {}
        return None
    if current["offset"] <= watermark:
        return {name: value for name, value in current.items() if name != "before"}
    return current.get("before")  # type: ignore[no-any-return]


def as_of(window: dict[str, Any] | None, watermark: int) -> dict[str, Any] | None:
    """A stored window as the key's state at `watermark` (KeyState.offset) knew it (spec §2.4.6, §2.4.10).

    A batch writes its noise counts before the keys' states (streams/agents/grouping.py); a worker killed
    between the two leaves windows holding counts of inputs its key's state does not cover. Those inputs
    are read again and counted again, and their decisions must be the ones already sent (same output ids,
    applied once): so they are decided against the window as it was, not against one that already holds
    the later inputs of the same batch.
    """
    if not window or window["offset"] <= watermark:
        return window
    return window.get("before")  # type: ignore[no-any-return]


def counted(before: NoiseState | None, contribution: NoiseCount) -> NoiseState:
    """The deciding window's state after counting (the same arithmetic as `count_in_window`)."""
    after = count_in_window(before.to_dict() if before else None, contribution)
    return NoiseState(**after)


@dataclass(frozen=True, slots=True)
class NoiseVerdict:
    """The noise gate's answer for one occurrence of a key without a group (spec §13.1.4, §13.1.5)."""

    contribution: NoiseCount  # what the occurrence adds to every window that contains its T
    deciding: NoiseState  # the deciding window once the occurrence is counted in it
    held_back: bool  # fewer than the limit counted: stored groupless, no group is asked for


def noise_gate(
    before: NoiseState | None, *, limit: int, type_id: int, event_timestamp: float, t: float, offset: int,
    floor: int = -1,
) -> NoiseVerdict:
    """Count the occurrence in the deciding window and hold it back while the count is under `limit`.

    `before` is the deciding window as the table holds it (the earliest window that contains T, §13.1.3);
    `t` is the decision time T' in which the sink links exactly what was counted (§13.1.5); `floor` the offset
    of the key's last delete, at or below which a window's counts belong to the deleted group (NoiseCount.floor).
    """
    contribution = NoiseCount(event_timestamp, t, type_id, offset, floor)
    deciding = counted(before, contribution)
    return NoiseVerdict(contribution, deciding, held_back=deciding.count < limit)
