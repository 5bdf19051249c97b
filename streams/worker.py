"""The one list of what runs in a worker: agents, tasks and timers, web pages, and CLI commands.

Every other module of `streams` only defines things; this module registers them on the app, in one
place, so any of them can be imported (and unit-tested) alone. `build()` is idempotent.
"""
from __future__ import annotations

from functools import partial

import click
import faust
from faust.cli.base import cli
from faust.web import View

from streams.agents import dlq, grouping, ingest, options, quota, reconcile, sink
from streams.agents import trackers as tracker_agent
from streams.agents.failure import StopOnFailedProduce, arm_kill_point, kill_point
from streams.agents.holes import StopOnHole, gap_policies, isolation_level
from streams.agents.holes import install as install_hole_guard
from streams.app import app, settings
from streams.commands import audit, basics, flags, parked, validate
from streams.commands import dlq as dlq_commands
from streams.commands import projects as project_commands
from streams.faust_compat import faults, seek
from streams.faust_compat.diagnostics import install_task_dump_signal
from streams.timers import (
    housekeeping,
    idle_keys,
    input_topic,
    ledger,
    memory,
    quota_retry,
    tracker_tickets,
)
from streams.timers import transitions as lifecycle_timers
from streams.topics import (
    activity_topic,
    dlq_topic,
    group_changes_topic,
    grouping_topic,
    ingest_topic,
    options_topic,
    quota_topic,
)
from streams.web import guard as web_guard
from streams.web import metrics as web_metrics
from streams.web import views
from streams.web.ui import pages as ui_pages

# (topic, agent, name, concurrency): each agent is the one reader of its topic on this worker.
AGENTS = (
    (ingest_topic, ingest.ingest, "ingest", 1),
    (grouping_topic, grouping.grouping, "grouping", 1),
    (quota_topic, quota.quota, "quota", 1),
    (group_changes_topic, sink.sink, "sink", 1),
    (options_topic, options.options, "options", 1),
    (dlq_topic, dlq.dlq, "dlq", 1),
    (activity_topic, tracker_agent.auto_tickets, "trackers", 1),  # spec §24.5: claims only, never calls a tracker
)

# (seconds, timer, name, on_leader)
TIMERS = (
    (settings.idle_key_sweep_seconds, idle_keys.sweep_idle_keys, "idle_key_sweep", False),
    (settings.quota_retry_seconds / 2, quota_retry.quota_retry_tick, "quota_retry", False),
    (settings.input_topic_check_seconds, input_topic.check_input_topic, "input_topic_check", False),
    # spec §15.1: wakes every few seconds, scans every timers.scan_interval_seconds (a runtime option)
    (lifecycle_timers.POLL_SECONDS, lifecycle_timers.scan_timers, "lifecycle_timers", False),
    (housekeeping.INTERVAL_SECONDS, housekeeping.forget_old_count_ids, "forget_old_count_ids", True),
    (settings.ledger_mark_seconds, ledger.ledger_tick, "ledger_marks", True),
    (settings.ledger_reconcile_seconds, reconcile.reconcile_tick, "ledger_reconcile", True),
    # spec §24.5: every worker makes the claimed automatic tickets (one claim at a time, FOR UPDATE SKIP LOCKED)
    (tracker_tickets.POLL_SECONDS, tracker_tickets.make_auto_tickets, "tracker_tickets", False),
    # The C heap's free pages back to the system (streams/timers/memory.py); off with MEMORY_TRIM_SECONDS=0.
    *(((settings.memory_trim_seconds, memory.trim_memory, "memory_trim", False),)
      if settings.memory_trim_seconds else ()),
)


async def _dump_tasks_on_usr2() -> None:
    install_task_dump_signal(app)


TASKS = (_dump_tasks_on_usr2,)

