"""The changelog queue keeps the standby records delivered while a recovery completes (changelog_queue.py)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from streams.faust_compat import seek
from streams.faust_compat.changelog_queue import changelog_queue_kept


def _queues() -> tuple[FlowControlEvent, FlowControlQueue[str], FlowControlQueue[str]]:
    flow_control = FlowControlEvent(initially_suspended=False)
    changelog: FlowControlQueue[str] = FlowControlQueue(flow_control=flow_control, clear_on_resume=True)
    stream: FlowControlQueue[str] = FlowControlQueue(flow_control=flow_control, clear_on_resume=True)
    return flow_control, changelog, stream


def test_resume_inside_keeps_the_changelog_queue_and_clears_the_others() -> None:
    flow_control, changelog, stream = _queues()
    changelog.put_nowait("standby record 3492")
    stream.put_nowait("input record fetched before the seek")
    with changelog_queue_kept(SimpleNamespace(changelog_queue=changelog), flow_control):
        flow_control.resume()
    assert changelog.qsize() == 1 and stream.qsize() == 0


def test_a_rebalance_starting_inside_still_empties_the_changelog_queue() -> None:
    """Its revocation suspends the flow and clears: records of an assignment that is over must not be applied
    after the next recovery has set its offsets (they would move a partition's offset past unread records)."""
    flow_control, changelog, stream = _queues()
    with changelog_queue_kept(SimpleNamespace(changelog_queue=changelog), flow_control):
        changelog.put_nowait("standby record of the assignment being revoked")
        flow_control.suspend()
        flow_control.clear()
        assert changelog.qsize() == 0
        changelog.put_nowait("delivered after the revocation's clear")
        flow_control.resume()  # the late resume of the recovery still keeps what came since
        assert changelog.qsize() == 1


def test_after_it_the_changelog_queue_is_cleared_on_resume_again() -> None:
    flow_control, changelog, _ = _queues()
    with changelog_queue_kept(SimpleNamespace(changelog_queue=changelog), flow_control):
        pass
    changelog.put_nowait("a record of the previous assignment")
    flow_control.resume()  # the next rebalance's first resume: Faust's clearing, as before
    assert changelog.qsize() == 0


def test_an_error_inside_restores_the_clearing() -> None:
    flow_control, changelog, _ = _queues()
    with pytest.raises(RuntimeError), changelog_queue_kept(SimpleNamespace(changelog_queue=changelog), flow_control):
        raise RuntimeError("recovery rebalancing again")
    changelog.put_nowait("x")
    flow_control.resume()
    assert changelog.qsize() == 0


def test_the_recovery_completion_runs_with_the_queue_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the chaos run lost: Faust's on_recovery_completed resumes the flow after its awaits, while standby
    records delivered meanwhile wait in the changelog queue."""
    flow_control, changelog, _ = _queues()

    async def faust_on_recovery_completed(self: Any, generation_id: int = 0) -> None:
        changelog.put_nowait("standby record delivered while the tables' callbacks ran")
        await asyncio.sleep(0)
        flow_control.resume()

    monkeypatch.setattr(seek, "_original_on_recovery_completed", faust_on_recovery_completed)
    consumer = SimpleNamespace(assignment=lambda: set())
    recovery = SimpleNamespace(app=SimpleNamespace(consumer=consumer, consumer_generation_id=1,
                                                   flow_control=flow_control),
                               tables=SimpleNamespace(changelog_queue=changelog))
    asyncio.run(seek._seek_inputs_before_resuming(recovery, 1))
    assert changelog.get_nowait() == "standby record delivered while the tables' callbacks ran"
