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
    """Grants per granule index of one (project, type), and the offset watermark (spec §2.4.2).

    The answers given are not kept here but under their own keys (`{quota key}/{request id}`, the agent's
    windowed table), so this value stays small however many requests a busy project makes (spec §2.4.11).
    """

    grants: dict[int, int] = field(default_factory=dict)
    offset: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {"grants": {str(k): v for k, v in self.grants.items()}, "offset": self.offset}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> QuotaState:
        if not data:
            return cls()
        # A value written before the answers moved out also holds "decided": they are not needed any more.
        return cls(grants={int(k): v for k, v in data["grants"].items()}, offset=data["offset"])


@dataclass(frozen=True)
class QuotaDecision:
    state: QuotaState
    # The answer to send; None for a request read again at or below the watermark, whose answer was
    # acknowledged before its state was written (spec §2.4.6): there is nothing left to send.
    granted: bool | None
    redelivered: bool = False
    # A recorded grant the state had not counted yet (see decide_quota): the state is written, the answer not.
    recounted: bool = False

    @property
    def is_new(self) -> bool:
        """A first decision of this request id: its answer is recorded under its own key."""
        return not self.redelivered


def decide_quota(
    state: QuotaState, *, request_id: str, t: float, offset: int, rule: QuotaRule, decided: bool | None = None,
    decided_at: int | None = None,
) -> QuotaDecision:
    """Grant if fewer than `limit` grants lie in the w/g granules ending at floor(T/g) (spec §13.2.2).

    `decided`: the answer already given to this request id, if any, and `decided_at` the request offset it
    was given at. The same request sent again (by an owner that decided its occurrence again after a crash)
    gets the same answer and consumes nothing more. The agent writes a batch's answers before its states
    (spec §2.4.6): a grant recorded at an offset past the state's watermark was never counted in it (the
    worker died between the two writes), and is counted now, in its own granule, as it was when given.
    """
    if decided is not None:  # spec §13.2.3, §2.4.7
        if decided and decided_at is not None and decided_at > state.offset:
            index = int(t // rule.granularity_seconds)
            grants = {**state.grants, index: state.grants.get(index, 0) + 1}
            return QuotaDecision(QuotaState(grants, max(offset, decided_at)), decided, redelivered=True,
                                 recounted=True)
        return QuotaDecision(state, decided, redelivered=True)
    if offset <= state.offset:
        return QuotaDecision(state, None, redelivered=True)
    index = int(t // rule.granularity_seconds)
    size = rule.granules
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
    return QuotaDecision(QuotaState(grants, offset), granted)
