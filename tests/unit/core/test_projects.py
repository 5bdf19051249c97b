"""Project settings checks (spec §11.1, §20.11.1) and the occurrence rate limit's decisions (§11.2, §12.2 step 3)."""
from __future__ import annotations

import pytest

from storage.changes import CountedDrop
from streams.core.decide import decide_occurrence
from streams.core.group_state import KeyState
from streams.core.grouping import Outcome
from streams.core.projects import (
    DEFAULT_RATE_LIMIT,
    InvalidSettings,
    RateLimit,
    check_patch,
    merged_settings,
    option_project_id,
    rate_limit_of,
    take_rate_unit,
)
from tests.unit.core.test_decide import DEDUPE, KEY, NO_NOISE, created_state, incoming


def errors_of(patch: object, project_id: int = 5) -> list[str]:
    with pytest.raises(InvalidSettings) as raised:
        check_patch(project_id, patch)
    return [error["path"] for error in raised.value.errors]


def test_a_patch_takes_any_subset_of_the_settings() -> None:
    assert check_patch(5, {"slug": "backend"}) == {"slug": "backend"}
    assert check_patch(5, {"resolve_age_hours": None}) == {"resolve_age_hours": None}
    assert check_patch(5, {"resolve_age_hours": 8760}) == {"resolve_age_hours": 8760}
    limit = check_patch(5, {"occurrence_rate_limit": {"enabled": True, "limit": 10}})["occurrence_rate_limit"]
    assert limit == {**DEFAULT_RATE_LIMIT, "enabled": True, "limit": 10}


def test_every_problem_is_listed_by_path() -> None:
    assert errors_of({"slug": "Bad Slug", "resolve_age_hours": 0, "colour": 1}) == ["colour", "slug",
                                                                                   "resolve_age_hours"]
    assert errors_of({}) == [""]
    assert errors_of([]) == [""]
    assert errors_of({"resolve_age_hours": True}) == ["resolve_age_hours"]
    assert errors_of({"resolve_age_hours": 8761}) == ["resolve_age_hours"]
    assert errors_of({"slug": "a" * 51}) == ["slug"]
    assert errors_of({"occurrence_rate_limit": {"enabled": "yes", "limit": 0, "burst": 1}}) == [
        "occurrence_rate_limit.burst", "occurrence_rate_limit.enabled", "occurrence_rate_limit.limit"]
    assert errors_of({"occurrence_rate_limit": {"window_seconds": 100, "granularity_seconds": 30}}) == [
        "occurrence_rate_limit.granularity_seconds"]
    assert errors_of({"occurrence_rate_limit": 5}) == ["occurrence_rate_limit"]


def test_p_and_an_id_is_reserved_for_that_project() -> None:  # the sink creates project 7 as p7
    assert errors_of({"slug": "p7"}, project_id=5) == ["slug"]
    assert check_patch(7, {"slug": "p7"}) == {"slug": "p7"}
    assert check_patch(5, {"slug": "p7x"}) == {"slug": "p7x"}


def test_a_partial_rate_limit_keeps_the_stored_fields() -> None:
    current = merged_settings(5, None, check_patch(5, {"occurrence_rate_limit": {"enabled": True, "limit": 3}}))
    off = check_patch(5, {"occurrence_rate_limit": {"enabled": False}}, current)
    assert off["occurrence_rate_limit"] == {**DEFAULT_RATE_LIMIT, "limit": 3}
    assert rate_limit_of(current) == RateLimit(3600, 60, 3)
    assert rate_limit_of(merged_settings(5, current, off)) is None
    assert rate_limit_of(None) is None


def test_option_names() -> None:
    assert option_project_id("project:12") == 12
    assert [option_project_id(name) for name in ("project:", "project:x", "project:0", "flag:a")] == [None] * 4


def test_the_sliding_window_grants_at_most_the_limit_per_window() -> None:  # spec §13.2.2
    rule = RateLimit(window_seconds=60, granularity_seconds=10, limit=3)
    used: dict[int, int] = {}
    granted = []
    for t in (0, 1, 15, 16, 55, 59, 60, 65, 70, 71):
        after = take_rate_unit(used, rule, t)
        granted.append(after is not None)
        used = after if after is not None else used
    # 0, 1, 15 fill the window; 16, 55, 59 are refused (granules 0-5 hold 3); at 60 granule 0 has left it
    # (two more: 0 and 1 were both in it); at 70 granule 1 (15's) leaves too: one more, then 71 is refused.
    assert granted == [True, True, True, False, False, False, True, True, True, False]
    assert min(used) >= 7 - 6 + 1


def test_an_enabled_limit_refuses_the_excess_of_a_key_counted_not_stored() -> None:  # spec §11.2, §12.2 step 3
    rule = RateLimit(window_seconds=3600, granularity_seconds=60, limit=2)
    state = created_state()  # offsets 0-1; one occurrence counted by no limit yet
    outcomes = []
    for n, offset in ((2, 2), (3, 3), (4, 4)):
        decision = decide_occurrence(state, incoming(n), group_key=KEY, offset=offset, t=2_100.0 + offset,
                                     rules=NO_NOISE, noise_before=None, seen=None, dedupe_seconds=DEDUPE,
                                     rate_limit=rule)
        outcomes.append(decision.outcome)
        state = decision.state
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.RATE_LIMITED]
    (drop,) = decision.changes
    assert isinstance(drop, CountedDrop) and drop.outcome == "rate_limited" and drop.count_id.endswith("@4")
    assert not decision.record_seen and state.offset == 4 and state.group is not None
    assert state.group.times_seen == 3
    assert KeyState.from_dict(state.to_dict()).rate == state.rate == {50: 2}  # T' is past the creation at 3,001
    again = decide_occurrence(state, incoming(4), group_key=KEY, offset=4, t=2_104.0, rules=NO_NOISE,
                              noise_before=None, seen=None, dedupe_seconds=DEDUPE, rate_limit=rule)
    assert again.outcome is Outcome.REDELIVERED  # a redelivery never consumes a second unit


def test_a_limit_also_counts_keys_without_a_group() -> None:  # "existing groups too": every occurrence
    rule = RateLimit(window_seconds=60, granularity_seconds=60, limit=1)
    first = decide_occurrence(KeyState(), incoming(1), group_key=KEY, offset=0, t=120.0, rules=NO_NOISE,
                              noise_before=None, seen=None, dedupe_seconds=DEDUPE, rate_limit=rule)
    second = decide_occurrence(first.state, incoming(2), group_key=KEY, offset=1, t=121.0, rules=NO_NOISE,
                               noise_before=None, seen=None, dedupe_seconds=DEDUPE, rate_limit=rule)
    assert (first.outcome, second.outcome) == (Outcome.PENDING_QUOTA, Outcome.RATE_LIMITED)


def test_without_a_limit_the_state_keeps_its_form() -> None:
    state = created_state()
    assert "rate" not in state.to_dict()
