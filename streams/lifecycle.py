"""The worker's run: migrate the schema, claim the data dir, and after an unclean stop rebuild local tables.

Before Faust starts, the worker applies pending schema migrations (storage.migrate, which holds a
Postgres advisory lock, so workers starting together apply each migration once): a deployment started
from a Procfile or a container needs no separate step to have its tables. An unreachable database is
waited for (`ISSUE_PLATFORM_START_DATABASE_WAIT_SECONDS`), then stops the start with one line.

A data dir holds one deployment's tables: a file in it names the deployment (`Settings.deployment_id`),
and a worker of another deployment refuses it rather than mixing that state into its own tables.

After a worker died without stopping (kill -9, OOM, power loss), its local table state is thrown away.
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
import sys
from pathlib import Path
from typing import Any

from storage.migrate import SchemaUnavailable, migrate_schema
from streams.settings import get_settings
from streams.topic_admin import prepare_worker_topics

log = logging.getLogger(__name__)

MARKER_NAME = "worker-running"
DEPLOYMENT_FILE_NAME = "deployment"


class StartRefused(Exception):
    """The worker cannot start; the message is one line saying why and what to do."""


def claim_data_dir(data_dir: Path, deployment_id: str) -> None:
    """Mark `data_dir` as this deployment's, or refuse it if another deployment's tables are there."""
    stamp = data_dir / DEPLOYMENT_FILE_NAME
    if stamp.exists():
        owner = stamp.read_text().strip()
        if owner != deployment_id:
            raise StartRefused(
                f"the data dir {data_dir} holds the tables of deployment {owner!r}, not {deployment_id!r}: "
                "give each deployment its own ISSUE_PLATFORM_DATA_DIR (or --datadir)"
            )
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(deployment_id + "\n")


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
    """The `worker` command: migrate, claim the data dir, then `app.main()` between the unclean-stop
    marker's set and its removal."""
    settings = get_settings()
    data_dir = Path(app.conf.datadir)
    try:
        # Faust has not set up logging yet: the waiting lines go to stderr.
        applied = migrate_schema(settings.database_url, wait_seconds=settings.start_database_wait_seconds,
                                 on_wait=lambda line: print(f"issue-platform: {line}", file=sys.stderr))
        claim_data_dir(data_dir, settings.deployment_id)
    except (StartRefused, SchemaUnavailable) as error:
        print(f"issue-platform: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    # Faust has not set up logging yet.
    print(f"issue-platform: applied {len(applied)} migration(s): {', '.join(applied)}" if applied
          else "issue-platform: schema is up to date", file=sys.stderr)
    prepare_worker_topics()  # every topic declared with its configuration, or a one-line refusal (exit 2)
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
