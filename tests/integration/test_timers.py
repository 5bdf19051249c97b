"""Timers on the real broker and database with a moved clock, on two workers (spec §15; issue 12 items 4 and 7):
the owner of each groups partition scans its keys, so both workers scan; their timers run
`ISSUE_PLATFORM_CLOCK_OFFSET_SECONDS` ahead, and the test restarts both with a larger offset to let days pass
in seconds. Auto-resolve after A hours (§15.2), then an occurrence regresses the issue (§12.5.1);
7 days later it is ONGOING (§15.3); a snooze_until expires through a tick with no occurrence (§15.4); and the
daily forecast of an issue archived until escalating is stored at the first scan of the next UTC day
(§15.5.2). Each transition is in PostgreSQL and on the activity topic (§18.2) with its source."""
from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.integration.harness import (
    Deployment,
    Worker,
    consume_all,
    json_value,
    make_occurrence,
    produce,
    status_change,
    wait_for,
)

pytestmark = pytest.mark.integration

BULK = 9801  # it_bulk: auto-resolve and escalation detection on, no noise (tests/integration/plugin_types.py)
HOUR, DAY = 3600, 86400
SET_RESOLVED_BY_AGE, SET_REGRESSION, AUTO_SET_ONGOING, SET_UNRESOLVED, FIRST_SEEN = 15, 6, 24, 2, 9


def occurrence(project_id: int, fingerprint: str, **fields: Any) -> bytes:
    return orjson.dumps(make_occurrence(project_id, fingerprint, type_id=BULK, **fields))


def group_row(deployment: Deployment, project_id: int, fingerprint: str) -> tuple[Any, ...] | None:
    rows = deployment.query(
        "SELECT g.id, g.status, g.substatus, g.times_seen, g.group_key, g.resolved_at, g.snooze_until FROM groups g "
        "JOIN group_hashes h ON h.group_id = g.id WHERE g.project_id = %s AND h.hash = md5(%s)",
        (project_id, fingerprint))
    return rows[0] if rows else None


def in_state(deployment: Deployment, project_id: int, fingerprint: str, status: int, substatus: int | None,
             what: str, timeout: float = 90) -> tuple[Any, ...]:
    return wait_for(lambda: (row := group_row(deployment, project_id, fingerprint)) and row[1:3] == (status, substatus)
                    and row, timeout=timeout, interval=1, what=what)


def activities(deployment: Deployment, group_id: int) -> list[tuple[Any, ...]]:
    return deployment.query("SELECT id, type, data, source, datetime FROM activities WHERE group_id = %s "
                            "ORDER BY datetime, type", (group_id,))


def key_state(worker: Worker, group_key: str) -> dict[str, Any] | None:
    """The owner's state of a key through Faust's table view (only it holds a group's forecast)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/table/groups/{group_key}/",
                                    timeout=10) as response:
            return orjson.loads(response.read())  # type: ignore[no-any-return]
    except (urllib.error.URLError, TimeoutError):
        return None


def reads_no_age(worker: Worker) -> bool:
    """The last `resolve_age_hours` its timers read is none (spec §15.2): it logs each change it reads."""
    log = worker.log()
    last = log.rfind("resolve_age_hours now ")
    return last < 0 or log.startswith("resolve_age_hours now none", last)


def routes(worker: Worker) -> dict[str, Any] | None:
    """Faust's router view of the groups table: host → its partitions."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/router/groups/", timeout=10) as response:
            return orjson.loads(response.read())  # type: ignore[no-any-return]
    except (urllib.error.URLError, TimeoutError):
        return None


def days_at(started: datetime, offset: float) -> set[str]:
    """The UTC dates the timers' clock may show for a scan from `started` until now (a test may cross midnight)."""
    return {(moment + timedelta(seconds=offset)).date().isoformat()
            for moment in (started, datetime.now(UTC), datetime.now(UTC) + timedelta(minutes=5))}


def start_two_workers(deployment: Deployment, offset: float) -> list[Worker]:
    """Two workers started together, their timers `offset` seconds ahead (the environment reaches both)."""
    deployment.extra_env["ISSUE_PLATFORM_CLOCK_OFFSET_SECONDS"] = str(offset)
    return [deployment.start_worker(), deployment.start_worker()]


def restart_with_offset(deployment: Deployment, offset: float) -> list[Worker]:
    """Both workers stopped together and started together again with the new offset: whichever owns a group,
    its timers see the moved clock."""
    deployment.stop_workers()
    deployment.extra_env["ISSUE_PLATFORM_CLOCK_OFFSET_SECONDS"] = str(offset)
    return [deployment.restart_worker(worker) for worker in list(deployment.workers)]


