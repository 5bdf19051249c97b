"""Keyset pagination (spec §20.2): cursor round trips, bad cursors, pages, walks and the Link header."""
from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.queries import ACTIVITY_ORDER, ISSUE_ORDERS, OCCURRENCE_ORDER, GroupRow, Keyset, KeysetOrder
from streams.web.errors import ApiError
from streams.web.pagination import (
    Cursor,
    Page,
    decode_cursor,
    link_header,
    page_from_fetch,
    parse_limit,
    read_page,
    row_key,
)

T0 = datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DATE, FREQ = ISSUE_ORDERS["date"], ISSUE_ORDERS["freq"]
ALL_ORDERS = [*ISSUE_ORDERS.values(), ACTIVITY_ORDER, OCCURRENCE_ORDER]


def group(group_id: int, *, last_seen: datetime = T0, times_seen: int = 1, priority: int = 50) -> GroupRow:
    return GroupRow(
        id=group_id, project_id=1, project_slug="p1", type=2001, status=0, substatus=7, priority=priority,
        priority_locked_at=None, short_id=group_id, assignee=None, first_seen=last_seen - timedelta(hours=1),
        last_seen=last_seen, times_seen=times_seen, level=30, title="t", subtitle="s", culprit="c",
        resolved_at=None, data={},
    )


def key_values(order: KeysetOrder) -> st.SearchStrategy[tuple[Any, ...]]:
    parts: list[st.SearchStrategy[Any]] = [st.integers(0, 2**52) for _ in order.columns[:-1]]
    parts.append(st.text("0123456789abcdef", min_size=32, max_size=32) if order.text_id else st.integers(1, 2**62))
    return st.tuples(*parts)


@given(st.sampled_from(ALL_ORDERS), st.sampled_from(["next", "previous"]), st.booleans(), st.data())
def test_cursor_round_trips_through_its_text(
    order: KeysetOrder, direction: str, inclusive: bool, data: st.DataObject
) -> None:
    cursor = Cursor(order, direction, data.draw(key_values(order)), inclusive)  # type: ignore[arg-type]
    text = cursor.encode()
    assert text.isascii() and "=" not in text  # safe in a query string as is
    assert decode_cursor(text, order) == cursor


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
       st.integers(1, 2**62))
def test_a_row_key_bound_is_the_row_values_to_the_microsecond(last_seen: datetime, group_id: int) -> None:
    cursor = Cursor(DATE, "next", row_key(DATE, group(group_id, last_seen=last_seen)))
    assert cursor.keyset() == Keyset("next", (last_seen, group_id))
    assert decode_cursor(cursor.encode(), DATE).keyset() == Keyset("next", (last_seen, group_id))


def test_row_keys_follow_the_sort_columns() -> None:
    row = group(7, times_seen=42, priority=75)
    micros = (T0 - EPOCH) // timedelta(microseconds=1)
    assert row_key(DATE, row) == (micros, 7)
    assert row_key(FREQ, row) == (42, 7)
    assert row_key(ISSUE_ORDERS["priority"], row) == (75, micros, 7)
    assert row_key(ISSUE_ORDERS["new"], row) == (micros - 3_600_000_000, 7)


def _encode(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("abc", DATE),
        ("!!!", DATE),
        (_encode({"sort": "date"}), DATE),
        (_encode(["date"]), DATE),
        (_encode(["freq", "n", 1, 2]), DATE),  # another sort's cursor
        (_encode(["date", "x", 1, 2]), DATE),
        (_encode(["date", 1, 1, 2]), DATE),
        (_encode(["date", "n", 1]), DATE),
        (_encode(["date", "n", 1, 2, 3]), DATE),
        (_encode(["date", "n", "1", 2]), DATE),
        (_encode(["date", "n", True, 2]), DATE),
        (_encode(["date", "n", 10**30, 2]), DATE),
        (_encode(["date", "n", 2**63, 2]), DATE),
        (_encode(["date", "n", 2**62, 2]), DATE),  # past datetime's range
        (_encode(["activities", "n", 1, 2]), ACTIVITY_ORDER),  # activity ids are text
        (_encode(["activities", "n", 1, "a b"]), ACTIVITY_ORDER),
        (_encode(["activities", "n", 1, "a" * 65]), ACTIVITY_ORDER),
        (_encode(["date", "n", 1, "abc"]), DATE),
        ("A" * 600, DATE),
    ],
)
def test_bad_cursors_are_invalid_parameter_cursor(text: str, order: KeysetOrder) -> None:
    with pytest.raises(ApiError) as raised:
        decode_cursor(text, order)
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
    page = page_from_fetch(DATE, None, rows, 2)
    assert [row.id for row in page.rows] == [3, 2]
    assert (page.has_previous, page.has_next) == (False, True)
    assert page.next == Cursor(DATE, "next", row_key(DATE, rows[1]))
    assert page.previous == Cursor(DATE, "previous", row_key(DATE, rows[0]))


