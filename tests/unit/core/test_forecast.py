"""Escalation forecast (spec §16), its input (§16.1) and the daily threshold read from it (§15.5.4, §12.7).

Expected values are worked out by hand from the spec's rules; the arithmetic is in the comments.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.forecast import (
    DailyForecast,
    bursty_multiplier,
    day_value,
    exceeded_forecast,
    forecast_input,
    generate_issue_forecast,
    spike_multiplier,
    todays_forecast,
    weekday_weights,
    weighted_average,
)

WEEK_START = datetime(2022, 7, 20, tzinfo=UTC)  # a Wednesday: the first hour of the §16.6 window
START = datetime(2022, 7, 27, tzinfo=UTC)  # the §16.6 start, also a Wednesday
WEEK = [WEEK_START + timedelta(hours=index) for index in range(168)]  # 2022-07-20T00:00Z … 2022-07-26T23:00Z
DATES = [
    "2022-07-27", "2022-07-28", "2022-07-29", "2022-07-30", "2022-07-31", "2022-08-01", "2022-08-02",
    "2022-08-03", "2022-08-04", "2022-08-05", "2022-08-06", "2022-08-07", "2022-08-08", "2022-08-09",
]
DAY = 86_400.0


def hours_of(day: int, first: int, last: int) -> range:
    """Indexes into WEEK of the hours first…last (inclusive) of the day-th day (0 = Wednesday 2022-07-20)."""
    return range(24 * day + first, 24 * day + last + 1)


def week_of(base: int, **hours: tuple[range, int]) -> list[int]:
    """168 hourly counts of `base`, with the hours in each given range set to the given count."""
    counts = [base] * 168
    for indexes, count in hours.values():
        for index in indexes:
            counts[index] = count
    return counts


def values(counts: list[int], intervals: list[datetime] = WEEK) -> list[int]:
    """The 14 forecasted values from START, after checking their dates."""
    forecast = generate_issue_forecast({"intervals": intervals, "data": counts}, START)
    assert [day["forecasted_date"] for day in forecast] == DATES
    return [day["forecasted_value"] for day in forecast]


def by_weekday(wednesday: int, thursday: int, other: int) -> list[int]:
    """Days k = 0 … 13 from Wednesday START: k = 0, 7 are Wednesdays, k = 1, 8 Thursdays, the rest Fri–Tue."""
    return ([wednesday, thursday] + [other] * 5) * 2


def epoch(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


# §16.6 and the branches of §16.3 ------------------------------------------------------------------------


def test_worked_example_forecasts_36_for_each_of_the_14_days() -> None:
    """Spec §16.6: 168 × 6 from 2022-07-20T00:00Z, start 2022-07-27T00:00Z.

    n = 168, m = 6, μ = 6, σ = 0, cv = 0, bursty = 5, limit_v1 = 30, spike = max(1, 5) = 5, baseline = 30,
    wavg = 6, value = int(max(30, 36)) = 36.
    """
    forecast = generate_issue_forecast({"intervals": WEEK, "data": [6] * 168}, START)
    expected: list[DailyForecast] = [{"forecasted_date": day, "forecasted_value": 36} for day in DATES]
    assert forecast == expected
    assert all(type(day["forecasted_value"]) is int for day in forecast)


def test_no_nonempty_hours_give_no_forecast() -> None:
    """Spec §16.3 step 1: n = 0 → [] (and §15.5.2 then keeps the previous forecast)."""
    assert generate_issue_forecast({"intervals": [], "data": []}, START) == []


def test_fewer_than_168_nonempty_hours_forecast_ten_times_the_peak() -> None:
    """Spec §16.3 steps 2–3: n = 3 < 168, m = max(3, 7, 2) = 7 → 14 × 10·7 = 70."""
    forecast = generate_issue_forecast({"intervals": WEEK[:3], "data": [3, 7, 2]}, START)
    assert forecast == [{"forecasted_date": day, "forecasted_value": 70} for day in DATES]


def test_a_single_nonempty_hour_forecasts_ten_times_its_count() -> None:
    """Spec §16.3 step 3: n = 1, m = 1 → 10 (the smallest possible forecast)."""
    assert values([1], WEEK[100:101]) == [10] * 14


def test_one_empty_hour_in_the_week_still_counts_as_a_new_issue() -> None:
    """Spec §16.1 (empty hours are absent) and §16.3 step 3: 167 non-empty hours of 6 → n = 167 < 168 → 10·6 = 60,
    whereas the full week of 6 gives 36 (§16.6)."""
    missing_wednesday_noon = WEEK[:12] + WEEK[13:]
    assert values([6] * 167, missing_wednesday_noon) == [60] * 14
    assert values([6] * 168) == [36] * 14


def test_a_flat_week_forecasts_six_times_the_rate_with_no_floor_of_200() -> None:
    """Spec §16.3 steps 4–7 with σ = 0, and §16.5 (no 200 floor when m < 30).

    168 × 1: μ = 1, σ = 0, cv = 0 → bursty = min(max(2, 5·e^0), 5) = 5, limit_v1 = 1·5 = 5;
    spike = min(max(1/1, 5), 8) = 5, baseline = 5; wavg = 192/192 = 1 → int(max(5, 6)) = 6.
    168 × 29: limit_v1 = 145, baseline = 145, wavg = 29 → int(max(145, 174)) = 174.
    """
    assert values([1] * 168) == [6] * 14
    assert values([29] * 168) == [174] * 14


def test_one_huge_spike_forecasts_twice_the_peak() -> None:
    """Spiky: both multipliers clamped, the bursty limit wins (spec §16.3 steps 5–7).

    167 hours of 1 and Wednesday 12:00 of 169: m = 169, μ = (167 + 169)/168 = 336/168 = 2.
    Σ(c − μ)² = 167·1² + 167² = 167 + 27 889 = 28 056; σ² = 28 056/167 = 168; σ = √168 ≈ 12.96.
    cv ≈ 6.48; 5·e^(−0.65·6.48) ≈ 5·e^(−4.21) ≈ 0.07 → bursty = 2 (clamped); limit_v1 = 169·2 = 338.
    (μ + 5σ)/μ ≈ (2 + 64.8)/2 ≈ 33.4 → spike = 8 (clamped); baseline = 8·2 = 16.
    Σw = 24·2 + 144·1 = 192. Wednesday: Σw·c = 2·(23 + 169) + 144 = 528, wavg = 2.75 → 18.75;
    other days: Σw·c = 2·24 + 143 + 169 = 360, wavg = 1.875 → 17.875. Both < 338, so 338 every day.
    """
    assert values(week_of(1, spike=(hours_of(0, 12, 12), 169))) == [338] * 14


def test_a_moderate_spike_forecasts_the_peak_times_the_unclamped_bursty_multiplier() -> None:
    """Spec §16.3 step 5 unclamped, §16.4 (e as Euler's number to a power).

    167 hours of 10 and Wednesday 12:00 of 20: m = 20, μ = 1690/168 ≈ 10.059524.
    Σ(c − μ)² = 167·(10/168)² + (1670/168)² = (16 700 + 2 788 900)/28 224 ≈ 99.4048; σ² = 99.4048/167 = 100/168
    ≈ 0.595238; σ ≈ 0.771517; cv ≈ 0.076695.
    bursty = 5·e^(−0.65·0.076695) = 5·e^(−0.049852) ≈ 5·0.951370 ≈ 4.75685 ∈ (2, 5); limit_v1 ≈ 20·4.75685 ≈ 95.137.
    spike = (μ + 5σ)/μ ≈ 1.383 → 5; baseline ≈ 50.298. Wednesday wavg = (2·(230 + 20) + 1440)/192 = 1940/192
    ≈ 10.104 → 60.40; other days (480 + 1430 + 20)/192 = 1930/192 ≈ 10.052 → 60.35. int(95.137) = 95 every day.
    """
    assert values(week_of(10, spike=(hours_of(0, 12, 12), 20))) == [95] * 14


def test_bursty_hours_weigh_the_forecasted_weekday_double() -> None:
    """Bursty: both multipliers clamped, the baseline wins and varies by weekday (spec §16.3 steps 5–7).

    42 hours of 101 (all of Wednesday 07-20, Thursday 07-21 00:00–17:00), 126 hours of 1.
    m = 101; μ = (42·101 + 126)/168 = 4368/168 = 26.
    Σ(c − μ)² = 42·75² + 126·25² = 236 250 + 78 750 = 315 000; σ² = 315 000/167 ≈ 1886.23; σ ≈ 43.43; cv ≈ 1.670.
    bursty = 5·e^(−0.65·1.670) ≈ 5·e^(−1.086) ≈ 1.69 → 2 (clamped); limit_v1 = 101·2 = 202.
    spike = 1 + 5·cv ≈ 9.35 → 8 (clamped); baseline = 8·26 = 208.
    Σw = 192; Σw·c = Σc + (the counts on the forecasted weekday) = 4368 + …
      Wednesday: + 24·101 = 6792 → wavg 35.375 → 243.375 → 243
      Thursday:  + 18·101 + 6·1 = 6192 → 32.25 → 240.25 → 240
      Fri–Tue:   + 24·1 = 4392 → 22.875 → 230.875 → 230
    """
    counts = week_of(1, wednesday=(hours_of(0, 0, 23), 101), thursday=(hours_of(1, 0, 17), 101))
    assert values(counts) == by_weekday(243, 240, 230)


def test_values_are_truncated_toward_zero_not_rounded() -> None:
    """Spec §16.3 step 7: int(), truncating. The bursty week above gives 230.875 on Fri–Tue → 230, not 231;
    and an exact 36.0 (§16.6) stays 36."""
    counts = week_of(1, wednesday=(hours_of(0, 0, 23), 101), thursday=(hours_of(1, 0, 17), 101))
    assert values(counts)[2:7] == [230] * 5
    assert day_value(202, 22.875, 208) == 230  # int(max(202, 230.875))
    assert day_value(30, 6, 30) == 36  # int(max(30, 36))
    assert day_value(95.137, 10.104, 50.298) == 95  # the bursty limit wins: int(95.137)


def test_the_standard_deviation_is_the_sample_one() -> None:
    """Spec §16.3 step 4 (σ with denominator n − 1), §16.4; both multipliers unclamped.

    42 hours of 9 (Wednesday 07-20 00:00–21:00, Thursday 07-21 00:00–19:00), 126 hours of 1.
    m = 9; μ = (378 + 126)/168 = 504/168 = 3; Σ(c − μ)² = 42·36 + 126·4 = 1512 + 504 = 2016.
    Sample σ² = 2016/167 ≈ 12.071856, σ ≈ 3.474458 (population: √(2016/168) = √12 ≈ 3.464102); cv ≈ 1.158153.
    bursty = 5·e^(−0.752799) ≈ 5·0.471045 ≈ 2.3552 ∈ (2, 5); limit_v1 ≈ 21.20.
    spike = (3 + 17.372289)/3 ≈ 6.790763 ∈ (5, 8); baseline ≈ 20.372289.
    Σw·c = 504 + (the counts on the forecasted weekday):
      Wednesday: + 22·9 + 2·1 = 704 → 3.666667 → 24.038956 → 24 (population σ: 23.987175 → 23)
      Thursday:  + 20·9 + 4·1 = 688 → 3.583333 → 23.955622 → 23
      Fri–Tue:   + 24·1 = 528 → 2.75 → 23.122289 → 23
    """
    counts = week_of(1, wednesday=(hours_of(0, 0, 21), 9), thursday=(hours_of(1, 0, 19), 9))
    assert values(counts) == by_weekday(24, 23, 23)


def test_weekdays_and_dates_follow_the_utc_day_of_start() -> None:
    """Spec §0.3, §16.3 steps 7–8: start 2022-07-27T23:30−02:00 is 2022-07-28T01:30Z, a Thursday.

    With the bursty week (Wednesday 243, Thursday 240, Fri–Tue 230): k = 0 Thursday → 240, k = 1…5 Fri–Tue → 230,
    k = 6 Wednesday → 243, and again for k = 7…13. Dates 2022-07-28 … 2022-08-10.
    """
    counts = week_of(1, wednesday=(hours_of(0, 0, 23), 101), thursday=(hours_of(1, 0, 17), 101))
    start = datetime(2022, 7, 27, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    forecast = generate_issue_forecast({"intervals": WEEK, "data": counts}, start)
    assert [day["forecasted_value"] for day in forecast] == ([240] + [230] * 5 + [243]) * 2
    assert [day["forecasted_date"] for day in forecast] == DATES[1:] + ["2022-08-10"]


# the steps as small functions ---------------------------------------------------------------------------


def test_bursty_multiplier_is_clamped_to_2_and_5() -> None:
    """Spec §16.2, §16.3 step 5: 5·e^0 = 5; 5·e^(−6.5) ≈ 0.0075 → 2; cv = ln 2/0.65 → 5·e^(−ln 2) = 2.5."""
    assert bursty_multiplier(0.0) == 5
    assert bursty_multiplier(10.0) == 2
    assert bursty_multiplier(0.6931471805599453 / 0.65) == pytest.approx(2.5)


def test_spike_multiplier_is_clamped_to_5_and_8() -> None:
    """Spec §16.2, §16.3 step 6: (6 + 0)/6 = 1 → 5; (1 + 5·10)/1 = 51 → 8; (1 + 5·1)/1 = 6 stays 6."""
    assert spike_multiplier(6, 0.0) == 5
    assert spike_multiplier(1, 10.0) == 8
    assert spike_multiplier(1, 1.0) == 6


def test_hours_on_the_forecasted_weekday_weigh_two() -> None:
    """Spec §16.3 step 7: for Wednesday START, Wednesday 07-20's 24 hours weigh 2, Thursday 07-21's weigh 1."""
    assert weekday_weights(WEEK[:48], START) == [2] * 24 + [1] * 24
    assert weekday_weights(WEEK[:48], START + timedelta(days=1)) == [1] * 24 + [2] * 24


def test_weighted_average_divides_by_the_sum_of_weights() -> None:
    """Spec §16.3 step 7: (2·1 + 1·3)/(2 + 1) = 5/3."""
    assert weighted_average([1, 3], [2, 1]) == 5 / 3


# input validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intervals", "counts", "start"),
    [
        (WEEK[:2], [1], START),  # lengths differ
        (WEEK[:2], [1, 0], START),  # counts are positive (§16.1)
        (WEEK[:2], [1, True], START),
        ([datetime(2022, 7, 20)], [1], START),  # naive interval
        (WEEK[:1], [1], datetime(2022, 7, 27)),  # naive start
    ],
)
def test_malformed_input_is_refused(intervals: list[datetime], counts: list[int], start: datetime) -> None:
    """Spec §16.1 defines the input (aware UTC hours, positive counts, same order); anything else is a bug."""
    with pytest.raises(ValueError):
        generate_issue_forecast({"intervals": intervals, "data": counts}, start)


# §16.1: hourly buckets → input ----------------------------------------------------------------------------


def test_input_holds_the_168_complete_hours_before_the_current_hour() -> None:
    """Spec §16.1: T = 2022-07-27T00:30Z → H = 00:00Z; [H − 168 h, H) = 2022-07-20T00:00Z … 2022-07-26T23:00Z."""
    t = datetime(2022, 7, 27, 0, 30, tzinfo=UTC)
    rows = [
        (datetime(2022, 7, 27, 0, tzinfo=UTC), 5),  # H itself: the current, partial hour
        (datetime(2022, 7, 26, 23, tzinfo=UTC), 4),  # H − 1 h
        (datetime(2022, 7, 20, 0, tzinfo=UTC), 3),  # H − 168 h
        (datetime(2022, 7, 19, 23, tzinfo=UTC), 2),  # H − 169 h
    ]
    assert forecast_input(rows, t) == {
        "intervals": [datetime(2022, 7, 20, 0, tzinfo=UTC), datetime(2022, 7, 26, 23, tzinfo=UTC)],
        "data": [3, 4],
    }


def test_t_on_an_hour_boundary_leaves_that_hour_out() -> None:
    """Spec §16.1: T = 2022-07-27T00:00Z is itself H, so its bucket is not yet complete."""
    t = datetime(2022, 7, 27, tzinfo=UTC)
    rows = [(t, 9), (t - timedelta(hours=1), 1)]
    assert forecast_input(rows, t) == {"intervals": [t - timedelta(hours=1)], "data": [1]}


def test_empty_hours_are_absent_not_zero_and_hours_come_ascending() -> None:
    """Spec §16.1: only hours with a count ≥ 1, in ascending order; other offsets are read as UTC (§0.3)."""
    t = datetime(2022, 7, 27, 12, tzinfo=UTC)
    minus_two = timezone(timedelta(hours=-2))
    rows = [
        (datetime(2022, 7, 27, 9, tzinfo=UTC), 2),
        (datetime(2022, 7, 27, 8, tzinfo=UTC), 0),
        (datetime(2022, 7, 27, 5, tzinfo=minus_two), 7),  # 07:00Z
    ]
    result = forecast_input(rows, t)
    assert result == {"intervals": [datetime(2022, 7, 27, 7, tzinfo=UTC), datetime(2022, 7, 27, 9, tzinfo=UTC)],
                      "data": [7, 2]}
    assert all(hour.tzinfo is UTC for hour in result["intervals"])
    assert forecast_input([], t) == {"intervals": [], "data": []}


def test_a_full_week_of_buckets_reproduces_the_worked_example() -> None:
    """Spec §16.1 then §16.6: at T = 2022-07-27T00:30Z, 168 buckets of 6 plus a current and an older bucket
    of 50 that fall outside the window → the §16.6 input → 14 × 36 from 2022-07-27."""
    t = datetime(2022, 7, 27, 0, 30, tzinfo=UTC)
    rows = [(hour, 6) for hour in reversed(WEEK)] + [(START, 50), (WEEK_START - timedelta(hours=1), 50)]
    data = forecast_input(rows, t)
    assert data == {"intervals": WEEK, "data": [6] * 168}
    assert generate_issue_forecast(data, t) == [{"forecasted_date": day, "forecasted_value": 36} for day in DATES]


PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    "rows",
    [
        [(datetime(2022, 7, 26, 10, 30, tzinfo=UTC), 1)],  # not an hour start
        [(datetime(2022, 7, 26, 10, tzinfo=UTC), -1)],  # negative count
        [(datetime(2022, 7, 26, 10), 1)],  # naive
        [(datetime(2022, 7, 26, 10, tzinfo=UTC), 1), (datetime(2022, 7, 26, 12, tzinfo=PLUS_TWO), 1)],  # 10:00Z twice
    ],
)
def test_malformed_buckets_are_refused(rows: list[tuple[datetime, int]]) -> None:
    """One bucket per UTC hour (spec §15.5.3), starting on the hour, with an int count ≥ 0; aware (§0.3)."""
    with pytest.raises(ValueError):
        forecast_input(rows, datetime(2022, 7, 27, tzinfo=UTC))


# §15.5.4 and §12.7: today's threshold ----------------------------------------------------------------------

STORED = [100 + k for k in range(14)]  # forecast[k] = 100 + k
STORED_ON = date(2022, 7, 27)


def test_without_a_stored_forecast_the_threshold_is_10() -> None:
    """Spec §15.5.4 (ONE_EVENT_FORECAST)."""
    assert todays_forecast(None, None, epoch(2022, 7, 27)) == 10


@pytest.mark.parametrize(
    ("t", "value"),
    [
        (epoch(2022, 7, 27), 100),  # k = 0
        (epoch(2022, 7, 27, 23, 59, 59), 100),  # still date 2022-07-27 in UTC
        (epoch(2022, 7, 28), 101),  # k = 1
        (epoch(2022, 8, 9, 12), 113),  # k = 13
        (epoch(2022, 8, 10), 113),  # k = 14 → forecast[13]
        (epoch(2022, 9, 1), 113),  # k = 36 → forecast[13]
        (epoch(2022, 7, 26, 23, 59, 59), 100),  # k = −1 → forecast[0]
    ],
)
def test_todays_value_is_indexed_by_whole_utc_days_since_the_forecast_date(t: float, value: int) -> None:
    """Spec §15.5.4: k = date(T) − forecast_date; 0…13 → forecast[k], ≥ 14 → forecast[13], < 0 → forecast[0]."""
    assert todays_forecast(STORED, STORED_ON, t) == value


def test_a_stored_forecast_of_the_wrong_length_is_refused() -> None:
    """Spec §15.5.2: a stored forecast is 14 ints."""
    with pytest.raises(ValueError):
        todays_forecast(STORED[:13], STORED_ON, epoch(2022, 7, 27))


def escalation(hour_count: int, *, age: float = 2 * DAY, forecast: list[int] | None = STORED,
               detection: bool = True) -> int | None:
    t = epoch(2022, 7, 28, 15)  # k = 1 → threshold 101 with STORED
    return exceeded_forecast(hour_count=hour_count, forecast=forecast, forecast_date=STORED_ON if forecast else None,
                             first_seen=t - age, t=t, escalation_detection=detection)


def test_an_hour_count_above_todays_forecast_escalates_with_that_value() -> None:
    """Spec §12.7: count > today's forecast (101 on k = 1) → escalate, activity data `forecast`: 101."""
    assert escalation(102) == 101


def test_an_hour_count_equal_to_todays_forecast_does_not_escalate() -> None:
    """Spec §12.7: strictly greater."""
    assert escalation(101) is None


def test_without_a_forecast_an_eleventh_occurrence_in_the_hour_escalates() -> None:
    """Spec §15.5.4 fallback 10 with §12.7's strict comparison: 11 > 10 escalates, 10 does not."""
    assert escalation(11, forecast=None) == 10
    assert escalation(10, forecast=None) is None


def test_groups_younger_than_24_hours_skip_the_forecast_rule() -> None:
    """Spec §12.7: T − first_seen < 24 h → no forecast escalation; exactly 24 h is old enough."""
    assert escalation(10_000, age=DAY - 1) is None
    assert escalation(10_000, age=DAY) == 101


def test_types_without_escalation_detection_never_escalate_by_forecast() -> None:
    """Spec §15.5.4, §9.2 `enable_escalation_detection`."""
    assert escalation(10_000, detection=False) is None


# properties ---------------------------------------------------------------------------------------------

OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]


