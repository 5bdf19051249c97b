"""Escalation forecasts (spec §16) and the daily threshold read from them (spec §15.5.4, §12.7): pure functions."""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TypedDict

HISTORY_HOURS = 168  # spec §16.1: the complete hours [H − 168 h, H); §16.3 step 3
FORECAST_DAYS = 14  # spec §16.3 step 8, §15.5.2
NEW_ISSUE_MULTIPLIER = 10  # spec §16.3 step 3: 10·m with less than a week of non-empty hours
STD_MULTIPLIER = 5  # spec §16.2
SPIKE_MULTIPLIER_MIN, SPIKE_MULTIPLIER_MAX = 5, 8  # spec §16.2
BURSTY_MULTIPLIER_MIN, BURSTY_MULTIPLIER_MAX = 2, 5  # spec §16.2
BURSTY_SCALE, BURSTY_DECAY = 5, -0.65  # spec §16.3 step 5: 5·e^(−0.65·cv)
SAME_WEEKDAY_WEIGHT, OTHER_WEEKDAY_WEIGHT = 2, 1  # spec §16.3 step 7
ONE_EVENT_FORECAST = 10  # spec §15.5.4: today's value without a stored forecast
MIN_AGE_FOR_FORECAST_ESCALATION = timedelta(hours=24)  # spec §12.7

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


class ForecastInput(TypedDict):
    """The non-empty hours before H and their counts, ascending (spec §16.1)."""

    intervals: list[datetime]
    data: list[int]


class DailyForecast(TypedDict):
    """One day of a forecast (spec §16.3 step 8)."""

    forecasted_date: str
    forecasted_value: int


def forecast_input(hourly_counts: Iterable[tuple[datetime, int]], t: datetime) -> ForecastInput:
    """The §16.1 input at T from a group's hourly buckets (hour start, count), in any order.

    Only the 168 complete hours [H − 168 h, H) count, H being the start of the hour containing T; the
    current, partial hour is left out. Hours with a count of 0 are absent, not zero (spec §16.1).
    """
    current_hour = _utc(t, "t").replace(minute=0, second=0, microsecond=0)
    first_hour = current_hour - HISTORY_HOURS * _HOUR
    buckets: dict[datetime, int] = {}
    for hour, count in hourly_counts:
        start = _utc(hour, "hour")
        if start != start.replace(minute=0, second=0, microsecond=0):
            raise ValueError(f"an hourly bucket must start on an hour boundary: {hour!r}")
        if not _is_int(count) or count < 0:
            raise ValueError(f"an hourly count must be a non-negative int: {count!r}")
        if start in buckets:
            raise ValueError(f"two buckets for the same hour: {hour!r}")
        buckets[start] = count
    kept = sorted((start, count) for start, count in buckets.items() if first_hour <= start < current_hour and count)
    return {"intervals": [start for start, _ in kept], "data": [count for _, count in kept]}


def generate_issue_forecast(data: ForecastInput, start_time: datetime) -> list[DailyForecast]:
    """The 14 daily escalation thresholds from `start_time` (spec §16.3), numerics as in §16.4.

    `data` is the §16.1 input; `start_time` is T (aware; its UTC date is the first forecasted date).
    Returns `[]` when there are no non-empty hours.
    """
    intervals = [_utc(interval, "interval") for interval in data["intervals"]]
    counts = list(data["data"])
    if len(intervals) != len(counts):
        raise ValueError(f"{len(intervals)} intervals but {len(counts)} counts")
    if any(not _is_int(count) or count < 1 for count in counts):
        raise ValueError("counts must be positive ints (spec §16.1)")
    days = forecast_days(_utc(start_time, "start_time"))
    if not counts:  # spec §16.3 step 1
        return []
    peak = max(counts)  # spec §16.3 step 2
    if len(counts) < HISTORY_HOURS:  # spec §16.3 step 3
        return [_daily(day, peak * NEW_ISSUE_MULTIPLIER) for day in days]
    mean = statistics.mean(counts)  # spec §16.3 step 4, §16.4: exact arithmetic before the square root
    stdev = statistics.stdev(counts)  # sample standard deviation (n − 1)
    cv = stdev / mean
    limit_v1 = peak * bursty_multiplier(cv)  # spec §16.3 step 5
    baseline = spike_multiplier(mean, stdev) * mean  # spec §16.3 step 6
    return [
        _daily(day, day_value(limit_v1, weighted_average(counts, weekday_weights(intervals, day)), baseline))
        for day in days
    ]


