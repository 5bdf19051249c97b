"""Keyset pagination of spec §20.2: opaque cursors, the `limit` parameter and the `Link` header."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import orjson

from storage.queries import SORT_COLUMNS, Direction, GroupRow
from streams.web.errors import invalid_parameter

DEFAULT_LIMIT = 25  # spec §20.2.1
MAX_LIMIT = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP_COLUMNS = frozenset({"first_seen", "last_seen"})
_DIRECTIONS: dict[str, Direction] = {"n": "next", "p": "previous"}
_MAX_CURSOR_CHARS = 512  # far above any real cursor; refuses garbage before decoding it


@dataclass(frozen=True)
class Cursor:
    """A position between two rows of one sort: read `direction` from `key` (sort values, then group id).

    Timestamps are kept as integer epoch microseconds, Postgres's own precision, so a key read back
    compares equal to the row it came from. An empty key is the start of the list.
    """

    sort: str
    direction: Direction
    key: tuple[int, ...]

    def encode(self) -> str:
        payload = orjson.dumps([self.sort, self.direction[0], *self.key])
        return base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")

    def bound(self) -> tuple[Any, ...] | None:
        """The key as SQL values (timestamps as datetimes), or None at the start."""
        if not self.key:
            return None
        columns = (*SORT_COLUMNS[self.sort], "id")
        return tuple(
            _EPOCH + timedelta(microseconds=value) if column in _TIMESTAMP_COLUMNS else value
            for column, value in zip(columns, self.key, strict=True)
        )


def decode_cursor(text: str, sort: str) -> Cursor:
    """Parse a cursor made by `Cursor.encode` for `sort`; anything else is `invalid_parameter` (§20.1.3)."""
    bad = invalid_parameter("cursor", "cursor is not a cursor of this list and sort; start again without it")
    if len(text) > _MAX_CURSOR_CHARS:
        raise bad
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise bad from None
    if not isinstance(payload, list) or len(payload) < 2:
        raise bad
    cursor_sort, direction, *key = payload
    if cursor_sort != sort or direction not in _DIRECTIONS:
        raise bad
    width = len(SORT_COLUMNS[sort]) + 1
    if key and len(key) != width:
        raise bad
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in key):
        raise bad
    cursor = Cursor(sort, _DIRECTIONS[direction], tuple(key))
    try:
        cursor.bound()  # a timestamp out of datetime's range is not ours either
    except OverflowError:
        raise bad from None
    return cursor


def row_key(sort: str, row: GroupRow) -> tuple[int, ...]:
    values: list[int] = []
    for column in (*SORT_COLUMNS[sort], "id"):
        value = getattr(row, column)
        if column in _TIMESTAMP_COLUMNS:
            # Integer arithmetic on the timedelta: a float timestamp would lose microseconds.
            value = (value - _EPOCH) // timedelta(microseconds=1)
        values.append(int(value))
    return tuple(values)


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise invalid_parameter("limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


@dataclass(frozen=True)
class Page:
    """One page in display order, with the cursors on either side and whether rows lie beyond them."""

    rows: list[GroupRow]
    previous: Cursor
    next: Cursor
    has_previous: bool
    has_next: bool


def page_from_fetch(sort: str, request: Cursor | None, fetched: Sequence[GroupRow], limit: int) -> Page:
    """Build the page from up to `limit + 1` rows read in the request's direction.

    The extra row only tells that the read direction goes on. Whether rows lie on the other side is left
    False: for a first page there are none, otherwise the caller reads one row from the opposite cursor.
    """
    direction: Direction = request.direction if request else "next"
    more = len(fetched) > limit
    rows = list(fetched[:limit])
    if direction == "previous":
        rows.reverse()  # read ascending, shown descending
    if rows:
        first, last = row_key(sort, rows[0]), row_key(sort, rows[-1])
    elif request is not None and request.key:
        # An empty page still lies next to the row the request's cursor came from. Ids are integers, so
        # shifting the id by one puts both cursors just beyond that row: either way, it is read again.
        *values, group_id = request.key
        first, last = (*values, group_id - 1), (*values, group_id + 1)
    else:
        first = last = ()
    has_previous, has_next = (False, more) if direction == "next" else (more, False)
    return Page(rows, Cursor(sort, "previous", first), Cursor(sort, "next", last), has_previous, has_next)


def link_header(base_url: str, params: Sequence[tuple[str, str]], page: Page) -> str:
    """The §20.2.2 `Link` value: the request's own parameters with each cursor substituted."""
    kept = [(name, value) for name, value in params if name != "cursor"]

    def entry(rel: Literal["previous", "next"], cursor: Cursor, results: bool) -> str:
        token = cursor.encode()
        url = f"{base_url}?{urlencode([*kept, ('cursor', token)])}"
        return f'<{url}>; rel="{rel}"; results="{"true" if results else "false"}"; cursor="{token}"'

    return ", ".join([entry("previous", page.previous, page.has_previous), entry("next", page.next, page.has_next)])
