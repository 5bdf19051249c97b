"""The issue search language of spec §20.6: text → typed terms, or an error naming the offending token.

Pure: no I/O. The registry resolves `issue.type`/`issue.category` values and `now` anchors relative times,
so a query means the same thing on every worker for a given request time. storage/search.py holds the
terms and turns them into parameterised SQL; this module never produces SQL.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from grouptypes import GroupTypeRegistry, PriorityLevel
from storage.search import Column, Condition, Filter, SearchQuery, Term, Text
from streams.core.enums import LEVELS, GroupStatus
from streams.web.api_names import STATUS_NAMES, SUBSTATUS_NAMES

# What the list endpoint searches when `query` is absent (spec §20.5); `query=` means no filter.
DEFAULT_QUERY = "is:unresolved issue.priority:[high,medium]"

KEYS = frozenset(
    {"is", "issue.priority", "issue.type", "issue.category", "level", "firstSeen", "lastSeen", "times_seen"}
)

class InvalidQuery(ValueError):
    """400 `invalid_query` (spec §20.1.3): `token` as typed and its 0-based `position` in the query."""

    def __init__(self, message: str, token: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.token = token
        self.position = position


# spec §20.6.2 `is` values: the status and substatus API strings, the `archived` alias, assignee presence.
_IS_VALUES: dict[str, Condition] = {
    **{name: Condition("status", "=", int(value)) for value, name in STATUS_NAMES.items()},
    "archived": Condition("status", "=", int(GroupStatus.IGNORED)),
    **{name: Condition("substatus", "=", int(value)) for value, name in SUBSTATUS_NAMES.items()},
    "assigned": Condition("assignee", "present"),
    "unassigned": Condition("assignee", "absent"),
}

_KEY_AT = re.compile(r"[A-Za-z0-9_.]+:")  # the shape of a key (§20.6.6), known or not
_RELATIVE = re.compile(r"([+-])(\d+)([mhdw])")
_OPERATOR = re.compile(r"(>=|<=|>|<)?(.*)", re.DOTALL)
_COUNT = re.compile(r"(>=|<=|>|<|=)?(\d+)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_MAX_BIGINT = 2**63 - 1  # times_seen is a bigint column
_WHITESPACE = frozenset(" \t\r\n\f\v")


@dataclass(frozen=True)
class _Value:
    """One value as typed: `text` unquoted/unescaped, `raw` exactly as in the query, at `position`."""

    text: str
    raw: str
    position: int


def parse_query(query: str, registry: GroupTypeRegistry, now: datetime) -> SearchQuery:
    """Parse a §20.6 query; raise InvalidQuery for the first offending token (§20.6.6)."""
    return SearchQuery(tuple(_Parser(query, registry, now).terms()))


class _Parser:
    def __init__(self, query: str, registry: GroupTypeRegistry, now: datetime) -> None:
        self.query = query
        self.registry = registry
        self.now = now
        self.pos = 0

    def terms(self) -> list[Term]:
        nul = self.query.find("\x00")
        if nul >= 0:
            # Postgres text cannot hold U+0000: refuse it here rather than fail the query in the database.
            raise InvalidQuery(f"the character U+0000 ({self.query[nul]}) cannot be searched", "\x00", nul)
        terms: list[Term] = []
        while True:
            self._skip_whitespace()
            if self.pos >= len(self.query):
                return terms
            terms.append(self._term())

    def _term(self) -> Term:
        start = self.pos
        negated = self.query[self.pos] == "!"
        if negated:
            self.pos += 1
            if self.pos >= len(self.query) or self.query[self.pos] in _WHITESPACE:
                raise InvalidQuery("'!' must be followed by a term", "!", start)
        key_match = _KEY_AT.match(self.query, self.pos)
        if key_match:
            key = key_match.group()[:-1]
            if key not in KEYS:
                raise InvalidQuery(
                    f"unknown key {key!r}; keys are {', '.join(sorted(KEYS))} (quote text that has a colon)",
                    key, key_match.start(),
                )
            self.pos = key_match.end()
            values = self._values(key, key_match.start())
            return Filter(key, tuple(self._condition(key, value) for value in values), negated)
        if self.query[self.pos] == '"':
            return Text(self._quoted().text, negated)
        return Text(self._bare(stop="").text, negated)

    def _values(self, key: str, key_position: int) -> list[_Value]:
        if self.pos >= len(self.query) or self.query[self.pos] in _WHITESPACE:
            raise InvalidQuery(f"{key}: needs a value", f"{key}:", key_position)
        char = self.query[self.pos]
        if char == "[":
            return self._list()
        if char == '"':
            return [self._quoted()]
        return [self._bare(stop="")]

    def _list(self) -> list[_Value]:
        open_position = self.pos
        self.pos += 1
        values: list[_Value] = []
        while True:
            self._skip_whitespace()
            if self.pos >= len(self.query):
                raise InvalidQuery("unbalanced '[': the list has no closing ']'", "[", open_position)
            char = self.query[self.pos]
            if char == "]" and not values:
                token = self.query[open_position:self.pos + 1]
                raise InvalidQuery(f"empty list {token}: give at least one value", token, open_position)
            if char in ",]":
                raise InvalidQuery(f"expected a value before {char!r}", char, self.pos)
            values.append(self._quoted() if char == '"' else self._bare(stop=",]"))
            self._skip_whitespace()
            if self.pos >= len(self.query):
                raise InvalidQuery("unbalanced '[': the list has no closing ']'", "[", open_position)
            separator = self.query[self.pos]
            if separator not in ",]":
                # Name the whole stray word, not its first character: `[error fatal]` → `fatal`.
                stray = self._bare(stop=",]") if separator != '"' else self._quoted()
                raise InvalidQuery(f"expected ',' or ']' before {stray.raw!r} in a list", stray.raw, stray.position)
            self.pos += 1
            if separator == "]":
                return values

    def _quoted(self) -> _Value:
        start = self.pos
        chars: list[str] = []
        index = start + 1
        while index < len(self.query):
            char = self.query[index]
            if char == "\\" and index + 1 < len(self.query) and self.query[index + 1] == '"':
                chars.append('"')
                index += 2
                continue
            if char == '"':
                self.pos = index + 1
                return _Value("".join(chars), self.query[start:self.pos], start)
            chars.append(char)
            index += 1
        token = self.query[start:]
        raise InvalidQuery(f"unbalanced quote: {token} has no closing '\"'", token, start)

    def _bare(self, stop: str) -> _Value:
        start = self.pos
        while (
            self.pos < len(self.query)
            and self.query[self.pos] not in _WHITESPACE
            and self.query[self.pos] != '"'
            and self.query[self.pos] not in stop
        ):
            self.pos += 1
        text = self.query[start:self.pos]
        return _Value(text, text, start)

    def _skip_whitespace(self) -> None:
        while self.pos < len(self.query) and self.query[self.pos] in _WHITESPACE:
            self.pos += 1

    # -- values ------------------------------------------------------------------------------------------

    def _condition(self, key: str, value: _Value) -> Condition:
        if key in ("firstSeen", "lastSeen"):
            return _time_condition("first_seen" if key == "firstSeen" else "last_seen", value, self.now)
        if key == "times_seen":
            return _count_condition(value)
        text = value.text.lower()  # values are case-insensitive (§20.6.2)
        condition: Condition | None = None
        if key == "is":
            condition = _IS_VALUES.get(text)
        elif key == "issue.priority":
            condition = _by_name(PriorityLevel, text, "priority")
        elif key == "level":
            condition = Condition("level", "=", LEVELS[text]) if text in LEVELS else None
        elif key == "issue.type":
            condition = self._type_condition(text)
        elif key == "issue.category":
            condition = self._category_condition(text)
        if condition is None:
            raise InvalidQuery(f"unknown value {value.raw!r} for {key}", value.raw, value.position)
        return condition

    def _type_condition(self, text: str) -> Condition | None:
        if text.isdigit() and text.isascii():
            type_id = int(text)
            return Condition("type", "=", type_id) if self.registry.is_registered(type_id) else None
        group_type = self.registry.get_by_slug(text)
        return None if group_type is None else Condition("type", "=", group_type.type_id)

    def _category_condition(self, text: str) -> Condition | None:
        categories = self.registry.categories
        if text.isdigit() and text.isascii():
            category = categories.by_value(int(text))
        else:
            category = categories.by_name(text)
        if category is None:
            return None
        # The category of a group is its type's, so the term is a set of types (possibly empty).
        return Condition("type", "in", tuple(sorted(self.registry.get_by_category(category))))


def _by_name(levels: type[PriorityLevel], text: str, column: Column) -> Condition | None:
    for level in levels:
        if level.api_name == text:
            return Condition(column, "=", int(level))
    return None


def _count_condition(value: _Value) -> Condition:
    match = _COUNT.fullmatch(value.text)
    if match is None or int(match.group(2)) > _MAX_BIGINT:
        raise InvalidQuery(
            f"bad number {value.raw!r} for times_seen: expected [op]N with op one of > >= < <= =",
            value.raw, value.position,
        )
    return Condition("times_seen", match.group(1) or "=", int(match.group(2)))  # type: ignore[arg-type]


def _time_condition(column: Column, value: _Value, now: datetime) -> Condition:
    op_match = _OPERATOR.fullmatch(value.text)
    assert op_match is not None  # the pattern matches any string
    op, rest = op_match.group(1), op_match.group(2)
    relative = _RELATIVE.fullmatch(rest)
    try:
        if relative is not None:
            if op is not None:
                raise InvalidQuery(f"a relative time takes no operator: {value.raw!r}", value.raw, value.position)
            sign, amount, unit = relative.groups()
            boundary = now - timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])
            # "-1d": within the last day (≥ now − 1 d); "+1d": older than a day (≤ now − 1 d).
            return Condition(column, ">=" if sign == "-" else "<=", boundary)
        if _DATE.fullmatch(rest):
            day = datetime.fromisoformat(rest).replace(tzinfo=UTC)
            if op is None:
                return Condition(column, "between", (day, day + timedelta(days=1)))  # that UTC day
            return Condition(column, op, day)  # type: ignore[arg-type]
        if _DATETIME.fullmatch(rest):
            if op is None:
                raise InvalidQuery(
                    f"a date-time needs an operator (> >= < <=): {value.raw!r}", value.raw, value.position
                )
            moment = datetime.fromisoformat(rest)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)  # no offset = UTC (§20.6.2)
            return Condition(column, op, moment)  # type: ignore[arg-type]
    except (ValueError, OverflowError) as error:
        if isinstance(error, InvalidQuery):
            raise
        raise InvalidQuery(f"bad date {value.raw!r}: {error}", value.raw, value.position) from None
    raise InvalidQuery(
        f"bad date {value.raw!r}: expected -<n><u>, +<n><u> (u one of m h d w), YYYY-MM-DD or [op]YYYY-MM-DDTHH:MM",
        value.raw, value.position,
    )
