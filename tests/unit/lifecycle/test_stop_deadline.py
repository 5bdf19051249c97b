"""A stop signal starts a deadline; a worker still running at it is ended with exit status 75 and one line saying why."""
from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from mode import Service
from mode.threads import ServiceThread
from mode.worker import Worker

from streams import lifecycle
from streams.faust_compat import shutdown
from streams.lifecycle import GAVE_UP_EXIT_STATUS, StopDeadline, give_up_line
from streams.settings import load_settings


class FakeClock:
    """Time that moves only when the deadline waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


class Exits:
    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.called = threading.Event()

    def __call__(self, status: int) -> None:
        self.statuses.append(status)
        self.called.set()


def _deadline(clock: FakeClock, exits: Exits, running: list[str] | None = None, seconds: float = 25) -> StopDeadline:
    return StopDeadline(seconds, still_running=lambda: running or [], clock=clock, wait=clock.wait, end_process=exits)


def test_a_worker_still_running_at_the_deadline_is_ended_with_75_and_one_line_naming_what_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, exits = FakeClock(), Exits()
    deadline = _deadline(clock, exits, ["AIOKafkaConsumerThread stopping at aiokafka/x.py:364 close"])
    deadline.arm(signal.SIGTERM)
    with caplog.at_level(logging.ERROR, logger="streams.lifecycle"):
        deadline.watch()
    assert exits.statuses == [GAVE_UP_EXIT_STATUS] == [75]
    assert clock.now == 1025.0
    [record] = caplog.records
    line = record.getMessage()
    assert "\n" not in line
    assert "25 s after SIGTERM" in line
    assert "AIOKafkaConsumerThread stopping at aiokafka/x.py:364 close" in line
    assert "unclean-stop marker" in line


def test_the_deadline_runs_from_the_first_signal_only() -> None:
    clock, exits = FakeClock(), Exits()
    deadline = _deadline(clock, exits, seconds=25)
    deadline.arm(signal.SIGTERM)
    clock.now += 10
    deadline.arm(signal.SIGINT)  # a second signal neither restarts nor renames the deadline
    deadline.watch()
    assert clock.now == 1025.0
    assert exits.statuses == [75]


def test_without_a_signal_nothing_is_ended() -> None:
    clock, exits = FakeClock(), Exits()
    deadline = _deadline(clock, exits, seconds=0.01)  # would end at once, were it armed
    watcher = threading.Thread(target=deadline.watch, daemon=True)
    watcher.start()
    time.sleep(0.2)  # the real clock moves far past the deadline meanwhile; unarmed, it waits
    assert watcher.is_alive() and exits.statuses == []
    deadline.close()
    watcher.join(2)
    assert not watcher.is_alive() and exits.statuses == []


def test_closed_before_the_deadline_nothing_is_ended() -> None:
    clock, exits = FakeClock(), Exits()
    deadline = StopDeadline(25, still_running=list, clock=clock, end_process=exits,
                            wait=lambda seconds: deadline.close() or clock.wait(seconds / 2))
    deadline.arm(signal.SIGTERM)
    deadline.watch()
    assert exits.statuses == []


def test_a_failure_to_tell_what_runs_still_ends_the_process(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> list[str]:
        raise RuntimeError("Set changed size during iteration")

    clock, exits = FakeClock(), Exits()
    deadline = StopDeadline(25, still_running=broken, clock=clock, wait=clock.wait, end_process=exits)
    deadline.arm(signal.SIGINT)
    with caplog.at_level(logging.ERROR, logger="streams.lifecycle"):
        deadline.watch()
    assert exits.statuses == [75]
    assert "could not tell" in caplog.records[0].getMessage()
    assert "after SIGINT" in caplog.records[0].getMessage()


def test_the_line_says_when_nothing_was_found() -> None:
    line = give_up_line("SIGTERM", 25, [])
    assert "\n" not in line
    assert line.endswith("Still running: nothing found (the interpreter's exit itself)")
    assert "exit status 75" in line


def test_by_default_a_worker_that_gives_up_has_exited_within_30_seconds_of_the_signal() -> None:
    seconds = load_settings().shutdown_timeout_seconds
    assert seconds == 25
    assert seconds + lifecycle._BACKSTOP_SECONDS < 30  # noqa: SLF001  # even if logging the line blocks


def test_in_its_thread_the_deadline_ends_the_process_on_time() -> None:
    exits = Exits()
    deadline = StopDeadline(0.3, still_running=list, end_process=exits)
    deadline.start()
    armed_at = time.monotonic()
    deadline.arm(signal.SIGTERM)
    assert exits.called.wait(5)
    assert 0.3 <= time.monotonic() - armed_at < 2
    assert exits.statuses == [75]


# What a stuck stop waits for, and the stop signal reaching both mode and the deadline.


class StuckOnStop(Service):
    async def on_stop(self) -> None:
        await asyncio.sleep(3600)


class Parent(Service):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.child = StuckOnStop(loop=self.loop)

    def on_init_dependencies(self) -> list[Service]:
        return [self.child]


class StuckInItsThread(ServiceThread):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.released = threading.Event()

    async def on_thread_stop(self) -> None:
        while not self.released.is_set():
            await asyncio.sleep(0.02)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # mode's ServiceThread asks for the current one
    try:
        yield loop
    finally:
        asyncio.set_event_loop(None)
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


def test_still_running_names_the_service_whose_stop_waits_and_where(loop: asyncio.AbstractEventLoop) -> None:
    parent = Parent(loop=loop)
    loop.run_until_complete(parent.start())
    loop.create_task(parent.stop())
    loop.run_until_complete(asyncio.sleep(0.05))
    running = shutdown.still_running(loop)
    # The parent only waits for its child: not named.
    [named] = running
    assert re.fullmatch(r"StuckOnStop stopping at lifecycle/test_stop_deadline\.py:\d+ on_stop", named)


def test_still_running_looks_into_the_loop_of_a_service_thread(loop: asyncio.AbstractEventLoop) -> None:
    service = StuckInItsThread(loop=loop)
    loop.run_until_complete(service.start())
    loop.create_task(service.stop())
    # Read from another thread, as the deadline does, while the loop runs.
    found: list[str] = []
    reader = threading.Timer(0.3, lambda: found.extend(shutdown.still_running(loop)))
    reader.start()
    loop.run_until_complete(asyncio.sleep(0.6))
    reader.join()
    assert any(re.fullmatch(r"StuckInItsThread stopping at lifecycle/test_stop_deadline\.py:\d+ on_thread_stop", item)
               for item in found), found
    assert not any("mode/" in item for item in found)  # the outer wait for the thread is not named
    assert any(item.startswith("thread ") and item.endswith("of StuckInItsThread") for item in found)
    service.released.set()
    loop.run_until_complete(asyncio.sleep(0.3))  # the stop ends, and with it the (non-daemon) thread
    assert not [thread for thread in threading.enumerate() if getattr(thread, "service", None) is service]


@pytest.fixture
def signal_handlers_restored() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in shutdown.STOP_SIGNALS}
    original = Worker.__dict__["install_signal_handlers"]
    try:
        yield
    finally:
        Worker.install_signal_handlers = original  # type: ignore[method-assign]
        shutdown.listen_for_stop_signals(None)
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@pytest.mark.usefixtures("signal_handlers_restored")
def test_a_stop_signal_reaches_mode_and_the_listener_even_with_the_loop_busy(loop: asyncio.AbstractEventLoop) -> None:
    for patch in shutdown.PATCHES:
        patch.install()
    heard: list[tuple[int, asyncio.AbstractEventLoop]] = []
    shutdown.listen_for_stop_signals(lambda signum, worker_loop: heard.append((signum, worker_loop)))
    worker = Worker(loop=loop, override_logging=False)
    worker.install_signal_handlers()

    async def busy_then_idle() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        end = time.monotonic() + 0.2
        while time.monotonic() < end:  # the loop does not get to its signal handling meanwhile
            pass
        assert heard == [(signal.SIGTERM, loop)]  # the Python-level handler ran in the main thread anyway
        await asyncio.sleep(0.1)

    loop.run_until_complete(busy_then_idle())
    assert worker.should_stop  # mode's own handler ran too: the worker began its stop
    for signum in shutdown.STOP_SIGNALS:
        loop.remove_signal_handler(signum)
