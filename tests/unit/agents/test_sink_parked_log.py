"""The worker log says which change the sink parked and why, and how many wait behind it (spec §2.4.12)."""
from __future__ import annotations

import logging

import pytest

from storage.sink_plan import BatchResult, ChangeFailure, ChangeRecord, ParkedChange
from streams.agents import sink
from tests.unit.storage.test_sink_plan import group_change

KEY = "1:a8ce928310aeaf1a510e621f9776b3d4"
FAILURE = ChangeFailure(error="UniqueViolation: duplicate key value", sqlstate="23505", attempts=2)


def test_a_parked_change_is_one_error_line_and_those_behind_it_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    result = BatchResult(parked=[ParkedChange(ChangeRecord(3, 10, group_change(KEY)), FAILURE, None),
                                 ParkedChange(ChangeRecord(3, 11, group_change(KEY)), None, 10),
                                 ParkedChange(ChangeRecord(3, 12, group_change(KEY)), None, 10)])
    with caplog.at_level(logging.INFO, logger=sink.log.name):
        sink._log_parked(result)
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        ("ERROR", f"sink: parked the change at partition 3 offset 10 (group key {KEY}) after 2 failed attempts alone: "
                  "UniqueViolation: duplicate key value; the partition moves on, later changes of the key wait behind "
                  "it; see `issue-platform parked list`"),
        ("WARNING", "sink: 2 changes parked behind a parked change of their key: p3@11-12"),
    ]