@st.composite
def forecast_inputs(draw: st.DrawFn) -> tuple[datetime, list[datetime], list[int]]:
    """A start T and §16.1 input: either every hour of the window, or any subset of it."""
    start = draw(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1),
                              timezones=st.sampled_from(OFFSETS)))
    current_hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if draw(st.booleans()):
        back = list(range(168, 0, -1))
    else:
        back = sorted(draw(st.sets(st.integers(1, 168), max_size=167)), reverse=True)
    intervals = [current_hour - timedelta(hours=hours) for hours in back]
    counts = draw(st.lists(st.integers(1, 10**6), min_size=len(back), max_size=len(back)))
    return start, intervals, counts


@given(forecast_inputs())
def test_a_forecast_is_14_consecutive_days_from_start(case: tuple[datetime, list[datetime], list[int]]) -> None:
    """Spec §16.3 steps 1, 3 and 8: no hours → []; otherwise 14 entries dated date(start) + 0 … 13 days
    ("YYYY-MM-DD", UTC), with int values; 10·m below 168 hours; at least 2·m (limit_v1 ≥ 2m) and the same
    value on the same weekday a week later from 168 hours on."""
    start, intervals, counts = case
    forecast = generate_issue_forecast({"intervals": intervals, "data": counts}, start)
    if not counts:
        assert forecast == []
        return
    assert len(forecast) == 14
    dates = [date.fromisoformat(day["forecasted_date"]) for day in forecast]
    assert forecast[0]["forecasted_date"] == start.astimezone(UTC).strftime("%Y-%m-%d")
    assert all(later - earlier == timedelta(days=1) for earlier, later in pairwise(dates))
    numbers = [day["forecasted_value"] for day in forecast]
    assert all(type(value) is int for value in numbers)
    if len(counts) < 168:
        assert numbers == [10 * max(counts)] * 14
    else:
        assert all(value >= 2 * max(counts) for value in numbers)
        assert numbers[:7] == numbers[7:]


@given(forecast_inputs())
def test_the_input_of_a_window_is_that_window(case: tuple[datetime, list[datetime], list[int]]) -> None:
    """Spec §16.1: buckets inside [H − 168 h, H) come back as they are, ascending; the current hour does not."""
    start, intervals, counts = case
    current_hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    rows = list(zip(intervals, counts)) + [(current_hour, 1)]
    assert forecast_input(reversed(rows), start) == {"intervals": intervals, "data": counts}
