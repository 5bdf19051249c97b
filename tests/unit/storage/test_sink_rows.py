"""How the sink sends its rows: JSON arrays under Postgres's jsonb size limit, in order."""
from __future__ import annotations

import orjson
import psycopg

from storage.errors import ErrorKind, classify
from storage.sink_writer import _chunks


def test_rows_over_the_limit_are_split_in_order_and_none_is_lost() -> None:
    rows = [(index, "x" * 100) for index in range(50)]
    chunks = _chunks(rows, limit=1_000)
    assert len(chunks) > 1
    assert all(len(chunk.encode()) <= 1_000 for chunk in chunks)
    assert [tuple(row) for chunk in chunks for row in orjson.loads(chunk)] == rows


def test_rows_under_the_limit_go_in_one_array() -> None:
    assert len(_chunks([(1, "a"), (2, "b")], limit=1_000)) == 1


def test_a_program_limit_is_not_retried_but_a_lost_connection_is() -> None:
    limit = psycopg.errors.ProgramLimitExceeded("total size of jsonb array elements exceeds the maximum")
    assert limit.sqlstate == "54000" and classify(limit) is ErrorKind.CHANGE
    assert classify(psycopg.OperationalError("connection lost")) is ErrorKind.TRANSIENT
