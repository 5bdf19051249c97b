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
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
from psycopg_pool import PoolTimeout

T = TypeVar("T")

EXIT_CODE = 70  # EX_SOFTWARE

# Errors that a Postgres restart or a network blip produce; anything else is a bug and propagates.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.errors.AdminShutdown,
                                                      PoolTimeout)

log = logging.getLogger(__name__)


def stop_worker(what: str, error: BaseException) -> None:
    log.critical("%s failed, stopping the worker so the message is re-read: %r", what, error, exc_info=error)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(EXIT_CODE)


def is_permanent(error: BaseException) -> bool:
    """An OperationalError that trying again cannot fix: SQLSTATE class 54, a program limit exceeded
    (e.g. a value over the 256 MB jsonb limit). Retrying it would hold the batch forever."""
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("54")


async def retry_transient(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    log: logging.Logger,
    first_delay: float = 0.2,
    max_delay: float = 5.0,
) -> T:
    """Run `operation` until it succeeds, backing off on transient errors; other errors propagate."""
    delay = first_delay
    attempt = 1
    while True:
        try:
            return await operation()
        except TRANSIENT_ERRORS as error:
            if is_permanent(error):
                raise
            log.warning("%s failed (attempt %d), retrying in %.1fs: %s", what, attempt, delay, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
            attempt += 1