# In this order: aiohttp tries routes in the order they were added, and the catch-all 404 must come last.
PAGES: tuple[tuple[str, type[View]], ...] = (
    ("/api/0/projects/", views.ProjectsView),
    ("/api/0/projects/{project_id}/", views.ProjectView),
    ("/api/0/projects/{project_id}/issues/", views.ProjectIssuesView),
    ("/api/0/issues/{issue_id}/", views.IssueDetailsView),
    ("/api/0/issues/{issue_id}/activities/", views.IssueActivitiesView),
    ("/api/0/issues/{issue_id}/occurrences/", views.IssueOccurrencesView),
    ("/api/0/issues/{issue_id}/occurrences/latest/", views.LatestOccurrenceView),
    ("/api/0/grouptypes/", views.GroupTypesView),
    ("/api/0/grouptypes/{id_or_slug}/", views.GroupTypeView),
    ("/api/0/flags/", views.FlagsView),
    ("/api/0/flags/{name}/", views.FlagView),
    ("/api/0/options/", views.OptionsView),
    ("/api/0/options/{name}/", views.OptionView),
    ("/api/0/dlq/", views.DeadLettersView),
    ("/api/0/dlq/replay/", views.DeadLetterReplayView),  # before {entry_id}, which would take "replay"
    ("/api/0/dlq/{entry_id}/", views.DeadLetterView),
    ("/api/0/parked/", views.ParkedChangesView),
    ("/api/0/parked/retry/", views.ParkedRetryView),
    ("/api/0/audit/", views.AuditView),
    ("/api/0/health/", views.HealthView),
    ("/api/0/ready/", views.ReadyView),
    ("/api/0/metrics/", web_metrics.MetricsView),
    ("/metrics", web_metrics.MetricsView),  # where Prometheus looks by default (spec §20.4, §23)
    ("/api/0/trackers/", views.TrackersView),
    ("/api/0/trackers/failures/", views.TrackerFailuresView),
    ("/api/0/projects/{project_id}/trackers/{slug}/", views.ProjectTrackerView),
    ("/api/0/projects/{project_id}/trackers/{slug}/webhook/", views.TrackerWebhookView),
    ("/api/0/issues/{issue_id}/trackers/", views.IssueTrackersView),
    ("/api/0/issues/{issue_id}/trackers/{slug}/{action}/", views.IssueTrackerActionView),
    ("/api/0/{path:.*}", views.UnknownResourceView),
)

# The web UI (spec §21): `/`, `/projects/{id}/issues/`, `/issues/{id}/` and their forms, outside /api/0/.
UI_PAGES: tuple[tuple[str, type[View]], ...] = ui_pages.PAGES

# Our CLI commands, beside Faust's own (`worker`, `send`, …) on its root group `issue-platform`.
COMMANDS: tuple[click.Command, ...] = (
    basics.migrate,
    basics.send_example,
    validate.validate,
    flags.grouptypes,
    flags.flag_group,
    flags.option_group,
    dlq_commands.dlq_group,
    project_commands.project_group,
    parked.parked_group,
    audit.audit,
)

_built = False


def build() -> faust.App:
    """Register everything on the app and return it: the entry point calls this once before `app.main()`."""
    global _built
    if _built:
        return app
    _built = True
    for topic, fun, name, concurrency in AGENTS:
        app.agent(topic, name=name, concurrency=concurrency)(fun)
    for seconds, timer, name, on_leader in TIMERS:
        app.timer(seconds, name=name, on_leader=on_leader)(timer)
    for task in TASKS:
        app.task(task)
    for path, view in (*PAGES, *UI_PAGES):
        app.page(path)(view)
    # Before any handler: the bearer token of mutations and of Faust's /table/ and /router/ (spec §20.1.2, §10.3.3).
    web_guard.install(app.web.web_app, settings.api_token)  # type: ignore[attr-defined]
    for command in COMMANDS:
        cli.add_command(command)
    return app


def guard(app: faust.App) -> None:
    """For the `worker` command only: the sensors that stop a worker on a failed produce (spec §2.4.8) or a
    hole in its input (§2.4.9), and the test-only faults. A CLI command that produces (`option set`, `dlq
    replay`) is no worker: a failed send there is an error of that command, not a reason to `os._exit`."""
    faults.install(settings.fault_injection)  # off unless a test sets it (refused in production)
    fault = faults.parse(settings.fault_injection)
    if isinstance(fault, faults.KillAt):
        arm_kill_point(fault.point, fault.nth)
    tracker_tickets.after_call = partial(kill_point, "trackers.after_call")  # a no-op unless armed (§24.5 test)
    app.sensors.add(StopOnFailedProduce())
    guarantee = settings.processing_guarantee
    hole_guard = StopOnHole(app, gap_policies(guarantee), isolation_level=isolation_level(guarantee))
    app.sensors.add(hole_guard)
    install_hole_guard(hole_guard)
    seek.add_seek_listener(hole_guard.sought)
    app.on_partitions_revoked.connect(hole_guard.on_partitions_revoked)
