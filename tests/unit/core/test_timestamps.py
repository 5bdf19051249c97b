"""The one §0.4 output timestamp: format a datetime or an epoch, parse it back."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from streams.core import timestamps
from streams.core.timestamps import format_datetime, format_epoch, parse_timestamp


def test_the_spec_example() -> None:
    assert format_datetime(datetime(2024, 5, 1, 12, tzinfo=UTC)) == "2024-05-01T12:00:00.000000Z"


def test_microseconds_are_always_written() -> None:
    assert format_datetime(datetime(2024, 5, 1, 12, 0, 0, 7, tzinfo=UTC)) == "2024-05-01T12:00:00.000007Z"
    assert format_epoch(1714564800.25) == "2024-05-01T12:00:00.250000Z"


def test_a_year_below_1000_has_four_digits() -> None:
    # strftime("%Y") would write "999-01-02...", which is no ISO-8601
    assert format_datetime(datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "0999-01-02T03:04:05.000006Z"
    epoch = datetime(999, 1, 2, tzinfo=UTC).timestamp()
    assert format_epoch(epoch) == "0999-01-02T00:00:00.000000Z"


def test_another_offset_is_written_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert format_datetime(datetime(2024, 5, 1, 14, tzinfo=plus_two)) == "2024-05-01T12:00:00.000000Z"


def test_a_naive_datetime_is_refused() -> None:
    # spec §0.3/§0.5: a time without a timezone names no instant, and must not be read as local time
    with pytest.raises(ValueError, match="naive"):
        format_datetime(datetime(2024, 5, 1, 12))


@pytest.mark.parametrize("moment", [
    datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
])
def test_parse_reads_back_what_format_writes(moment: datetime) -> None:
    parsed = parse_timestamp(format_datetime(moment))
    assert parsed == moment and parsed.tzinfo is UTC


@pytest.mark.parametrize("text", [
    "2024-05-01T12:00:00Z",  # no microseconds
    "2024-05-01T12:00:00.000000",  # no Z
    "2024-05-01T12:00:00.000000+00:00",
    "2024-05-01 12:00:00.000000Z",
    "999-05-01T12:00:00.000000Z",
    "2024-13-01T12:00:00.000000Z",
    "２０２４-05-01T12:00:00.000000Z",  # non-ASCII digits
    "",
])
def test_parse_refuses_anything_but_the_output_form(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


# format_epoch rounds and formats by itself (a second's text is cached): datetime's own result is the reference.
@given(st.floats(min_value=-62_135_596_800.0, max_value=253_402_300_799.0, allow_nan=False))
@example(0.0)
@example(1714564800.25)
@example(1795000000.123456)
@example(1795000000.9999996)  # rounds up into the next second
@example(1714564800.0000005)  # half a microsecond: rounded to even
@example(-1.5)
@example(-0.0000004)
@example(253402300799.0)
def test_an_epoch_is_written_as_its_aware_datetime_would_be(epoch: float) -> None:
    assert format_epoch(epoch) == format_datetime(datetime.fromtimestamp(epoch, UTC))


def test_format_epoch_after_another_second_writes_the_new_second() -> None:
    # the cached second must not leak into the next one
    assert format_epoch(1714564800.5) == "2024-05-01T12:00:00.500000Z"
    assert format_epoch(1714564801.5) == "2024-05-01T12:00:01.500000Z"
    assert format_epoch(1714564800.25) == "2024-05-01T12:00:00.250000Z"


def test_the_cache_of_seconds_stays_bounded_and_right_after_it_is_cleared() -> None:
    base = 1714564800
    for second in range(timestamps.PREFIXES_MAX + 10):
        format_epoch(base + second + 0.5)
    assert len(timestamps._prefixes) <= timestamps.PREFIXES_MAX
    assert format_epoch(base + 0.5) == "2024-05-01T12:00:00.500000Z"
    assert format_epoch(base + timestamps.PREFIXES_MAX + 9.5) == format_datetime(
        datetime.fromtimestamp(base + timestamps.PREFIXES_MAX + 9.5, UTC))
