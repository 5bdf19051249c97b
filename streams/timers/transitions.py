"""The timers of spec §15.1: each worker scans the due-time index of the `groups` partitions it owns every
`timers.scan_interval_seconds` and sends a `tick` through the grouping topic for each check that is due.

The scan reads only the `timer-index` table (streams.core.timers.due_entries): the entries that are due and
one chunk more per range, never the group states. Timers never write tables (spec §15.1.1): the owner applies
the tick, re-evaluating its check at the tick's T (§15.1.2), and moves or removes the entry. Until it has, the
entry stays in the index, so a tick sent is remembered here and not sent again for `RESEND_SECONDS` (at most
one outstanding per group and check). After a restart the memory is gone and a due entry gets a second
tick: the first moved the group, so the second finds nothing to do.

A forecast tick (§15.5.2) carries the forecast the scan computed from the group's hourly counts in PostgreSQL
(§16.1): the owner has no database, and only stores it if the group still wants one.

The clock is the wall clock plus `ISSUE_PLATFORM_CLOCK_OFFSET_SECONDS` (0; test only), so tests move time by
days without waiting for it.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from storage.timer_reads import hourly_counts_by_key
from streams.app import app, settings
from streams.core.forecast import HISTORY_HOURS, forecast_input, generate_issue_forecast
from streams.core.messages import encode
from streams.core.options import INTEGER_OPTIONS
from streams.core.payload import ID_NAMESPACE
from streams.core.timers import FORECAST, DueEntry, due_entries, tick_message
from streams.faust_compat.internals import active_partitions, table_items_after
from streams.project_ages import refresh_resolve_ages, resolve_age_hours
from streams.services import postgres
from streams.tables import current_options, timer_index
from streams.topics import grouping_topic

log = logging.getLogger(__name__)

SCAN_INTERVAL_OPTION = "timers.scan_interval_seconds"
# How often the timer wakes to see whether a scan is due: the option may change at any time (spec §10.4).
POLL_SECONDS = 5.0
# A tick not applied within this long (lost, or behind a long backlog) is sent again; its re-evaluation
# makes a second one harmless.
RESEND_SECONDS = 600.0
# Ticks per partition and scan: a day's forecasts of a million archived groups are spread over scans.
MAX_TICKS_PER_PARTITION = 5000

_last_scan = -float("inf")
# index key → when (monotonic) its tick was sent: the outstanding ticks of this worker.
_outstanding: dict[str, float] = {}


def clock() -> float:
    """T for the timers: the wall clock, moved by the test-only offset."""
    return time.time() + settings.clock_offset_seconds


def scan_interval() -> float:
    value = current_options().get(SCAN_INTERVAL_OPTION)
    return float(value) if isinstance(value, int) else float(INTEGER_OPTIONS[SCAN_INTERVAL_OPTION].default)


async def scan_timers() -> None:
    """The worker's timer (every POLL_SECONDS): a scan once the option's interval has passed since the last."""
    global _last_scan
    started = time.monotonic()
    if started - _last_scan < scan_interval():
        return
    _last_scan = started
    try:
        await scan(now=clock())
    except Exception:  # a missed scan only delays a transition to the next one
        log.exception("timers: scan failed; the next one tries again")


async def scan(*, now: float) -> int:
    """One scan of this worker's active partitions at T = `now`; returns how many ticks it sent."""
    global _outstanding
    await refresh_resolve_ages()
    partitions = active_partitions(app, timer_index, grouping_topic.get_topic_name())
    still: dict[str, float] = {}
    sent = 0
    for partition in partitions:
        entries = due_entries(lambda after, limit, p=partition: table_items_after(timer_index, p, after, limit),
                              now=now, resolve_age_hours=resolve_age_hours, limit=MAX_TICKS_PER_PARTITION)
        fresh: list[DueEntry] = []
        for entry in entries:
            sent_at = _outstanding.get(entry.key)
            if sent_at is not None and time.monotonic() - sent_at < RESEND_SECONDS:
                still[entry.key] = sent_at
            else:
                fresh.append(entry)
        wanted = sorted({entry.group_key for entry in fresh if entry.check == FORECAST})
        forecasts = await _forecasts(wanted, now) if wanted else {}
        for entry in fresh:
            forecast: list[int] | None = None
            if entry.check == FORECAST:
                if forecasts is None:  # PostgreSQL could not be read: the next scan tries again
                    continue
                forecast = forecasts.get(entry.group_key, [])
            tick_id = uuid.uuid5(ID_NAMESPACE, f"tick:{entry.key}:{now!r}").hex
            # Explicitly to the key's partition: the one whose index holds the entry, whatever the partitioner.
            await grouping_topic.send(key=entry.group_key, partition=partition, timestamp=now,
                                      value=encode(tick_message(tick_id=tick_id, check=entry.check, t=now,
                                                                forecast=forecast)))
            still[entry.key] = time.monotonic()
            sent += 1
        await asyncio.sleep(0)
    _outstanding = still  # entries no longer due were applied: forgotten
    if sent:
        log.info("timers: %d ticks sent for %d active groups partitions (spec §15.1)", sent, len(partitions))
    return sent


async def _forecasts(group_keys: Sequence[str], now: float) -> dict[str, list[int]] | None:
    """group key → the 14 values of its forecast at T (spec §16, start = T; [] when §16 gives none); None when
    PostgreSQL cannot be read."""
    start = datetime.fromtimestamp(now, UTC)
    hour = start.replace(minute=0, second=0, microsecond=0)
    try:
        pool = await postgres.get()
        async with pool.connection() as conn:
            counts = await hourly_counts_by_key(conn, group_keys, hour - timedelta(hours=HISTORY_HOURS), hour)
    except Exception as error:  # noqa: BLE001
        log.warning("timers: hourly counts could not be read, forecasts wait for the next scan: %s", error)
        return None
    return {key: [day["forecasted_value"] for day in generate_issue_forecast(forecast_input(counts.get(key, []), start),
                                                                             start)]
            for key in group_keys}
