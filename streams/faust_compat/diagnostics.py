"""`kill -USR2 <worker pid>` logs where every asyncio task is waiting: what a stalled worker is stuck on."""
from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from streams.faust_compat.internals import consumer_state

log = logging.getLogger(__name__)


def awaiting_chain(task: asyncio.Task[Any]) -> list[str]:
    """The coroutine frames from the task down to what it awaits now (print_stack shows only the top)."""
    frames = []
    awaitable: Any = task.get_coro()
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is not None:
            frames.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return frames


def dump_tasks(app: Any) -> None:
    log.warning("diagnostics: consumer %s", consumer_state(app))
    tasks = asyncio.all_tasks()
    log.warning("diagnostics: %d asyncio tasks", len(tasks))
    for task in tasks:
        log.warning("diagnostics: task %s\n    %s", task.get_name(), "\n    ".join(awaiting_chain(task)))


def install_task_dump_signal(app: Any) -> None:
    """Call from a task of the running app: `kill -USR2 <pid>` then logs every task's awaiting chain."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump_tasks, app)
