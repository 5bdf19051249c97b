"""Every input partition starts at its committed offset after a rebalance, sought while still paused."""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.consumer.fetcher import OffsetResetStrategy
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from mode.utils.queues import FlowControlEvent

from streams.faust_compat import seek
from streams.faust_compat.seek import is_changelog


def test_changelog_partitions_are_left_to_faust() -> None:
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


class ChangelogQueue:
    """What changelog_queue.py touches of Faust's changelog queue: its `clear`."""

    def clear(self) -> None:
        pass


class FakeRecovery:
    """The parts of Faust's Recovery the pre-seek reads: the app's generation, consumer and timeout."""

    def __init__(self, calls: list[str], generation: int, assigned: bool = True) -> None:
        conf = type("Conf", (), {"broker_request_timeout": 5.0})()
        self.app = type("App", (), {"consumer_generation_id": generation, "conf": conf,
                                    "consumer": RecordingConsumer(calls, assigned),
                                    "flow_control": FlowControlEvent(initially_suspended=False)})()
        self.tables = type("Tables", (), {"changelog_queue": ChangelogQueue()})()

    async def _wait(self, coro: Any, timeout: float) -> None:
        await coro


def _record_original(calls: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    async def original(self: Any, generation_id: int = 0) -> None:
        calls.append("resume-and-seek")  # Faust's own order: resume the input partitions, then seek
    monkeypatch.setattr(seek, "_original_on_recovery_completed", original)


async def test_input_partitions_are_sought_before_faust_resumes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    _record_original(calls, monkeypatch)
    await seek._seek_inputs_before_resuming(FakeRecovery(calls, generation=7), 7)
    assert calls == ["seek", "resume-and-seek"]


async def test_no_early_seek_when_a_newer_rebalance_began_or_nothing_is_assigned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    _record_original(calls, monkeypatch)
    await seek._seek_inputs_before_resuming(FakeRecovery(calls, generation=8), 7)
    await seek._seek_inputs_before_resuming(FakeRecovery(calls, generation=7, assigned=False), 7)
    assert calls == ["resume-and-seek", "resume-and-seek"]


class SeekCounter:
    """A consumer whose app is in generation 7; counts the seeks that really happen."""

    def __init__(self) -> None:
        self.app = type("App", (), {"consumer_generation_id": 7})()
        self.seeks = 0


async def test_faust_seek_is_skipped_only_in_the_generation_already_sought(monkeypatch: pytest.MonkeyPatch) -> None:
    async def count(self: SeekCounter) -> None:
        self.seeks += 1
    monkeypatch.setattr(seek, "_original_perform_seek", count)
    consumer = SeekCounter()
    await seek._perform_seek_unless_sought(consumer)  # nothing sought yet
    setattr(consumer, seek._SOUGHT_IN, 7)
    await seek._perform_seek_unless_sought(consumer)  # sought while paused: not again
    setattr(consumer, seek._SOUGHT_IN, 6)
    await seek._perform_seek_unless_sought(consumer)  # an older generation's mark counts for nothing
    assert consumer.seeks == 2


async def test_the_mark_lasts_only_while_faust_completes_the_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    marks: list[object] = []
    recovery = FakeRecovery(calls, generation=7)

    async def original(self: Any, generation_id: int = 0) -> None:
        marks.append(getattr(recovery.app.consumer, seek._SOUGHT_IN, None))
    monkeypatch.setattr(seek, "_original_on_recovery_completed", original)
    await seek._seek_inputs_before_resuming(recovery, 7)
    assert marks == [7]
    assert getattr(recovery.app.consumer, seek._SOUGHT_IN) is None


# With the real originals (aiokafka's seek_to_committed, Faust's on_recovery_completed and perform_seek)
# on stand-ins for the broker and the app: these fail without the patches (checked by disabling them).


def _install(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for patch in seek.PATCHES:
        if patch.name in names:
            monkeypatch.setattr(patch.owner, patch.name, patch.replacement)


class RecordingFetcher:
    """Where aiokafka's consumer asks its fetcher to position partitions; a reset lands on `reset_position`."""

    def __init__(self, consumer: AIOKafkaConsumer | None = None, reset_position: int = 0) -> None:
        self.sought: dict[TopicPartition, int] = {}
        self.resets: list[tuple[set[TopicPartition], int]] = []
        self.consumer = consumer
        self.reset_position = reset_position

    def seek_to(self, tp: TopicPartition, offset: int) -> None:
        self.sought[tp] = offset

    def request_offset_reset(self, tps: Iterable[TopicPartition], strategy: int) -> asyncio.Future[bool]:
        self.resets.append((set(tps), strategy))
        if self.consumer is not None:  # as aiokafka's fetcher does once the broker answered the offset request
            assignment = self.consumer._subscription.subscription.assignment
            for tp in tps:
                assignment.state_value(tp).reset_to(self.reset_position)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        done.set_result(True)
        return done

    async def close(self) -> None:
        pass


class QuietCoordinator:
    """aiokafka's group coordinator, with no error to report."""

    def check_errors(self) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(("reset_policy", "strategy"), [("earliest", OffsetResetStrategy.EARLIEST),
                                                        ("latest", OffsetResetStrategy.LATEST)])
async def test_seek_to_committed_also_positions_partitions_committed_at_0_or_never(
    monkeypatch: pytest.MonkeyPatch, reset_policy: str, strategy: int,
) -> None:
    _install(monkeypatch, "seek_to_committed")
    never, zero, later = (TopicPartition("t1.issue-platform-grouping", p) for p in range(3))
    changelog = TopicPartition("issue-platform-t1-groups-changelog", 0)
    committed = {never: None, zero: 0, later: 5, changelog: 0}
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", group_id="g", enable_auto_commit=False,
                                auto_offset_reset=reset_policy)
    try:
        consumer._subscription.assign_from_user(set(committed))
        end = 42
        fetcher = RecordingFetcher(consumer, reset_position=end if reset_policy == "latest" else 0)
        consumer._fetcher = fetcher  # type: ignore[assignment]
        consumer._coordinator = QuietCoordinator()  # type: ignore[assignment]

        async def committed_offset(tp: TopicPartition) -> int | None:
            return committed[tp]
        monkeypatch.setattr(consumer, "committed", committed_offset)

        assert await consumer.seek_to_committed() == committed
        assert fetcher.sought == {zero: 0, later: 5}  # the changelog's position is Faust's recovery's
        assert fetcher.resets == [({never}, strategy)]
        # The positions every input partition was sought to, for the hole guard's baseline.
        assert seek._last_positions == {never: end if reset_policy == "latest" else 0, zero: 0, later: 5}
    finally:
        await consumer.stop()


async def test_each_real_seek_hands_its_positions_to_the_listeners_on_the_calling_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heard: list[dict[Any, int]] = []
    monkeypatch.setattr(seek, "_seek_listeners", [lambda positions: heard.append(dict(positions))])
    grouping = TopicPartition("t1.issue-platform-grouping", 0)

    async def seek_recording(self: SeekCounter) -> None:
        self.seeks += 1
        seek._last_positions = {grouping: 10 * self.seeks}  # what _seek_to_committed_always leaves behind

    async def seek_recording_nothing(self: SeekCounter) -> None:
        self.seeks += 1

    consumer = SeekCounter()
    monkeypatch.setattr(seek, "_original_perform_seek", seek_recording)
    await seek._perform_seek_unless_sought(consumer)
    setattr(consumer, seek._SOUGHT_IN, 7)
    await seek._perform_seek_unless_sought(consumer)  # skipped: nothing sought, nothing heard
    setattr(consumer, seek._SOUGHT_IN, None)
    monkeypatch.setattr(seek, "_original_perform_seek", seek_recording_nothing)
    await seek._perform_seek_unless_sought(consumer)  # a seek that recorded nothing hands on nothing stale
    assert heard == [{grouping: 10}, {}]


class PausedInputConsumer:
    """Faust's consumer as its perform_seek sees it; records when input is resumed and sought."""

    def __init__(self, calls: list[str], app: Any) -> None:
        self.calls = calls
        self.app = app
        self._read_offset: dict[Any, int | None] = {}
        self._committed_offset: dict[Any, int | None] = {}

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t1.issue-platform-grouping", 0)}

    def resume_partitions(self, tps: Iterable[TopicPartition]) -> None:
        self.calls.append("resume")

    async def seek_to_committed(self) -> dict[TopicPartition, int]:
        self.calls.append("seek")
        return {TopicPartition("t1.issue-platform-grouping", 0): 3}

    def resume_flow(self) -> None:
        self.calls.append("flow")

    async def perform_seek(self) -> None:
        await Consumer.perform_seek(self)  # type: ignore[arg-type]


class CompletingRecovery:
    """Faust's Recovery as its on_recovery_completed sees it, with no tables and one input partition."""

    def __init__(self, calls: list[str]) -> None:
        async def nothing() -> None:
            return None

        class App:
            consumer_generation_id = 7
            conf = type("Conf", (), {"broker_request_timeout": 5.0})()
            on_rebalance_complete = type("Signal", (), {"send": staticmethod(nothing)})()
            flow_control = type("FlowControl", (), {"resume": staticmethod(lambda: None)})()
            _fetcher = type("Fetcher", (), {"maybe_start": staticmethod(nothing)})()
            assignor = type("Assignor", (), {"assigned_standbys": staticmethod(lambda: set())})()
            on_rebalance_end = staticmethod(lambda: None)

        self.app = App()
        self.app.consumer = PausedInputConsumer(calls, self.app)  # type: ignore[attr-defined]
        quiet = staticmethod(lambda *args, **kwargs: None)
        self.log = type("Log", (), {"info": quiet, "dev": quiet, "warning": quiet})()
        self.tables = type("Tables", (), {"values": staticmethod(lambda: []), "changelog_queue": ChangelogQueue(),
                                          "on_actives_ready": staticmethod(lambda: None),
                                          "on_standbys_ready": staticmethod(lambda: None)})()
        self.completed = asyncio.Event()

    def _set_recovery_ended(self) -> None:
        pass

    def _is_changelog_tp(self, tp: TopicPartition) -> bool:
        return False

    async def _wait(self, coro: Any, timeout: float) -> None:
        await coro


async def test_faust_recovery_seeks_the_inputs_once_and_before_resuming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, "on_recovery_completed", "perform_seek")
    calls: list[str] = []
    recovery = CompletingRecovery(calls)
    await Recovery.on_recovery_completed(recovery, 7)  # type: ignore[arg-type]
    assert calls == ["seek", "resume", "flow"]
    assert recovery.app.consumer._read_offset == {TopicPartition("t1.issue-platform-grouping", 0): 3}
