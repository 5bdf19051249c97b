"""The hourly housekeeping never stops the worker: offsets it cannot read prune nothing, in one warning (§2.4.7)."""
from __future__ import annotations

import logging
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from streams.timers import housekeeping


async def test_offsets_that_cannot_be_read_prune_nothing_and_say_so_in_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def unreachable(*args: Any, **kwargs: Any) -> dict[int, int]:
        raise KafkaConnectionError("no Kafka broker answers at 127.0.0.1:1")

    async def no_database() -> Any:
        raise AssertionError("nothing may be pruned without the committed offsets")

    monkeypatch.setattr(housekeeping, "prune_limits", unreachable)
    monkeypatch.setattr(housekeeping.postgres, "get", no_database)
    with caplog.at_level(logging.INFO, logger=housekeeping.log.name):
        await housekeeping.forget_applied_change_ids()
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        ("WARNING", ("sink_applied_changes: pruning nothing, retrying in an hour: the consumer group's committed "
                     "offsets could not be read: KafkaConnectionError: no Kafka broker answers at 127.0.0.1:1"))]


async def test_a_sink_that_has_not_read_what_was_sent_prunes_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def behind(*args: Any, **kwargs: Any) -> None:
        return None

    async def no_database() -> Any:
        raise AssertionError("nothing may be pruned while a copy may be unread")

    monkeypatch.setattr(housekeeping, "prune_limits", behind)
    monkeypatch.setattr(housekeeping.postgres, "get", no_database)
    with caplog.at_level(logging.INFO, logger=housekeeping.log.name):
        await housekeeping.forget_applied_change_ids()
    assert [record.levelname for record in caplog.records] == ["INFO"]


async def test_a_pruning_that_fails_is_one_warning_and_the_next_still_runs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def no_database() -> Any:
        raise ConnectionRefusedError("PostgreSQL is down")

    async def nothing() -> None:
        return None

    monkeypatch.setattr(housekeeping.postgres, "get", no_database)
    monkeypatch.setattr(housekeeping, "forget_applied_change_ids", nothing)
    monkeypatch.setattr(housekeeping, "forget_answered_waiters", nothing)
    with caplog.at_level(logging.INFO, logger=housekeeping.log.name):
        await housekeeping.forget_old_count_ids()
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        ("WARNING", f"{what} failed, retrying in an hour: PostgreSQL is down")
        for what in ("counted_drops pruning", "api_changes pruning", "orphan events sweep")]