def test_auto_resolve_regression_ongoing_snooze_expiry_and_the_daily_forecast_on_a_moved_clock(
        deployment: Deployment) -> None:
    assert deployment.cli("migrate").returncode == 0
    assert deployment.cli("option", "set", "timers.scan_interval_seconds", "10").returncode == 0
    started = datetime.now(UTC)
    workers = start_two_workers(deployment, 2 * HOUR)  # the timers run 2 h ahead
    topic = deployment.topic("ingest-occurrences")
    until = started + timedelta(hours=1)  # past for the timers' clock, an hour ahead of the wall clock
    asyncio.run(produce(topic, [
        (b"resolve", occurrence(1, "resolve")),
        (b"snooze", occurrence(2, "snooze")),
        (b"snooze", status_change(2, "snooze", "a" * 32, 2, 4, snooze_until=until.isoformat())),  # T4
        # First seen two days ago: old enough for the forecast rule (spec §12.7).
        (b"forecast", occurrence(2, "forecast", detected_at=started - timedelta(days=2))),
    ]))
    resolve = in_state(deployment, 1, "resolve", 0, 7, "the group of project 1 created")
    # Archived once its first hour's count is in PostgreSQL, which the forecast is computed from (spec §16.1).
    in_state(deployment, 2, "forecast", 0, 7, "the forecast group created")
    asyncio.run(produce(topic, [(b"forecast", status_change(2, "forecast", "b" * 32, 2, 1))]))  # T3

    # spec §15.4: the snooze expires through a tick, without any occurrence.
    snooze = in_state(deployment, 2, "snooze", 0, 3, "the snooze_until expired to ONGOING")
    assert snooze[3] == 1 and snooze[6] is None
    (expired,) = [row for row in activities(deployment, snooze[0]) if row[1] == SET_UNRESOLVED]
    assert expired[2] == {"snooze": {"until": until.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}} and expired[3] == "snooze"

    # spec §15.2: project 1 gets A = 1 h; last_seen is 2 h behind the timers' clock, so the next scan resolves it.
    deployment.execute("UPDATE projects SET resolve_age_hours = 1 WHERE id = 1")
    resolved = in_state(deployment, 1, "resolve", 1, None, "auto-resolved after A hours")
    assert resolved[5] >= started + timedelta(hours=2)  # resolved_at = the tick's T, on the moved clock
    (by_age,) = [row for row in activities(deployment, resolve[0]) if row[1] == SET_RESOLVED_BY_AGE]
    assert by_age[2] == {"age": 1} and by_age[3] == "auto_resolve"

    # spec §12.5.1: a new occurrence regresses it. A is removed first (the scan reads it every interval), or the
    # regressed group, last seen 2 h behind the timers' clock, would be auto-resolved again at once.
    deployment.execute("UPDATE projects SET resolve_age_hours = NULL WHERE id = 1")
    # The owner read A = 1 to auto-resolve; a worker whose scans never read it has none all along.
    wait_for(lambda: all(reads_no_age(worker) for worker in workers), timeout=60, what="both workers' A = none")
    asyncio.run(produce(topic, [(b"resolve", occurrence(1, "resolve"))]))
    in_state(deployment, 1, "resolve", 0, 6, "REGRESSED by the next occurrence")

    # spec §15.5.2 (a): the forecast computed when the group entered UNTIL_ESCALATING, from its hourly counts.
    forecast_key = in_state(deployment, 2, "forecast", 2, 1, "the forecast group archived until escalating")[4]
    first_day = days_at(started, 2 * HOUR)
    # Faust's table view answers on either worker, proxying to the key's owner. The forecast comes from a scan
    # (every 10 s), then a tick through the owner's grouping: 60 s ran out twice in ten runs with four other
    # workers on the two cores (`make test`), so it gets 120 s.
    entered = wait_for(lambda: (state := key_state(workers[0], forecast_key)) and state["group"].get("forecast_date")
                       and state["group"], timeout=120, interval=1, what="the forecast of the archived group")
    assert entered["forecast_date"] in first_day and entered["forecast"] == [10] * 14  # one hour with 1 (§16.3.3)
    # Four more in the timers' hour (T' = the last tick's T): the busiest hour now has 4.
    asyncio.run(produce(topic, [(b"forecast", occurrence(2, "forecast")) for _ in range(4)]))
    in_state_counted = wait_for(lambda: (row := group_row(deployment, 2, "forecast")) and row[3] == 5 and row,
                                timeout=60, interval=1, what="five occurrences of the forecast group")
    busiest = deployment.query("SELECT max(count) FROM hourly_counts WHERE group_id = %s", (in_state_counted[0],))[0][0]
    assert in_state_counted[1:3] == (2, 1)  # below 10 per hour: not escalated

    # spec §15.5.2 (b): a day later, the first scan of the new UTC day stores the daily forecast.
    workers = restart_with_offset(deployment, DAY + 3 * HOUR)
    next_day = days_at(started, DAY + 3 * HOUR)
    assert not next_day & first_day
    daily = wait_for(lambda: (state := key_state(workers[1], forecast_key)) and state["group"].get("forecast_date")
                     in next_day and state["group"], timeout=90, interval=1, what="the daily forecast")
    assert daily["forecast"] == [10 * busiest] * 14 and busiest >= 4

    # spec §15.3: 7 days after the regression, the group becomes ONGOING.
    restart_with_offset(deployment, 7 * DAY + 3 * HOUR)
    in_state(deployment, 1, "resolve", 0, 3, "ONGOING 7 days after the regression")
    rows = activities(deployment, resolve[0])
    # The regression's T' is the auto-resolve tick's T (spec §0.2): the same time, so compared without order.
    assert sorted((row[1], row[3]) for row in rows if row[1] != FIRST_SEEN) == [
        (SET_REGRESSION, "occurrence"), (SET_RESOLVED_BY_AGE, "auto_resolve"), (AUTO_SET_ONGOING, "auto_ongoing")]
    (ongoing,) = [row for row in rows if row[1] == AUTO_SET_ONGOING]
    assert ongoing[2] == {"after_days": 7}

    # spec §18.2: every transition on the activity topic with its source and the group's state after it.
    stored = deployment.query("SELECT count(*) FROM activities")[0][0]
    messages = {message["id"]: message for message in map(json_value, asyncio.run(
        consume_all(deployment.topic("issue-platform-activity"), expected=stored)))}
    for row, source, state in ((by_age, "auto_resolve", (1, None)), (expired, "snooze", (0, 3)),
                               (ongoing, "auto_ongoing", (0, 3))):
        message = messages[row[0]]
        assert (message["source"], message["status"], message["substatus"], message["data"]) == (source, *state,
                                                                                                 row[2])
    # Ticks sent again after each restart found nothing left to do: one transition each, no more.
    assert deployment.query("SELECT count(*) FROM activities WHERE type IN (2, 15, 24)")[0][0] == 3


