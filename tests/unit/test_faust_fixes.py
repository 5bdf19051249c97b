"""The pre-commit flush of Faust's producer buffer waits until table writes are really handed over."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.faust_compat import fixes as faust_fixes
from streams.faust_compat.fixes import _flush, _send_pending, is_topic_ready, wait_until_topic_ready


class SlowBuffer:
    """The parts of faust's ProducerBuffer the flush reads, draining slower than Faust's 0.1 s patience."""

    state = "running"

    def __init__(self, size: int) -> None:
        self.size = size
        self.message_sent = asyncio.Event()

    async def drain(self, every: float) -> None:
        while self.size:
            await asyncio.sleep(every)
            self.size -= 1
            self.message_sent.set()


async def test_flush_returns_only_when_the_buffer_is_empty() -> None:
    buffer = SlowBuffer(size=3)
    draining = asyncio.create_task(buffer.drain(every=0.15))
    await asyncio.wait_for(_flush(buffer), timeout=5)
    assert buffer.size == 0
    await draining


async def test_flush_waits_for_a_message_that_is_being_published() -> None:
    buffer = SlowBuffer(size=0)
    published = asyncio.Event()

    class Channel:
        async def publish_message(self, fut: object, wait: bool) -> None:
            await asyncio.sleep(0.3)
            published.set()

    class Message:
        channel = Channel()

    class Future:
        message = Message()

    sending = asyncio.create_task(_send_pending(buffer, Future()))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(_flush(buffer), timeout=5)
    assert published.is_set()
    await sending


class EmptyMetadataClient:
    """An aiokafka client whose metadata answers never list the topic."""

    def __init__(self) -> None:
        self.requests = 0

    async def _metadata_update(self, cluster: object, topics: list[str]) -> bool:
        self.requests += 1
        return True


async def test_waiting_for_a_topic_gives_up_after_the_timeout_and_says_so() -> None:
    client = EmptyMetadataClient()
    started = asyncio.get_running_loop().time()
    assert not await wait_until_topic_ready(client, "never-there", 12, timeout=0.5)
    assert 0.5 <= asyncio.get_running_loop().time() - started < 3
    assert client.requests >= 3  # it kept asking, backing off


def test_a_topic_is_ready_only_with_every_partition_led() -> None:
    from aiokafka.cluster import ClusterMetadata

    cluster = ClusterMetadata()
    assert not is_topic_ready(cluster, "t", 2)
    cluster._partitions["t"] = {0: object(), 1: object()}
    cluster.leader_for_partition = lambda tp: {0: 1, 1: -1}[tp.partition]  # type: ignore[method-assign]
    assert not is_topic_ready(cluster, "t", 2)
    cluster.leader_for_partition = lambda tp: 1  # type: ignore[method-assign]
    assert is_topic_ready(cluster, "t", 2)
    assert not is_topic_ready(cluster, "t", 3)


def test_changelog_partitions_are_left_to_faust() -> None:
    from streams.faust_compat.fixes import is_changelog

    assert is_changelog("issue-platform-t1-groups-changelog")
    assert is_changelog("issue-platform-t1-__assignor-__leader")
    assert not is_changelog("t1.issue-platform-grouping")



class RecordingConsumer:
    def __init__(self, calls: list[str], assigned: bool = True) -> None:
        self.calls = calls
        self.assigned = assigned

    def assignment(self) -> set[str]:
        return {"grouping-0"} if self.assigned else set()

    async def perform_seek(self) -> None:
        self.calls.append("seek")


class FakeRecovery:
    """The parts of Faust's Recovery the pre-seek reads: the app's generation, consumer and timeout."""

    def __init__(self, calls: list[str], generation: int, assigned: bool = True) -> None:
        conf = type("Conf", (), {"broker_request_timeout": 5.0})()
        self.app = type("App", (), {"consumer_generation_id": generation, "conf": conf,
                                    "consumer": RecordingConsumer(calls, assigned)})()

    async def _wait(self, coro: Any, timeout: float) -> None:
        await coro


def _record_original(calls: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    async def original(self: Any, generation_id: int = 0) -> None:
        calls.append("resume-and-seek")  # Faust's own order: resume the input partitions, then seek
    monkeypatch.setattr(faust_fixes, "_original_on_recovery_completed", original)


async def test_input_partitions_are_sought_before_faust_resumes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    _record_original(calls, monkeypatch)
    await faust_fixes._seek_inputs_before_resuming(FakeRecovery(calls, generation=7), 7)
    assert calls == ["seek", "resume-and-seek"]


async def test_no_early_seek_when_a_newer_rebalance_began_or_nothing_is_assigned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    _record_original(calls, monkeypatch)
    await faust_fixes._seek_inputs_before_resuming(FakeRecovery(calls, generation=8), 7)
    await faust_fixes._seek_inputs_before_resuming(FakeRecovery(calls, generation=7, assigned=False), 7)
    assert calls == ["resume-and-seek", "resume-and-seek"]


def test_the_patch_is_installed_on_faust() -> None:
    from faust.tables.recovery import Recovery

    faust_fixes.apply()
    assert Recovery.on_recovery_completed is faust_fixes._seek_inputs_before_resuming


class SeekCounter:
    """A consumer whose app is in generation 7; counts the seeks that really happen."""

    def __init__(self) -> None:
        self.app = type("App", (), {"consumer_generation_id": 7})()
        self.seeks = 0


async def test_faust_seek_is_skipped_only_in_the_generation_already_sought(monkeypatch: pytest.MonkeyPatch) -> None:
    async def count(self: SeekCounter) -> None:
        self.seeks += 1
    monkeypatch.setattr(faust_fixes, "_original_perform_seek", count)
    consumer = SeekCounter()
    await faust_fixes._perform_seek_unless_sought(consumer)  # nothing sought yet
    setattr(consumer, faust_fixes._SOUGHT_IN, 7)
    await faust_fixes._perform_seek_unless_sought(consumer)  # sought while paused: not again
    setattr(consumer, faust_fixes._SOUGHT_IN, 6)
    await faust_fixes._perform_seek_unless_sought(consumer)  # an older generation's mark counts for nothing
    assert consumer.seeks == 2


async def test_the_mark_lasts_only_while_faust_completes_the_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    marks: list[object] = []
    recovery = FakeRecovery(calls, generation=7)

    async def original(self: Any, generation_id: int = 0) -> None:
        marks.append(getattr(recovery.app.consumer, faust_fixes._SOUGHT_IN, None))
    monkeypatch.setattr(faust_fixes, "_original_on_recovery_completed", original)
    await faust_fixes._seek_inputs_before_resuming(recovery, 7)
    assert marks == [7]
    assert getattr(recovery.app.consumer, faust_fixes._SOUGHT_IN) is None
