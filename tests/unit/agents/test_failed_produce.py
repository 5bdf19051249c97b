"""The sensor that stops the worker on a failed produce (spec §2.4.8)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from streams.agents import failure
from streams.settings import SettingsError, load_settings


def test_a_failed_produce_stops_the_worker_with_one_line_naming_topic_and_partition(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    exits: list[int] = []
    monkeypatch.setattr(failure.os, "_exit", exits.append)
    sensor = failure.StopOnFailedProduce()
    state = sensor.on_send_initiated(None, "p.issue-platform-group-changes", SimpleNamespace(partition=7, key=b"k"), 1, 1)
    sensor.on_send_error(None, TimeoutError("delivery timed out"), state)
    assert exits == [failure.EXIT_CODE]
    [record] = [r for r in caplog.records if r.name == failure.log.name]
    assert "p.issue-platform-group-changes (partition 7) failed: TimeoutError: delivery timed out" in record.getMessage()
    assert record.exc_info is None  # one line, no traceback


def test_a_keyed_record_without_a_partition_is_named_by_its_key(monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(failure.os, "_exit", lambda code: None)
    sensor = failure.StopOnFailedProduce()
    state = sensor.on_send_initiated(None, "t", SimpleNamespace(partition=None, key="1:abc"), 1, 1)
    sensor.on_send_error(None, RuntimeError("x"), state)
    assert "the partition of key '1:abc'" in caplog.text


def test_fault_injection_is_refused_in_production() -> None:
    assert load_settings(fault_injection="fail_produce:issue-platform-grouping:2").fault_injection
    with pytest.raises(SettingsError, match="ISSUE_PLATFORM_FAULT_INJECTION is for tests only"):
        load_settings(fault_injection="fail_produce:issue-platform-grouping:2", production=True)
    with pytest.raises(SettingsError, match="ISSUE_PLATFORM_FAULT_INJECTION"):
        load_settings(fault_injection="drop everything")
