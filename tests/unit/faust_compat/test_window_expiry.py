"""Expired windows get a changelog delete marker on active partitions only (streams/faust_compat/window_expiry.py)."""
from __future__ import annotations

from heapq import heapify
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from streams.faust_compat import changelog_batches, window_expiry

CHANGELOG = "app-noise-8s-changelog"
ACTIVE, STANDBY = 0, 1


class FakeWindow:
    """A window range whose end is `ends` is stale once the clock is past it (Faust: end + expires)."""

    def stale(self, ends: float, now: float) -> bool:
        return ends < now


class FakeTable:
    def __init__(self, *, exactly_once: bool = False, on_window_close: Any = None) -> None:
        self.window = FakeWindow()
        self._on_window_close = on_window_close
        self.app = SimpleNamespace(in_transaction=exactly_once,
                                   assignor=SimpleNamespace(assigned_actives=lambda: {TP(CHANGELOG, ACTIVE)}))
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: CHANGELOG)
        self.last_closed_window = 0.0
        # Two partitions, each with an expired window (ends at 10) and a live one (ends far ahead).
        self.data: dict[Any, Any] = {}
        self._partition_timestamps: dict[int, list[float]] = {}
        self._partition_timestamp_keys: dict[tuple[int, float], set[Any]] = {}
        for partition in (ACTIVE, STANDBY):
            for ends in (10.0, 1e12):
                key = (f"key-{partition}", (ends - 8, ends))
                self.data[key] = {"count": 1}
                self._partition_timestamp_keys[(partition, ends)] = {key}
            self._partition_timestamps[partition] = [10.0, 1e12]
            heapify(self._partition_timestamps[partition])
        self.markers: list[tuple[int, Any, Any, Any]] = []

    def send_changelog(self, partition: int, key: Any, value: Any, value_serializer: Any = None) -> None:
        # What a marker must be: no value, raw, so Faust's serializer does not turn None into "null".
        self.markers.append((partition, key, value, value_serializer))


@pytest.fixture
def drained(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []

    async def drain(app: Any) -> None:
        calls.append(app)

    monkeypatch.setattr(changelog_batches, "drain", drain)
    return calls


async def test_an_expired_window_of_an_active_partition_gets_a_marker_and_is_dropped(drained: list[Any]) -> None:
    table = FakeTable()
    await window_expiry._del_old_keys_with_delete_markers(table)  # noqa: SLF001
    expired_active, expired_standby = ("key-0", (2.0, 10.0)), ("key-1", (2.0, 10.0))
    assert table.markers == [(ACTIVE, expired_active, None, "raw")]
    # Both expired windows leave the local store; a standby's without a marker (its owner writes that one).
    assert expired_active not in table.data and expired_standby not in table.data
    assert set(table.data) == {("key-0", (1e12 - 8, 1e12)), ("key-1", (1e12 - 8, 1e12))}
    assert table.last_closed_window == 2.0
    assert drained == [table.app]  # sent at once: an idle worker would not commit (and flush) for a long time


async def test_nothing_expired_sends_nothing(drained: list[Any]) -> None:
    table = FakeTable()
    for partition in (ACTIVE, STANDBY):
        table._partition_timestamps[partition] = [1e12]  # noqa: SLF001
    await window_expiry._del_old_keys_with_delete_markers(table)  # noqa: SLF001
    assert table.markers == [] and drained == [] and len(table.data) == 4


@pytest.mark.parametrize("settings", [{"exactly_once": True}, {"on_window_close": lambda key, value: None}])
async def test_faust_s_own_cleanup_runs_under_exactly_once_or_with_a_window_close_callback(
        monkeypatch: pytest.MonkeyPatch, drained: list[Any], settings: dict[str, Any]) -> None:
    original: list[Any] = []

    async def faust_cleanup(table: Any) -> None:
        original.append(table)

    monkeypatch.setattr(window_expiry, "_original_del_old_keys", faust_cleanup)
    table = FakeTable(**settings)
    await window_expiry._del_old_keys_with_delete_markers(table)  # noqa: SLF001
    assert original == [table] and table.markers == [] and drained == []
