"""The sink forwarding a change read again after an API delete removed its group (spec §20.9, §2.3.4)."""
from __future__ import annotations

from storage.changes import ActivityRecord, StatusChange
from storage.sink_plan import BatchResult, ChangeRecord
from streams.agents import sink
from tests.unit.core.test_grouping_rules import KEY, new_group


async def test_a_change_of_a_deleted_group_read_again_forwards_nothing_and_does_not_stop_the_sink() -> None:
    group = new_group()
    change = StatusChange(outcome="applied", t=3_000.0, group_key=KEY, project_id=1, group=group, cause_id="c" * 32,
                          activities=(ActivityRecord(id="a" * 32, type=1, data={}, datetime=3_000.0,
                                                     source="status_change"),))
    # Committed before (skipped), and its group row deleted since: no persisted group to name in its messages.
    result = BatchResult(skipped=[ChangeRecord(0, 5, change)])
    assert result.forwarded() == [ChangeRecord(0, 5, change)] and result.groups == {}
    await sink.forward(result, {})  # nothing to send; a KeyError here stopped the worker on every restart