def forecast_days(start: datetime) -> list[datetime]:
    """start + 0 … 13 days (spec §16.3 steps 7–8)."""
    return [start + k * _DAY for k in range(FORECAST_DAYS)]


def bursty_multiplier(cv: float) -> float:
    """5·e^(−0.65·cv) clamped to [2, 5], e as Euler's number to a power (spec §16.3 step 5, §16.4)."""
    return min(max(BURSTY_MULTIPLIER_MIN, BURSTY_SCALE * math.e ** (BURSTY_DECAY * cv)), BURSTY_MULTIPLIER_MAX)


def spike_multiplier(mean: float, stdev: float) -> float:
    """(μ + 5σ) / μ clamped to [5, 8] (spec §16.2, §16.3 step 6)."""
    return min(max((mean + STD_MULTIPLIER * stdev) / mean, SPIKE_MULTIPLIER_MIN), SPIKE_MULTIPLIER_MAX)


def weekday_weights(intervals: Sequence[datetime], day: datetime) -> list[int]:
    """2 for an hour on the forecasted day's weekday, 1 otherwise (spec §16.3 step 7)."""
    weekday = day.weekday()
    return [SAME_WEEKDAY_WEIGHT if hour.weekday() == weekday else OTHER_WEEKDAY_WEIGHT for hour in intervals]


def weighted_average(counts: Sequence[int], weights: Sequence[int]) -> float:
    """Σ(w·count) / Σw (spec §16.3 step 7)."""
    return sum(count * weight for count, weight in zip(counts, weights, strict=True)) / sum(weights)


def day_value(limit_v1: float, wavg: float, baseline: float) -> int:
    """int(max(limit_v1, wavg + baseline)), truncating toward zero; no other floor (spec §16.3 step 7, §16.5)."""
    return int(max(limit_v1, wavg + baseline))


def todays_forecast(forecast: Sequence[int] | None, forecast_date: date | None, t: float) -> int:
    """Today's threshold at T (epoch seconds) from the stored 14 values and their first date (spec §15.5.4).

    No stored forecast → 10. Otherwise k = date(T) − forecast_date in days: 0 ≤ k ≤ 13 → forecast[k],
    k ≥ 14 → forecast[13], k < 0 → forecast[0].
    """
    if forecast is None or forecast_date is None:
        return ONE_EVENT_FORECAST
    if len(forecast) != FORECAST_DAYS:
        raise ValueError(f"a stored forecast has {FORECAST_DAYS} values, not {len(forecast)} (spec §15.5.2)")
    k = (datetime.fromtimestamp(t, UTC).date() - forecast_date).days
    return forecast[min(max(k, 0), FORECAST_DAYS - 1)]


def exceeded_forecast(
    *,
    hour_count: int,
    forecast: Sequence[int] | None,
    forecast_date: date | None,
    first_seen: float,
    t: float,
    escalation_detection: bool,
) -> int | None:
    """The forecast value that hour(T)'s count exceeds, or None when the forecast rule does not escalate.

    Spec §12.7 (IGNORED/UNTIL_ESCALATING): the type has escalation detection, the group is at least 24 h
    old (T − first_seen ≥ 24 h; younger groups skip only this rule), and `hour_count` (including this
    occurrence) is strictly greater than today's forecast (§15.5.4). Times are epoch seconds.
    """
    if not escalation_detection:
        return None
    if t - first_seen < MIN_AGE_FOR_FORECAST_ESCALATION.total_seconds():
        return None
    threshold = todays_forecast(forecast, forecast_date, t)
    return threshold if hour_count > threshold else None


def _daily(day: datetime, value: int) -> DailyForecast:
    return {"forecasted_date": day.date().isoformat(), "forecasted_value": value}


def _utc(moment: datetime, what: str) -> datetime:
    """Spec §0.3: times are UTC; a naive datetime is a caller's bug, not a time."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime: {moment!r}")
    return moment.astimezone(UTC)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