def test_a_previous_read_is_reversed_into_display_order() -> None:
    request = Cursor(DATE, "previous", row_key(DATE, group(5)))
    page = page_from_fetch(DATE, request, [group(6), group(7), group(8)], 2)
    assert [row.id for row in page.rows] == [7, 6]
    assert (page.has_previous, page.has_next) == (True, False)  # the far side is read_page's to check
    assert page.next.key == row_key(DATE, group(6))


def test_an_empty_page_anchors_both_cursors_on_the_cursor_row_inclusively() -> None:
    key = row_key(DATE, group(5))
    page = page_from_fetch(DATE, Cursor(DATE, "next", key), [], 2)
    assert page.rows == []
    assert page.previous == Cursor(DATE, "previous", key, inclusive=True)
    assert page.next == Cursor(DATE, "next", key, inclusive=True)


def test_an_empty_first_page_has_start_cursors_and_no_results() -> None:
    page = page_from_fetch(DATE, None, [], 25)
    assert page.previous.key == page.next.key == ()
    assert (page.has_previous, page.has_next) == (False, False)


@dataclass(frozen=True)
class Row:
    times_seen: int
    id: int


def fake_fetch(rows: Sequence[Row], calls: list[Keyset]) -> Any:
    """What fetch_issues does in SQL, over a list: (times_seen, id) descending, keyset bounded."""

    async def fetch(keyset: Keyset, limit: int) -> list[Row]:
        calls.append(keyset)
        ordered = sorted(rows, key=lambda row: (row.times_seen, row.id), reverse=keyset.direction == "next")
        if keyset.bound is not None:
            bound = tuple(keyset.bound)

            def beyond(row: Row) -> bool:
                key = (row.times_seen, row.id)
                if keyset.direction == "next":
                    return key < bound or (keyset.inclusive and key == bound)
                return key > bound or (keyset.inclusive and key == bound)

            ordered = [row for row in ordered if beyond(row)]
        return ordered[:limit]

    return fetch


def walk(rows: list[Row], limit: int) -> tuple[list[int], list[int], int]:
    """Follow `next` links from the first page to the end, then `previous` links back; count the reads."""
    calls: list[Keyset] = []
    fetch = fake_fetch(rows, calls)

    async def run() -> tuple[list[int], list[int]]:
        page = await read_page(fetch, FREQ, None, limit)
        assert not page.has_previous
        forward = [row.id for row in page.rows]
        while page.has_next:
            page = await read_page(fetch, FREQ, decode_cursor(page.next.encode(), FREQ), limit)
            forward += [row.id for row in page.rows]
        backward = [row.id for row in page.rows]
        while page.has_previous:
            page = await read_page(fetch, FREQ, decode_cursor(page.previous.encode(), FREQ), limit)
            backward = [row.id for row in page.rows] + backward
        return forward, backward

    forward, backward = asyncio.run(run())
    return forward, backward, len(calls)


@given(st.lists(st.integers(1, 5), max_size=40), st.integers(1, 7))
def test_walking_next_then_previous_links_visits_every_row_once_in_order(counts: list[int], limit: int) -> None:
    rows = [Row(times_seen, group_id) for group_id, times_seen in enumerate(counts, start=1)]  # ties on purpose
    expected = [row.id for row in sorted(rows, key=lambda row: (row.times_seen, row.id), reverse=True)]
    forward, backward, _ = walk(rows, limit)
    assert forward == expected
    assert backward == expected


def test_following_a_link_with_no_results_gives_an_empty_page_that_leads_back() -> None:
    rows = [Row(1, 1), Row(1, 2)]
    calls: list[Keyset] = []
    fetch = fake_fetch(rows, calls)

    async def run() -> None:
        first = await read_page(fetch, FREQ, None, 2)
        assert not first.has_next
        empty = await read_page(fetch, FREQ, first.next, 2)
        assert empty.rows == [] and empty.has_previous and not empty.has_next
        back = await read_page(fetch, FREQ, empty.previous, 2)
        assert [row.id for row in back.rows] == [2, 1]  # the cursor row itself is read again

    asyncio.run(run())


def test_link_header_substitutes_the_cursor_and_keeps_other_parameters() -> None:
    page = Page([], Cursor(DATE, "previous", (1, 2)), Cursor(DATE, "next", (3, 4)), False, True)
    params = [("query", "is:unresolved level:[error,fatal]"), ("cursor", "old"), ("environment", "prod")]
    header = link_header("http://h:1/api/0/projects/1/issues/", params, page)
    previous, nxt = page.previous.encode(), page.next.encode()
    assert header == (
        f'<http://h:1/api/0/projects/1/issues/?query=is%3Aunresolved+level%3A%5Berror%2Cfatal%5D'
        f'&environment=prod&cursor={previous}>; rel="previous"; results="false"; cursor="{previous}", '
        f'<http://h:1/api/0/projects/1/issues/?query=is%3Aunresolved+level%3A%5Berror%2Cfatal%5D'
        f'&environment=prod&cursor={nxt}>; rel="next"; results="true"; cursor="{nxt}"'
    )
