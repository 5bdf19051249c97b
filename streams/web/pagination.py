"""Keyset pagination of spec §20.2: opaque cursors, the `limit` parameter, pages and the `Link` header."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import orjson

from storage.queries import Direction, Keyset, KeysetOrder
from streams.web.errors import invalid_parameter

DEFAULT_LIMIT = 25  # spec §20.2.1
MAX_LIMIT = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Cursor letters: direction, upper case when the bound row itself belongs to the page.
_LETTERS: dict[tuple[Direction, bool], str] = {
    ("next", False): "n", ("previous", False): "p", ("next", True): "N", ("previous", True): "P",
}
_FROM_LETTER = {letter: key for key, letter in _LETTERS.items()}
_MAX_CURSOR_CHARS = 512  # far above any real cursor; refuses garbage before decoding it
_MAX_TEXT_ID = 64

KeyValue = int | str


@dataclass(frozen=True)
class Cursor:
    """A position in one list order: read `direction` from `key` (the order's column values).

    Timestamps are kept as integer epoch microseconds, Postgres's own precision, so a key read back
    compares equal to the row it came from. An empty key is the start of the list.
    """

    order: KeysetOrder
    direction: Direction
    key: tuple[KeyValue, ...]
    inclusive: bool = False

    def encode(self) -> str:
        payload = orjson.dumps([self.order.name, _LETTERS[(self.direction, self.inclusive)], *self.key])
        return base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")

    def keyset(self) -> Keyset:
        """The key as SQL values (timestamps as datetimes)."""
        if not self.key:
            return Keyset(self.direction)
        bound = tuple(
            _EPOCH + value * _MICROSECOND if column in self.order.timestamps else value
            for column, value in zip(self.order.columns, self.key, strict=True)
        )
        return Keyset(self.direction, bound, self.inclusive)


def decode_cursor(text: str, order: KeysetOrder) -> Cursor:
    """Parse a cursor made by `Cursor.encode` for `order`; anything else is `invalid_parameter` (§20.1.3)."""
    bad = invalid_parameter("cursor", "cursor is not a cursor of this list and sort; start again without it")
    if len(text) > _MAX_CURSOR_CHARS:
        raise bad
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise bad from None
    if not isinstance(payload, list) or len(payload) < 2:
        raise bad
    name, letter, *key = payload
    if name != order.name or not isinstance(letter, str) or letter not in _FROM_LETTER:
        raise bad
    if key and (len(key) != len(order.columns) or not all(map(_is_int, key[:-1]))):
        raise bad
    if key and not (_is_text_id(key[-1]) if order.text_id else _is_int(key[-1])):
        raise bad
    direction, inclusive = _FROM_LETTER[letter]
    cursor = Cursor(order, direction, tuple(key), inclusive)
    try:
        cursor.keyset()  # a timestamp out of datetime's range is not ours either
    except OverflowError:
        raise bad from None
    return cursor


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _is_text_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_TEXT_ID and value.isascii() and value.isalnum()


def row_key(order: KeysetOrder, row: Any) -> tuple[KeyValue, ...]:
    values: list[KeyValue] = []
    for column in order.columns:
        value = getattr(row, column)
        if column in order.timestamps:
            value = (value - _EPOCH) // _MICROSECOND  # integer arithmetic: a float would lose microseconds
        values.append(value if isinstance(value, str) else int(value))
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

    rows: list[Any]
    previous: Cursor
    next: Cursor
    has_previous: bool
    has_next: bool


def page_from_fetch(order: KeysetOrder, request: Cursor | None, fetched: Sequence[Any], limit: int) -> Page:
    """Build the page from up to `limit + 1` rows read in the request's direction.

    The extra row only tells that the read direction goes on. Whether rows lie on the other side is left
    False: for a first page there are none, otherwise `read_page` reads one row from the opposite cursor.
    """
    direction: Direction = request.direction if request else "next"
    more = len(fetched) > limit
    rows = list(fetched[:limit])
    if direction == "previous":
        rows.reverse()  # read ascending, shown descending
    if rows:
        previous = Cursor(order, "previous", row_key(order, rows[0]))
        following = Cursor(order, "next", row_key(order, rows[-1]))
    elif request is not None and request.key:
        # An empty page still lies next to the row its cursor came from: both ways, that row is read again.
        previous = Cursor(order, "previous", request.key, inclusive=True)
        following = Cursor(order, "next", request.key, inclusive=True)
    else:
        previous, following = Cursor(order, "previous", ()), Cursor(order, "next", ())
    has_previous, has_next = (False, more) if direction == "next" else (more, False)
    return Page(rows, previous, following, has_previous, has_next)


Fetch = Callable[[Keyset, int], Awaitable[Sequence[Any]]]


async def read_page(fetch: Fetch, order: KeysetOrder, cursor: Cursor | None, limit: int) -> Page:
    """Read one page through `fetch(keyset, limit)`, which returns rows in the keyset's read order."""
    if cursor is not None and cursor.direction == "previous" and not cursor.key:
        cursor = None  # "before the start" is the first page
    page = page_from_fetch(order, cursor, await fetch(cursor.keyset() if cursor else Keyset(), limit + 1), limit)
    if cursor is None:
        return page  # a first page has nothing before it
    # Whether the far side has rows: one row read from the opposite cursor says it (§20.2.2 `results`).
    other = page.previous if cursor.direction == "next" else page.next
    exists = bool(await fetch(other.keyset(), 1))
    return replace(page, has_previous=exists) if cursor.direction == "next" else replace(page, has_next=exists)


def link_header(base_url: str, params: Sequence[tuple[str, str]], page: Page) -> str:
    """The §20.2.2 `Link` value: the request's own parameters with each cursor substituted."""
    kept = [(name, value) for name, value in params if name != "cursor"]

    def entry(rel: Literal["previous", "next"], cursor: Cursor, results: bool) -> str:
        token = cursor.encode()
        url = f"{base_url}?{urlencode([*kept, ('cursor', token)])}"
        return f'<{url}>; rel="{rel}"; results="{"true" if results else "false"}"; cursor="{token}"'

    return ", ".join([entry("previous", page.previous, page.has_previous), entry("next", page.next, page.has_next)])
