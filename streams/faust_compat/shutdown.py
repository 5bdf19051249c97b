"""A stop signal also reaches the worker's shutdown deadline (streams/lifecycle.py), which can name what a stuck stop waits for.

Evidence (issue 11 item 5): three workers of one deployment under load, one of them killed with -9 and
restarted, then SIGTERM to a survivor during the rebalance that followed: it took 52.7 s to exit (51.7 s
in a second run), and a second worker stopped right after it took 32.3 s. `kill -USR2` (diagnostics.py)
showed the event loop waiting in `AIOKafkaConsumerThread.stop` (mode/threads.py:223, mode/services.py:944)
while Faust's consumer thread waited in aiokafka's `GroupCoordinator.close()`, which "must let the
coordination task properly finish all pending work" (aiokafka/consumer/group_coordinator.py:362): a
JoinGroup request that the broker answers only when every member of the group has rejoined. A member
killed with -9 stays a member until its session times out (Faust's `broker_session_timeout`, 60 s), and a
member whose partition revocation waits for an agent (Faust's `wait_empty`, here the sink waiting for
PostgreSQL) holds the rebalance as long (up to `broker_rebalance_timeout`, 60 s). The worker's log then
showed "Joined group … (generation 3)" 50 s after the signal, "LeaveGroup request succeeded", and only
then the rest of the stop. Nothing in mode or Faust bounds `Worker.stop()`: mode's signal handler
(`_stop_on_signal`) awaits it for as long as it takes.

What this module adds, installed by `apply()`:
- `PATCHES`: mode's `Worker.install_signal_handlers` also installs a Python-level handler for SIGTERM and
  SIGINT that calls the listener set with `listen_for_stop_signals`. mode's own handling is unaffected:
  it registers its handlers with `loop.add_signal_handler`, and the C-level handler writes the signal
  number to the loop's wakeup fd whatever Python handler is installed, so mode's `_on_sigterm` still runs
  in the loop. A Python-level handler runs in the main thread between any two bytecodes, so it is called
  even when the event loop is stuck.
- `still_running(loop)`: what a stop that does not end waits for, read from another thread.
Upstream: aiokafka's close still awaits the coordination task unbounded in 0.14.0; mode-streaming 0.7.1 has
no stop timeout.
"""
from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from mode import Service
from mode.worker import Worker

from streams.faust_compat.patch import Patch

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

StopSignalListener = Callable[[int, asyncio.AbstractEventLoop], None]

_listener: StopSignalListener | None = None

_original_install_signal_handlers = Worker.install_signal_handlers


def listen_for_stop_signals(listener: StopSignalListener | None) -> None:
    """Have `listener(signal number, the worker's event loop)` called in the main thread on SIGTERM and SIGINT."""
    global _listener
    _listener = listener


def _on_stop_signal(loop: asyncio.AbstractEventLoop) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        if _listener is not None:
            _listener(signum, loop)
    return handle


def _install_signal_handlers_with_listener(self: Worker) -> None:
    _original_install_signal_handlers(self)
    if sys.platform == "win32":  # mode handles SIGTERM with signal.signal there: ours would replace it
        return
    handler = _on_stop_signal(self.loop)
    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
        signal.siginterrupt(signum, False)  # as asyncio's: a system call the signal interrupts is restarted


PATCHES: tuple[Patch, ...] = (
    Patch(Worker, "install_signal_handlers", _install_signal_handlers_with_listener,
          _original_install_signal_handlers),
)

# Frames of these names are a service waiting for its children to stop, not a place a stop is stuck in.
_WAITING_FOR_CHILDREN = frozenset({"_stop_children", "_default_stop_children"})
_ASYNCIO_DIR = Path(asyncio.__file__).parent


def _awaiting_frames(task: asyncio.Task[Any]) -> list[FrameType]:
    """The suspended frames from the task's coroutine down to what it awaits now."""
    frames = []
    awaitable: Any = task.get_coro()
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is not None:
            frames.append(frame)
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return frames


def _where(frame: FrameType) -> str:
    parts = Path(frame.f_code.co_filename).parts
    # .../site-packages/aiokafka/consumer/x.py -> aiokafka/consumer/x.py; any other file by its last two parts.
    short = "/".join(parts[parts.index("site-packages") + 1:] if "site-packages" in parts else parts[-2:])
    return f"{short}:{frame.f_lineno} {frame.f_code.co_name}"


def _stopping_service(frames: list[FrameType]) -> Service | None:
    """The innermost service whose `stop` (or a thread service's stop in its thread) is among `frames`."""
    found = None
    for frame in frames:
        if "stop" in frame.f_code.co_name:
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, Service):
                found = candidate
    return found


def _tasks(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[Any]]:
    try:
        return list(asyncio.all_tasks(loop))
    except RuntimeError:  # the loop's task set changed while read from this thread: tried again next time
        return []


def _stuck_stops(loop: asyncio.AbstractEventLoop, seen: set[int]) -> Iterator[str]:
    for task in _tasks(loop):
        frames = _awaiting_frames(task)
        service = _stopping_service(frames)
        if service is None or frames[-1].f_code.co_name in _WAITING_FOR_CHILDREN:
            continue
        # A mode ServiceThread's stop waits for its thread: where that thread's own loop waits says more.
        thread_loop = getattr(service, "thread_loop", None)
        if isinstance(thread_loop, asyncio.AbstractEventLoop) and id(thread_loop) not in seen:
            seen.add(id(thread_loop))
            inside = list(_stuck_stops(thread_loop, seen))
            if inside:
                yield from inside
                continue
        own = [frame for frame in frames if not Path(frame.f_code.co_filename).is_relative_to(_ASYNCIO_DIR)]
        yield f"{service.shortlabel} stopping at {_where((own or frames)[-1])}"


def still_running(loop: asyncio.AbstractEventLoop) -> list[str]:
    """What keeps the worker from stopping, for one log line; safe to call from a thread other than the loop's.

    Every service stop under way that is not just waiting for its children, with where it waits (and
    the same inside the loop of a service that runs in its own thread); where the main thread is if it
    is not waiting for events (a blocked event loop); and the other threads the interpreter would wait
    for at exit.
    """
    found = list(dict.fromkeys(_stuck_stops(loop, {id(loop)})))
    main, current = threading.main_thread(), threading.current_thread()
    frame = sys._current_frames().get(main.ident or 0)  # noqa: SLF001  # the documented way to see another thread
    if main is not current and frame is not None and frame.f_code.co_name not in {"select", "poll", "_run_once"}:
        found.append(f"main thread at {_where(frame)}")
    for thread in threading.enumerate():
        if thread is not main and thread is not current and not thread.daemon:
            service = getattr(thread, "service", None)  # a mode WorkerThread runs a service
            found.append(f"thread {thread.name}" + (f" of {service.shortlabel}" if service is not None else ""))
    return found
