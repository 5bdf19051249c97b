"""The idempotent-producer and log-level patches, and the test-only produce fault (spec §2.4.8, issue 11)."""
from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.faust_compat import faults, idempotence, log_level
from streams.settings import SettingsError, load_settings


def test_outside_a_transaction_faust_alone_leaves_idempotence_off() -> None:
    producer = SimpleNamespace(app=SimpleNamespace(in_transaction=False))
    assert "enable_idempotence" not in idempotence._original_settings_extra(producer)


def test_the_patch_makes_every_producer_idempotent_with_acks_all() -> None:
    producer = SimpleNamespace(app=SimpleNamespace(in_transaction=False))
    assert idempotence._settings_extra_idempotent(producer) == {"acks": "all", "enable_idempotence": True}


def test_no_fault_spec_installs_nothing() -> None:
    assert faults.install("") is None
    assert faults.parse("") is None


def test_the_nth_record_to_the_chosen_topic_fails_as_a_timeout_and_is_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, Any]] = []

    async def original(self: Any, topic: str, key: Any, value: Any, partition: Any, timestamp: Any, headers: Any,
                       **kwargs: Any) -> str:
        sent.append((topic, value))
        return "delivered"

    monkeypatch.setattr(faults, "_original_send", original)
    send = faults.failing_send(faults.FailProduce("issue-platform-group-changes", 2))

    async def run() -> list[Any]:
        results = []
        for index, topic in enumerate(["p.issue-platform-group-changes", "p.other", "p.issue-platform-group-changes",
                                       "p.issue-platform-group-changes"]):
            results.append(await send(None, topic, None, index, None, None, None))
        return results

    results = asyncio.run(run())
    assert [value for _, value in sent] == [0, 1, 3]  # the second group change (value 2) never left
    failed = results[2]
    assert isinstance(failed, asyncio.Future) and isinstance(failed.exception(), KafkaTimeoutError)
    assert results[3] == "delivered"  # only the n-th fails


def test_the_nth_record_to_the_chosen_topic_is_acknowledged_and_never_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Any] = []

    async def original(self: Any, topic: str, key: Any, value: Any, partition: Any, timestamp: Any, headers: Any,
                       **kwargs: Any) -> str:
        sent.append(value)
        return "delivered"

    monkeypatch.setattr(faults, "_original_send", original)
    assert faults.parse("drop_produce:issue-platform-quota:2") == faults.DropProduce("issue-platform-quota", 2)
    send = faults.failing_send(faults.DropProduce("issue-platform-quota", 2))

    async def run() -> list[Any]:
        return [await send(None, "p.issue-platform-quota", None, index, 3, 1.5, None) for index in range(3)]

    results = asyncio.run(run())
    assert sent == [0, 2]  # the second request (value 1) never left
    dropped = results[1]
    assert isinstance(dropped, asyncio.Future) and dropped.result().topic == "p.issue-platform-quota"
    assert load_settings(fault_injection="drop_produce:issue-platform-quota:2").fault_injection
    with pytest.raises(SettingsError, match="ISSUE_PLATFORM_FAULT_INJECTION is for tests only"):
        load_settings(fault_injection="drop_produce:issue-platform-quota:2", production=True)


def test_install_replaces_the_drivers_send(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust_aiokafka.Producer, "send", faust_aiokafka.Producer.send)  # restored afterwards
    patch = faults.install("fail_produce:issue-platform-grouping:1")
    assert patch is not None and patch.is_installed()


def test_the_first_record_fetched_at_the_chosen_offset_is_skipped_once_and_the_rest_handed_on() -> None:
    fetched = [("p.issue-platform-grouping", 0, 0),
               ("p.ingest-occurrences", 0, 1),  # another topic: handed on
               ("p.issue-platform-grouping", 3, 1),  # the first at offset 1 of the topic: skipped
               ("p.issue-platform-grouping", 3, 2),
               ("p.issue-platform-grouping", 0, 1)]  # once only
    batches = [fetched[:3], fetched[3:]]

    async def original(self: Any, timeout: float) -> Any:
        for topic, partition, offset in batches.pop(0):
            yield SimpleNamespace(topic=topic, partition=partition), SimpleNamespace(offset=offset)

    fault = faults.parse("skip_delivery:issue-platform-grouping:1")
    assert fault == faults.SkipDelivery("issue-platform-grouping", 1)
    getmany = faults.skipping_getmany(fault, original)

    async def run() -> list[tuple[str, int, int]]:
        handed = []
        for _ in range(2):
            handed += [(tp.topic, tp.partition, message.offset) async for tp, message in getmany(None, timeout=1.0)]
        return handed

    assert asyncio.run(run()) == [fetched[0], fetched[1], fetched[3], fetched[4]]


def test_a_skipped_delivery_is_a_fault_refused_in_production_like_a_failed_produce() -> None:
    assert load_settings(fault_injection="skip_delivery:ingest-occurrences:0").fault_injection
    with pytest.raises(SettingsError, match="ISSUE_PLATFORM_FAULT_INJECTION is for tests only"):
        load_settings(fault_injection="skip_delivery:ingest-occurrences:0", production=True)
    with pytest.raises(SettingsError, match="ISSUE_PLATFORM_FAULT_INJECTION"):
        load_settings(fault_injection="skip_delivery:ingest-occurrences:-1")


def test_install_replaces_the_consumers_getmany_keeping_the_current_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Consumer, "getmany", Consumer.getmany)  # restored afterwards
    current = Consumer.getmany
    patch = faults.install("skip_delivery:ingest-occurrences:0")
    assert patch is not None and patch.is_installed() and patch.original is current


class _SpinnerWorker:
    spinner = SimpleNamespace()  # truthy: Faust adds its spinner handler


def test_faust_alone_lowers_the_root_logger_to_debug_for_its_spinner() -> None:
    logger = logging.getLogger("spinner-probe-original")
    logger.addHandler(logging.NullHandler())
    log_level._original_setup_spinner_handler(_SpinnerWorker(), logger, logging.WARNING)
    assert logger.level == logging.DEBUG


def test_the_patch_keeps_the_workers_level_so_debug_calls_build_no_record() -> None:
    logger = logging.getLogger("spinner-probe-patched")
    logger.addHandler(logging.NullHandler())
    log_level._setup_spinner_handler_keeping_level(_SpinnerWorker(), logger, logging.WARNING)
    assert logger.level == logging.WARNING
    assert not logger.isEnabledFor(logging.DEBUG)