def test_a_worker_killed_as_it_sends_ticks_moves_the_group_once(deployment: Deployment) -> None:
    """spec §15.1.2: a tick is re-evaluated where it is applied, so the ticks a restarted worker sends again (it
    remembers no outstanding tick), and those of the other worker that takes over its partitions meanwhile, find
    nothing left to do. kill -9 a worker the moment its scan has sent its ticks, then restart it: one transition,
    one activity."""
    assert deployment.cli("migrate").returncode == 0
    assert deployment.cli("option", "set", "timers.scan_interval_seconds", "10").returncode == 0
    started = datetime.now(UTC)
    workers = start_two_workers(deployment, 2 * HOUR)
    topic = deployment.topic("ingest-occurrences")
    until = (started + timedelta(hours=1)).isoformat()
    fingerprints = [f"killed-{n}" for n in range(5)]
    asyncio.run(produce(topic, [(name.encode(), occurrence(3, name)) for name in fingerprints]))
    for name in fingerprints:
        in_state(deployment, 3, name, 0, 7, f"{name} created")
    # Both workers own groups partitions, so both scan theirs (spec §15.1.1).
    wait_for(lambda: len(routes(workers[0]) or {}) == 2, timeout=60, what="the groups partitions on both workers")
    # Archived until a time the timers' clock has passed: due at the next scan (spec §15.4).
    asyncio.run(produce(topic, [(name.encode(), status_change(3, name, f"{n:032x}", 2, 4, snooze_until=until))
                                for n, name in enumerate(fingerprints)]))
    sender = wait_for(lambda: next((worker for worker in workers if "ticks sent" in worker.log()), None), timeout=90,
                      interval=0.2, what="a scan sending its ticks")
    deployment.kill_worker(sender)

    deployment.restart_worker(sender)
    for name in fingerprints:
        in_state(deployment, 3, name, 0, 3, f"{name} ONGOING after the restart", timeout=120)
    # Two more scans (10 s apart, polled every 5 s): a tick sent again after the restart has been applied by then.
    time.sleep(30)
    rows = deployment.query("SELECT a.type, count(*) FROM activities a JOIN groups g ON g.id = a.group_id "
                            "WHERE g.project_id = 3 AND a.type = %s GROUP BY 1", (SET_UNRESOLVED,))
    assert rows == [(SET_UNRESOLVED, len(fingerprints))]
