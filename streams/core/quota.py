"""Creation quota per (project, type) as a sliding window of granules (spec §13.2.2, §13.2.3)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class QuotaRule:
    window_seconds: int
    granularity_seconds: int
    limit: int

    @property
    def granules(self) -> int:
        return self.window_seconds // self.granularity_seconds


@dataclass(frozen=True)
class QuotaState:
    """Grants per granule index, the answers already given (so a redelivered request gets the same one)."""

    grants: dict[int, int] = field(default_factory=dict)
    decided: dict[str, bool] = field(default_factory=dict)
    decided_at: dict[str, int] = field(default_factory=dict)  # request id → granule index, for pruning
    offset: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "grants": {str(k): v for k, v in self.grants.items()},
            "decided": dict(self.decided),
            "decided_at": dict(self.decided_at),
            "offset": self.offset,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> QuotaState:
        if not data:
            return cls()
        return cls(
            grants={int(k): v for k, v in data["grants"].items()},
            decided=dict(data["decided"]),
            decided_at=dict(data["decided_at"]),
            offset=data["offset"],
        )


@dataclass(frozen=True)
class QuotaDecision:
    state: QuotaState
    granted: bool
    redelivered: bool = False


def decide_quota(state: QuotaState, *, request_id: str, t: float, offset: int, rule: QuotaRule) -> QuotaDecision:
    """Grant if fewer than `limit` grants lie in the w/g granules ending at floor(T/g) (spec §13.2.2)."""
    if request_id in state.decided:
        # The same request again (re-produced after a crash): the same answer, nothing consumed (§13.2.3).
        return QuotaDecision(state, state.decided[request_id], redelivered=True)
    if offset <= state.offset:
        return QuotaDecision(state, False, redelivered=True)
    index = int(t // rule.granularity_seconds)
    size = rule.granules
    oldest = index - size + 1
    # Requests of one quota key come from many group keys, so T is not monotonic here: a grant is safe
    # only if every run of w/g granules that contains granule i stays under the limit, including runs
    # that end after i (exactness, spec §13.2.3). With T in order this is exactly the rule of §13.2.2.
    used = max(
        sum(count for granule, count in state.grants.items() if end - size < granule <= end)
        for end in range(index, index + size)
    )
    # State stays bounded: grants are kept for two windows behind the newest granule seen. A request
    # older than that cannot be checked exactly any more, so it is refused rather than risk an overspend.
    newest = max([index, *state.grants])
    horizon = newest - 2 * size + 1
    granted = used < rule.limit and index - size + 1 >= horizon
    grants = {granule: count for granule, count in state.grants.items() if granule >= horizon}
    if granted:
        grants[index] = grants.get(index, 0) + 1
    # Answers are remembered as long as a redelivery could still arrive: one window.
    decided = {rid: answer for rid, answer in state.decided.items() if state.decided_at[rid] >= oldest}
    decided_at = {rid: state.decided_at[rid] for rid in decided}
    decided[request_id] = granted
    decided_at[request_id] = index
    return QuotaDecision(QuotaState(grants, decided, decided_at, offset), granted)
