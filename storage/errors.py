"""What a database error means to the writer that met it: try again, the change's own fault, or ours.

One rule for every writer (sink, dlq agent, options mirror, event lookup, migrate at start), so that a
failure retried by one is never parked or refused by another (spec §2.4.12).
"""
from __future__ import annotations

from enum import StrEnum

import psycopg
from psycopg_pool import PoolTimeout


class MissingGroupRow(Exception):
    """A change names a group row that is neither stored nor written by its batch: it cannot be applied."""


class ErrorKind(StrEnum):
    TRANSIENT = "transient"  # a restart, a lost connection, a lock conflict, a lack of resources: try again
    CHANGE = "change"  # the change itself is refused for good: park it (spec §2.4.12)
    OURS = "ours"  # our SQL, schema, rights or code are wrong: every change would fail alike, so stop


# SQLSTATE classes: connection (08), transaction rollback (40), insufficient resources (53), object not in
# prerequisite state (55: lock not available), operator intervention (57: shutdown, cancel), system error (58).
TRANSIENT_CLASSES = frozenset({"08", "40", "53", "55", "57", "58"})
# 0A feature not supported, 25/26/2D/34/3D/3F wrong transaction/statement/catalog/schema state, 28 invalid
# authorization, 42 syntax or access rule (undefined column, no privilege), XX internal error.
OUR_FAULT_CLASSES = frozenset({"0A", "25", "26", "28", "2D", "34", "3D", "3F", "42", "XX"})


def classify(error: BaseException) -> ErrorKind:
    if isinstance(error, MissingGroupRow):
        return ErrorKind.CHANGE
    if isinstance(error, PoolTimeout):
        return ErrorKind.TRANSIENT
    if not isinstance(error, psycopg.Error):
        return ErrorKind.OURS  # a bug in our code, not a database refusal
    sqlstate = error.sqlstate
    if sqlstate is None:  # raised by psycopg itself, before or without the server's answer
        if isinstance(error, (psycopg.DataError, psycopg.IntegrityError)):
            return ErrorKind.CHANGE  # e.g. a NUL byte psycopg refuses to send
        if isinstance(error, psycopg.OperationalError):
            return ErrorKind.TRANSIENT  # connection refused or lost
        return ErrorKind.OURS
    if sqlstate[:2] in TRANSIENT_CLASSES:
        return ErrorKind.TRANSIENT
    if sqlstate[:2] in OUR_FAULT_CLASSES:
        return ErrorKind.OURS
    return ErrorKind.CHANGE  # 22 data exception, 23 constraint violation, 54 program limit, …


def is_transient(error: BaseException) -> bool:
    return classify(error) is ErrorKind.TRANSIENT


def is_change_failure(error: BaseException) -> bool:
    """Whether a batch failed for a reason of its own changes that trying again cannot fix (spec §2.4.12)."""
    return classify(error) is ErrorKind.CHANGE
