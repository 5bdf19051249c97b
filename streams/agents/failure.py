"""How an agent meets failure: retry a transient error in place, stop the worker on anything else.

Faust acks a message whose handler raised and restarts the agent, which would skip it silently
(design §4). Retrying in place keeps the message while Postgres restarts; exiting before the offset is
committed keeps it on any other error: another worker, or this one restarted, re-reads it, and the
offset watermarks make the redelivery harmless.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faust.sensors import Sensor

from storage.errors import is_transient
from streams.outbox import ProduceFailed
from streams.settings import get_settings

T = TypeVar("T")

EXIT_CODE = 70  # EX_SOFTWARE

log = logging.getLogger(__name__)


def stop_worker(what: str, error: BaseException) -> None:
    if isinstance(error, ProduceFailed):  # the broker's answer, not a bug of ours: one line says it all
        stop_worker_now(f"{what}: {error}")
    log.critical("%s failed, stopping the worker so the message is re-read: %r", what, error, exc_info=error)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(EXIT_CODE)


async def retry_transient(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    log: logging.Logger,
    first_delay: float = 0.2,
    max_delay: float = 5.0,
) -> T:
    """Run `operation` until it succeeds, backing off on transient errors (storage.errors.classify: the
    same rule the sink parks by); other errors propagate."""
    delay = first_delay
    attempt = 1
    while True:
        try:
            return await operation()
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("%s failed (attempt %d), retrying in %.1fs: %s", what, attempt, delay, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
            attempt += 1


def stop_worker_now(line: str) -> None:
    """Stop at once with one log line (no traceback): the message says everything."""
    log.critical("%s; stopping the worker before any later offset is committed", line)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(EXIT_CODE)


# Where the worker was started: a relative --datadir means the same directory after a restart in place.
_START_DIRECTORY = os.getcwd()
# The times (epoch seconds, comma-separated) of this worker's earlier restarts in place, handed to the next.
RESTARTS_ENV = "ISSUE_PLATFORM_SELF_RESTARTS"
RESTART_WINDOW_SECONDS = 600.0


def restart_worker_now(line: str) -> None:
    """Start the worker over in this very process when reading again from the committed offset repairs what
    went wrong (a hole Faust left in an input, streams/agents/holes.py); exit as `stop_worker_now` does once
    it has done so `ISSUE_PLATFORM_SELF_RESTARTS_MAX` times in 10 minutes.

    os.execve keeps the pid: a supervisor, `kill -9` and the tests' harness still see one worker, and one that
    only a process manager would otherwise have brought back (docker-compose, `make run`) carries on by
    itself. What the old process had in flight is what `kill -9` leaves: outputs before state (spec §2.4.6)
    make that safe, and the consumer group gives its partitions back after the session timeout.
    """
    now = time.time()
    earlier = [float(at) for at in os.environ.get(RESTARTS_ENV, "").split(",") if at]
    recent = [at for at in earlier if now - at < RESTART_WINDOW_SECONDS]
    allowed = get_settings().self_restarts_max
    if len(recent) >= allowed:
        stop_worker_now(f"{line} (restarted in place {len(recent)} times in the last 10 minutes already)"
                        if allowed else line)
        return  # only where a test records os._exit instead of running it
    log.critical("%s; restarting the worker in place (%d of at most %d in 10 minutes) to read again from the "
                 "committed offset", line, len(recent) + 1, allowed)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    env = dict(os.environ)
    env[RESTARTS_ENV] = ",".join(f"{at:.3f}" for at in [*recent, now])
    # A test's injected fault is its one fault: the restarted process runs without it, as one an operator restarts.
    env.pop("ISSUE_PLATFORM_FAULT_INJECTION", None)
    os.chdir(_START_DIRECTORY)
    os.execve(sys.executable, sys.orig_argv, env)


# Test only (issue 11 item 4): the points where a worker can be killed, as a crash would, to prove that
# what it leaves behind is recovered exactly (tests/integration/test_kill_points.py).
KILL_POINTS = frozenset({
    "grouping.after_outputs",  # every output of a batch acknowledged, none of its state written (§2.4.6)
    "grouping.after_counts",  # its noise counts and seen ids acknowledged, its keys' states not written
    "grouping.after_state",  # the batch's states handed to the changelogs, its inputs not acked (§2.4.6)
    "quota.after_answers",  # a quota batch's answers acknowledged, its quota states not written (§2.4.6)
    "sink.after_commit",  # the sink's transaction committed, its post-process messages not sent (§2.3.4)
    "trackers.after_call",  # an automatic ticket created in the tracker, its claim not updated (§24.5)
})
_armed: dict[str, int] = {}  # point → times it may still be passed before the kill


def arm_kill_point(point: str, nth: int) -> None:
    """Kill the worker the `nth` time it reaches `point` (streams.worker.guard, from the fault setting)."""
    if point not in KILL_POINTS:
        raise ValueError(f"unknown kill point {point!r}; known: {', '.join(sorted(KILL_POINTS))}")
    _armed[point] = nth


def kill_point(point: str) -> None:
    """A named point an agent passes; nothing happens unless a test armed it."""
    if not _armed or point not in _armed:
        return
    _armed[point] -= 1
    if _armed[point] > 0:
        return
    log.warning("injected: killing the worker at %s", point)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class StopOnFailedProduce(Sensor):
    """A produce that failed after the client's own retries stops the worker (spec §2.4.8).

    Faust only logs a failed send and goes on; its next commit would then pass the input whose output was
    lost. The failure reaches this sensor from the send's done-callback, before the flush that precedes
    every commit returns, so exiting here keeps the input uncommitted: it is read again.
    """

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> Any:
        return topic, message.partition, message.key

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        topic, partition, key = state if isinstance(state, tuple) else ("?", None, None)
        where = f"partition {partition}" if partition is not None else f"the partition of key {key!r}"
        stop_worker_now(f"produce to {topic} ({where}) failed: {type(exc).__name__}: {exc}")
