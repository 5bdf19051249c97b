"""The hourly-count read that feeds the forecast (spec §16.1, §15.5.3), against the real PostgreSQL: the 168
complete hours before H, hour H itself left out, empty hours absent, only the key's live group's rows."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from storage.timer_reads import hourly_counts_by_key
from streams.core.forecast import HISTORY_HOURS, forecast_input, generate_issue_forecast

pytestmark = pytest.mark.integration

T = datetime(2026, 3, 4, 15, 42, 7, tzinfo=UTC)  # a Wednesday
H = datetime(2026, 3, 4, 15, tzinfo=UTC)  # the start of the hour containing T
HOUR = timedelta(hours=1)
KEY, OTHER = "1:" + "a" * 32, "1:" + "b" * 32


def insert_group(conn: psycopg.Connection, group_key: str, generation: int, short_id: int) -> int:
    row = conn.execute(
        "INSERT INTO groups (project_id, group_key, generation, type, status, substatus, substatus_since, priority, "
        "short_id, first_seen, last_seen, times_seen, level, title, version) "
        "VALUES (1, %s, %s, 2001, 2, 1, %s, 25, %s, %s, %s, 1, 30, 'title', 1) RETURNING id",
        (group_key, generation, T, short_id, T - 30 * 24 * HOUR, T)).fetchone()
    assert row is not None
    return int(row[0])


def add_counts(conn: psycopg.Connection, group_id: int, counts: dict[datetime, int]) -> None:
    with conn.cursor() as cursor:
        cursor.executemany("INSERT INTO hourly_counts (group_id, hour, count) VALUES (%s, %s, %s)",
                           [(group_id, hour, count) for hour, count in counts.items()])


async def read(database: str, keys: list[str]) -> dict[str, list[tuple[datetime, int]]]:
    """As the timers read them for a forecast at T (streams.timers.transitions._forecasts)."""
    async with await psycopg.AsyncConnection.connect(database) as conn:
        return await hourly_counts_by_key(conn, keys, H - HISTORY_HOURS * HOUR, H)


async def test_the_168_complete_hours_before_h_of_the_keys_live_group(database: str) -> None:
    first = H - HISTORY_HOURS * HOUR  # the oldest hour read
    # Hours at both bounds and inside; the hour before the window and H itself (partial) are outside. Every
    # other hour of the window is empty: it must be absent, not zero (spec §16.1).
    inside = {first: 3, first + HOUR: 1, H - 50 * HOUR: 7, H - HOUR: 2}
    outside = {first - HOUR: 100, H: 100, H + HOUR: 100}
    with psycopg.connect(database) as conn:
        conn.execute("INSERT INTO projects (id, slug) VALUES (1, 'one')")
        group = insert_group(conn, KEY, 1, 1)
        add_counts(conn, group, {**inside, **outside})
        # Another group's rows, in the same hours, are not this key's.
        add_counts(conn, insert_group(conn, OTHER, 0, 2), {first: 9, H - HOUR: 9})
        # An older generation of the same key (spec §2.4.5: a deleted group's key makes a new group): its rows
        # are not the live group's. The sink deletes them with the group (§19); the read does not rely on it.
        add_counts(conn, insert_group(conn, KEY, 0, 3), {first: 50, H - 2 * HOUR: 50})
        # A group deleted (§19: its hourly counts go with it) leaves nothing behind for its key.
        gone = insert_group(conn, "1:" + "c" * 32, 0, 4)
        add_counts(conn, gone, {H - HOUR: 5})
        conn.execute("DELETE FROM groups WHERE id = %s", (gone,))

    counts = await read(database, [KEY, "1:" + "c" * 32, "1:" + "d" * 32])
    assert counts == {KEY: sorted(inside.items())}  # ascending; keys without rows are absent

    # Both keys at once, each its own.
    both = await read(database, [KEY, OTHER])
    assert both[OTHER] == [(first, 9), (H - HOUR, 9)] and both[KEY] == sorted(inside.items())

    # What the forecast is computed from (spec §16.1, §16.3 step 3: fewer than 168 hours → 10·max).
    data = forecast_input(counts[KEY], T)
    assert (data["intervals"], data["data"]) == (sorted(inside), [3, 1, 7, 2])
    forecast = generate_issue_forecast(data, T)
    assert [day["forecasted_value"] for day in forecast] == [70] * 14
    assert forecast[0]["forecasted_date"] == "2026-03-04"


async def test_a_full_week_of_hours_reaches_the_statistical_forecast(database: str) -> None:
    # Every one of the 168 hours has a count (spec §16.3 steps 4-7), as in the worked example §16.6: 6 an hour.
    week = {H - (n + 1) * HOUR: 6 for n in range(HISTORY_HOURS)}
    with psycopg.connect(database) as conn:
        conn.execute("INSERT INTO projects (id, slug) VALUES (1, 'one')")
        add_counts(conn, insert_group(conn, KEY, 0, 1), {**week, H: 500, H - (HISTORY_HOURS + 1) * HOUR: 500})
    counts = (await read(database, [KEY]))[KEY]
    assert len(counts) == HISTORY_HOURS and {count for _, count in counts} == {6}
    assert [day["forecasted_value"] for day in generate_issue_forecast(forecast_input(counts, T), T)] == [36] * 14
