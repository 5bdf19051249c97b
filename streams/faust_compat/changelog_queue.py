"""The standby records fetched while a recovery completes are applied, not thrown away.

Evidence: `make chaos` on 475dfea lost counts in 2 of 3 runs (a detector duplicate counted as an
occurrence, groups' times_seen a few short, one held-back count too many). The standby store of one
worker lacked changelog records 3492-3679 of `seen-ids` partition 2, one record batch, while its
persisted offset and every record after them were there; it became the active store at the next
rebalance and decided with the hole (its RocksDB, read after the run, had 185 keys fewer than the
other workers'). The batch had been produced 0.1 s after that worker's recovery sought its standby
partitions. In Faust 0.15.3 the recovery resumes the standby partitions and the flow, then awaits the
tables' callbacks and the inputs' seek in `Recovery.on_recovery_completed`, and then calls
`app.flow_control.resume()` once more, which clears every queue made with `clear_on_resume`: the
changelog queue too. Standby records delivered in between were still in that queue; cleared, they are
never fetched again (the consumer's position is past them), and the next ones move the persisted offset
past the hole.

Clearing there has nothing stale to remove from the changelog queue: the recovery's first resume of the
cycle already cleared what the previous assignment left, and what was delivered since comes from the
positions the recovery sought. So while `on_recovery_completed` runs, the changelog queue keeps its
records through a `resume()`; every other queue is cleared as before (the inputs' queues must be: they are
sought again). A new rebalance that starts meanwhile (its revocation suspends the flow, then clears every
queue) still empties it: those records belong to an assignment that is over, and one applied after the next
recovery set its offsets would move a partition's offset past records not yet read (Faust's
`_slurp_changelogs` applies a record only when its offset is above the partition's), a hole again.

Upstream: unchanged in faust-streaming's newest code (181b1840, 2026-08-20): `recovery.py` and `manager.py`
there are byte for byte the 0.15.3 files, `on_recovery_completed` still calls `flow_control.resume()` after its
awaits, the changelog queue is still `clear_on_resume`, and mode's `FlowControlEvent.resume()` still clears
every such queue; no upstream issue names it (faust#212, 2021, reports standby events lost after recovery).
test_guard.py pins the 0.15.3 sources this relies on.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def changelog_queue_kept(tables: Any, flow_control: Any) -> Iterator[None]:
    """While inside, `flow_control.resume()` leaves the table manager's changelog queue as it is; a clear while
    the flow is suspended (a rebalance's revocation: `suspend()`, then `clear()`) empties it as before."""
    queue = tables.changelog_queue
    clear = queue.clear

    def clear_unless_resuming() -> None:
        # resume() un-suspends the flow before it clears; a revocation clears with the flow suspended.
        if not flow_control.is_active():
            clear()

    queue.clear = clear_unless_resuming  # an instance attribute: FlowControlEvent.clear calls queue.clear()
    try:
        yield
    finally:
        del queue.clear
