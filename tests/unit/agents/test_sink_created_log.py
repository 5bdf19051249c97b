"""The worker log names every issue the sink created, with its short id and group key (README first steps)."""
from __future__ import annotations

import logging

import pytest

from storage.sink_plan import BatchResult, ChangeRecord, PersistedGroup
from streams.agents import sink
from tests.unit.storage.test_sink_plan import group_change

KEY = "1:a8ce928310aeaf1a510e621f9776b3d4"


def change(offset: int, *, is_new: bool) -> ChangeRecord:
    return ChangeRecord(0, offset, group_change(KEY, is_new=is_new))


def test_a_created_issue_is_logged_once_with_its_short_id_and_group_key(caplog: pytest.LogCaptureFixture) -> None:
    result = BatchResult(applied=[change(0, is_new=True), change(1, is_new=False)],
                         skipped=[change(2, is_new=True)],  # applied by an earlier attempt, logged then
                         groups={(KEY, 0): PersistedGroup(id=7, short_id=33, project_slug="p1")})
    with caplog.at_level(logging.INFO, logger=sink.log.name):
        sink._log_created_issues(result)
    assert [record.getMessage() for record in caplog.records] == [f"sink: created issue P1-11 (id 7), group key {KEY}"]
