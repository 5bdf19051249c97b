"""Keyset pagination (spec §20.2): cursor round trips, bad cursors, pages and the Link header."""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.queries import SORT_COLUMNS, GroupRow
from streams.web.errors import ApiError
from streams.web.pagination import Cursor, Page, decode_cursor, link_header, page_from_fetch, parse_limit, row_key

T0 = datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=UTC)


def group(group_id: int, *, last_seen: datetime = T0, times_seen: int = 1, priority: int = 50) -> GroupRow:
    return GroupRow(
        id=group_id, project_id=1, project_slug="p1", type=2001, status=0, substatus=7, priority=priority,
        priority_locked_at=None, short_id=group_id, assignee=None, first_seen=last_seen - timedelta(hours=1),
        last_seen=last_seen, times_seen=times_seen, level=30, title="t", subtitle="s", culprit="c",
        resolved_at=None, data={},
    )



@given(st.sampled_from(sorted(SORT_COLUMNS)), st.sampled_from(["next", "previous"]), st.data())
def test_cursor_round_trips_through_its_text(sort: str, direction: str, data: st.DataObject) -> None:
    width = len(SORT_COLUMNS[sort]) + 1
    key = tuple(data.draw(st.lists(st.integers(0, 2**52), min_size=width, max_size=width)))
    cursor = Cursor(sort, direction, key)  # type: ignore[arg-type]
    text = cursor.encode()
    assert text.isascii() and "=" not in text  # safe in a query string as is
    assert decode_cursor(text, sort) == cursor


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
       st.integers(1, 2**62))
def test_a_row_key_bound_is_the_row_values_to_the_microsecond(last_seen: datetime, group_id: int) -> None:
    row = group(group_id, last_seen=last_seen)
    cursor = Cursor("date", "next", row_key("date", row))
    assert cursor.bound() == (last_seen, group_id)
    assert decode_cursor(cursor.encode(), "date").bound() == (last_seen, group_id)


def test_row_keys_follow_the_sort_columns() -> None:
    row = group(7, times_seen=42, priority=75)
    micros = (T0 - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert row_key("date", row) == (micros, 7)
    assert row_key("freq", row) == (42, 7)
    assert row_key("priority", row) == (75, micros, 7)
    assert row_key("new", row) == (micros - 3_600_000_000, 7)


def _encode(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "!!!",
        _encode({"sort": "date"}),
        _encode(["date"]),
        _encode(["freq", "n", 1, 2]),  # another sort's cursor
        _encode(["date", "x", 1, 2]),
        _encode(["date", "n", 1]),
        _encode(["date", "n", 1, 2, 3]),
        _encode(["date", "n", "1", 2]),
        _encode(["date", "n", True, 2]),
        _encode(["date", "n", 10**30, 2]),
        "A" * 600,
    ],
)
def test_bad_cursors_are_invalid_parameter_cursor(text: str) -> None:
    with pytest.raises(ApiError) as raised:
        decode_cursor(text, "date")
    assert (raised.value.status, raised.value.code, raised.value.details) == (
        400, "invalid_parameter", {"parameter": "cursor"}
    )


def test_limit_defaults_to_25_and_allows_1_to_100() -> None:
    assert parse_limit(None) == 25
    assert parse_limit("1") == 1 and parse_limit("100") == 100
    for bad in ("0", "101", "-1", "ten", "", "1.5", "٣"):
        with pytest.raises(ApiError) as raised:
            parse_limit(bad)
        assert raised.value.details == {"parameter": "limit"}


def test_a_first_page_with_more_rows_has_a_next_and_no_previous() -> None:
    rows = [group(3), group(2), group(1)]
    page = page_from_fetch("date", None, rows, 2)
    assert [row.id for row in page.rows] == [3, 2]
    assert (page.has_previous, page.has_next) == (False, True)
    assert page.next == Cursor("date", "next", row_key("date", rows[1]))
    assert page.previous == Cursor("date", "previous", row_key("date", rows[0]))


def test_a_previous_read_is_reversed_into_display_order() -> None:
    request = Cursor("date", "previous", row_key("date", group(5)))
    ascending = [group(6), group(7), group(8)]
    page = page_from_fetch("date", request, ascending, 2)
    assert [row.id for row in page.rows] == [7, 6]
    assert (page.has_previous, page.has_next) == (True, False)  # the far side is the caller's to check
    assert page.next.key == row_key("date", group(6))


def test_an_empty_page_anchors_both_cursors_just_beyond_the_cursor_row() -> None:
    key = row_key("date", group(5))
    page = page_from_fetch("date", Cursor("date", "next", key), [], 2)
    assert page.rows == []
    assert page.previous.key == (*key[:-1], 4)  # reading up from here includes row 5 again
    assert page.next.key == (*key[:-1], 6)


def test_an_empty_first_page_has_start_cursors_and_no_results() -> None:
    page = page_from_fetch("date", None, [], 25)
    assert page.previous.key == page.next.key == ()
    assert (page.has_previous, page.has_next) == (False, False)


def test_link_header_substitutes_the_cursor_and_keeps_other_parameters() -> None:
    page = Page([], Cursor("date", "previous", (1, 2)), Cursor("date", "next", (3, 4)), False, True)
    params = [("query", "is:unresolved level:[error,fatal]"), ("cursor", "old"), ("environment", "prod")]
    header = link_header("http://h:1/api/0/projects/1/issues/", params, page)
    previous, nxt = page.previous.encode(), page.next.encode()
    assert header == (
        f'<http://h:1/api/0/projects/1/issues/?query=is%3Aunresolved+level%3A%5Berror%2Cfatal%5D'
        f'&environment=prod&cursor={previous}>; rel="previous"; results="false"; cursor="{previous}", '
        f'<http://h:1/api/0/projects/1/issues/?query=is%3Aunresolved+level%3A%5Berror%2Cfatal%5D'
        f'&environment=prod&cursor={nxt}>; rel="next"; results="true"; cursor="{nxt}"'
    )
