"""Retry-in-place for transient failures: an agent waits and tries again rather than skip a message."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg

T = TypeVar("T")

# Errors that a Postgres restart or a network blip produce; anything else is a bug and propagates.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.errors.AdminShutdown)
try:
    from psycopg_pool import PoolTimeout

    TRANSIENT_ERRORS = (*TRANSIENT_ERRORS, PoolTimeout)
except ImportError:  # pragma: no cover
    pass


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
