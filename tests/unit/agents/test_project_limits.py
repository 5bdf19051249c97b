"""Grouping's view of the occurrence rate limits (spec §11.2): only enabled limits, rebuilt at most once a second."""
from __future__ import annotations

import pytest

from streams.agents import project_limits
from streams.core.projects import DEFAULT_RATE_LIMIT, RateLimit


def test_only_enabled_limits_are_held_and_a_rebuild_waits_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    table: dict[object, object] = {
        "project:3": {"value": {"occurrence_rate_limit": {**DEFAULT_RATE_LIMIT, "enabled": True, "limit": 9}},
                      "offset": 4},
        "project:4": {"value": {"occurrence_rate_limit": DEFAULT_RATE_LIMIT}, "offset": 5},
        "flag:a-ingest": {"value": {"stage": "ga"}, "offset": 1},
        "timers.scan_interval_seconds": {"value": 30, "offset": 2},
    }
    monkeypatch.setattr(project_limits, "options_table", table)
    monkeypatch.setattr(project_limits, "_next_refresh", 0.0)
    limits = project_limits.RATE_LIMITS
    limits.clear()
    project_limits.refresh(now=100.0)
    assert limits == {3: RateLimit(3600, 60, 9)}
    del table["project:3"]
    project_limits.refresh(now=100.5)  # not due yet
    assert 3 in limits
    project_limits.refresh(now=101.0)
    assert limits == {}
