"""The worker's run: after a worker died without stopping (kill -9, OOM, power loss), its local table state is thrown away.

Faust writes a table value to RocksDB at once and to the changelog topic a moment later. A worker that
dies in between leaves RocksDB *ahead* of the changelog, and ahead of the input offsets it committed.
When that worker gets the partition back, recovery replays the changelog over the local values, but a
value that never reached the changelog survives: the re-read input then looks already applied (the
offset watermark, spec §2.4.2), and its effects (the group change for the sink, the quota answer's
creation) are never produced. Rebuilding from the changelog alone keeps state, changelog and effects
in step: the input is read again and decided again from what was really published.

A marker file in the data dir says "a worker is running here". It is written at start and removed only
after a clean stop (exit status 0). Finding it at start means the last run did not stop cleanly.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MARKER_NAME = "worker-running"


def marker_path(data_dir: Path) -> Path:
    return data_dir / MARKER_NAME


def begin_run(data_dir: Path, table_dir: Path) -> bool:
    """Discard `table_dir` if the previous run did not stop cleanly, then mark this run. True if discarded."""
    marker = marker_path(data_dir)
    discarded = False
    if marker.exists() and table_dir.exists():
        log.warning("the last worker run in %s did not stop cleanly; discarding its local table state in %s, "
                    "which is rebuilt from the changelog topics", data_dir, table_dir)
        shutil.rmtree(table_dir)
        discarded = True
    data_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text("a worker runs with this data dir; removed when it stops cleanly\n")
    return discarded


def end_run(data_dir: Path, *, clean: bool) -> None:
    if clean:
        marker_path(data_dir).unlink(missing_ok=True)


def run_worker(app: Any) -> None:
    """`app.main()` for the `worker` command, between the unclean-stop marker's set and its removal."""
    data_dir = Path(app.conf.datadir)
    begin_run(data_dir, Path(app.conf.tabledir))
    clean = False
    try:
        app.main()
        clean = True
    except SystemExit as exit_:
        clean = exit_.code in (0, None)
        raise
    finally:
        end_run(data_dir, clean=clean)
