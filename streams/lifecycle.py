"""The worker's run: migrate the schema, claim the data dir, note an unclean stop, stop within a deadline.

Before Faust starts, the worker applies pending schema migrations (storage.migrate, which holds a
Postgres advisory lock, so workers starting together apply each migration once): a deployment started
from a Procfile or a container needs no separate step to have its tables. An unreachable database is
waited for (`ISSUE_PLATFORM_START_DATABASE_WAIT_SECONDS`), then stops the start with one line. Then the
topics are declared (streams.topic_admin) and the input topic is compared with the offsets recorded for it
(streams.input_topic): either can refuse the start in one line, exit status 2.

A data dir holds one deployment's tables: a file in it names the deployment (`Settings.deployment_id`),
and a worker of another deployment refuses it rather than mixing that state into its own tables.

After a worker died without stopping (kill -9, OOM, power loss), its local table state is kept: a table
value reaches RocksDB only after the broker acknowledged its changelog record, in one write with the
changelog offset it ends at (streams/faust_compat/store_after_changelog.py), so RocksDB is never *ahead* of
the changelog and Faust's recovery reads the changelog on from that offset, as after a clean stop. Under
`processing_guarantee="exactly_once"` Faust writes RocksDB first and its transactions later: there, and only
there, the local state is thrown away after an unclean stop and rebuilt from the changelogs (otherwise a
value whose transaction was aborted would survive, the re-read input would look applied, and its effects
would never be produced).

A marker file in the data dir says "a worker is running here". It is written at start and removed only
after a clean stop (exit status 0). Finding it at start means the last run did not stop cleanly.

On SIGTERM or SIGINT the worker stops the way Faust stops (agents, offset commits, changelog flush), but
within a deadline (`ISSUE_PLATFORM_SHUTDOWN_TIMEOUT_SECONDS`, 25): a stop during a rebalance can wait a
minute in aiokafka (streams/faust_compat/shutdown.py has the evidence), longer than an orchestrator
waits before it kills. At the deadline a watchdog thread, which works even if the event loop is stuck,
logs one line naming what was still running and ends the process with exit status 75. The marker stays,
so the next start knows the stop was unclean (see above for what it does then).
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from storage.migrate import SchemaUnavailable, migrate_schema
from streams.faust_compat import shutdown
from streams.gc_tuning import tune_garbage_collector
from streams.input_topic import check_input_topic_at_start
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


def begin_run(data_dir: Path, table_dir: Path, *, discard_after_unclean_stop: bool) -> bool:
    """Mark this run; first, if asked to and the previous run did not stop cleanly, discard `table_dir`.

    True if discarded."""
    marker = marker_path(data_dir)
    discarded = False
    if not discard_after_unclean_stop and marker.exists():
        log.warning("the last worker run in %s did not stop cleanly; its local table state is kept (never ahead of "
                    "the changelogs) and recovery reads the changelogs on from where it ends", data_dir)
    if discard_after_unclean_stop and marker.exists() and table_dir.exists():
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


# EX_TEMPFAIL: the stop did not finish in time; starting again is safe (as after kill -9, see above).
GAVE_UP_EXIT_STATUS = 75
# If even logging the line blocks (a full pipe), the process still ends this much later.
_BACKSTOP_SECONDS = 2.0


def give_up_line(signal_name: str, seconds: float, still_running: list[str]) -> str:
    running = "; ".join(still_running) or "nothing found (the interpreter's exit itself)"
    return (f"shutdown: not stopped {seconds:g} s after {signal_name}; ending the process with exit status "
            f"{GAVE_UP_EXIT_STATUS} and leaving the unclean-stop marker; starting again is safe (the local "
            f"tables are never ahead of the changelogs). Still running: {running}")


class StopDeadline:
    """Ends the process `seconds` after the first stop signal unless it has ended by itself.

    `arm` is called by the signal's handler; `watch` runs in a daemon thread started before the worker,
    so it keeps watching through the interpreter's exit too (which waits for Faust's consumer thread).
    `clock`, `wait` and `end_process` are the real ones except in tests.
    """

    def __init__(self, seconds: float, *, still_running: Callable[[], list[str]],
                 clock: Callable[[], float] = time.monotonic, wait: Callable[[float], bool] | None = None,
                 end_process: Callable[[int], None] = os._exit) -> None:
        self.seconds = seconds
        self._still_running = still_running
        self._clock = clock
        self._closed = threading.Event()
        self._wait = wait or self._closed.wait
        self._end_process = end_process
        self._armed = threading.Event()
        self._signal_name = ""
        self._signalled_at = 0.0

    def arm(self, signum: int) -> None:
        """Start counting; a later signal changes nothing (the deadline runs from the first)."""
        if self._armed.is_set():
            return
        self._signal_name = signal.Signals(signum).name
        self._signalled_at = self._clock()
        self._armed.set()

    def close(self) -> None:
        """Stop watching without ending anything (tests; the real process simply ends)."""
        self._closed.set()
        self._armed.set()

    def start(self) -> None:
        threading.Thread(target=self.watch, name="shutdown-deadline", daemon=True).start()

    def watch(self) -> None:
        self._armed.wait()
        while not self._closed.is_set():
            remaining = self._signalled_at + self.seconds - self._clock()
            if remaining <= 0:
                self._give_up()
                return
            self._wait(remaining)

    def _give_up(self) -> None:
        backstop = threading.Timer(_BACKSTOP_SECONDS, self._end_process, (GAVE_UP_EXIT_STATUS,))
        backstop.daemon = True
        backstop.start()
        try:
            running = self._still_running()
        except Exception as error:  # noqa: BLE001  # read from a thread while the loop runs: say so and go on
            running = [f"(could not tell: {error!r})"]
        log.error("%s", give_up_line(self._signal_name, self.seconds, running))
        for handler in logging.getLogger().handlers:
            handler.flush()
        self._end_process(GAVE_UP_EXIT_STATUS)
        backstop.cancel()  # only reached when `end_process` is a test's


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
    check_input_topic_at_start()  # a recreated input topic is refused in one line (exit 2, spec §2.4.10)
    tune_garbage_collector(settings.gc_young_threshold)  # last of start-up: its objects are frozen
    loop: asyncio.AbstractEventLoop | None = None  # the worker's, known once a stop signal has come

    def still_running() -> list[str]:
        return shutdown.still_running(loop) if loop is not None else []

    deadline = StopDeadline(settings.shutdown_timeout_seconds, still_running=still_running)

    def on_stop_signal(signum: int, worker_loop: asyncio.AbstractEventLoop) -> None:
        nonlocal loop
        loop = worker_loop
        deadline.arm(signum)

    shutdown.listen_for_stop_signals(on_stop_signal)
    deadline.start()
    begin_run(data_dir, Path(app.conf.tabledir),
              discard_after_unclean_stop=settings.processing_guarantee == "exactly_once")
    clean = False
    try:
        app.main()
        clean = True
    except SystemExit as exit_:
        clean = exit_.code in (0, None)
        raise
    finally:
        end_run(data_dir, clean=clean)
