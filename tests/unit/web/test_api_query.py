"""The issue search language (spec §20.6): every key, negation, lists, quoting, and each error's token."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grouptypes import default_registry, load_group_types
from storage.search import Condition, Filter, SearchQuery, Text
from streams.web.query import DEFAULT_QUERY, InvalidQuery, parse_query

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
REGISTRY = load_group_types([])


def parse(query: str) -> SearchQuery:
    return parse_query(query, REGISTRY, NOW)


def only(query: str) -> Filter | Text:
    terms = parse(query).terms
    assert len(terms) == 1, terms
    return terms[0]


def error_of(query: str) -> tuple[str, int]:
    with pytest.raises(InvalidQuery) as raised:
        parse(query)
    assert raised.value.token in raised.value.message  # the message names the token (§20.6.6)
    return raised.value.token, raised.value.position


def test_registry_is_the_builtin_one() -> None:
    assert REGISTRY is default_registry and REGISTRY.get_by_slug("feedback") is not None


def test_empty_query_has_no_terms() -> None:
    assert parse("").terms == ()
    assert parse("   ").terms == ()


@pytest.mark.parametrize(
    ("value", "condition"),
    [
        ("unresolved", Condition("status", "=", 0)),
        ("resolved", Condition("status", "=", 1)),
        ("ignored", Condition("status", "=", 2)),
        ("archived", Condition("status", "=", 2)),
        ("new", Condition("substatus", "=", 7)),
        ("ongoing", Condition("substatus", "=", 3)),
        ("escalating", Condition("substatus", "=", 2)),
        ("regressed", Condition("substatus", "=", 6)),
        ("archived_until_escalating", Condition("substatus", "=", 1)),
        ("archived_until_condition_met", Condition("substatus", "=", 4)),
        ("archived_forever", Condition("substatus", "=", 5)),
        ("assigned", Condition("assignee", "present")),
        ("unassigned", Condition("assignee", "absent")),
        ("UNRESOLVED", Condition("status", "=", 0)),  # values are case-insensitive
    ],
)
def test_is_values_map_to_status_substatus_or_assignee(value: str, condition: Condition) -> None:
    assert only(f"is:{value}") == Filter("is", (condition,))


def test_priority_level_type_and_category_values() -> None:
    assert only("issue.priority:HIGH") == Filter("issue.priority", (Condition("priority", "=", 75),))
    assert only("level:fatal") == Filter("level", (Condition("level", "=", 50),))
    assert only("level:sample") == Filter("level", (Condition("level", "=", 0),))
    assert only("issue.type:feedback") == Filter("issue.type", (Condition("type", "=", 6001),))
    assert only("issue.type:2001") == Filter("issue.type", (Condition("type", "=", 2001),))
    cron = only("issue.category:cron")
    assert cron == Filter("issue.category", (Condition("type", "in", (4001,)),))
    assert only("issue.category:4") == cron


def test_a_category_without_types_matches_no_type() -> None:
    assert only("issue.category:outage") == Filter("issue.category", (Condition("type", "in", ()),))


def test_default_query_is_unresolved_high_or_medium() -> None:
    assert parse(DEFAULT_QUERY).terms == (
        Filter("is", (Condition("status", "=", 0),)),
        Filter("issue.priority", (Condition("priority", "=", 75), Condition("priority", "=", 50))),
    )


def test_a_list_is_or_and_may_hold_spaces_and_quotes() -> None:
    assert only('level:[ error , "fatal" ]') == Filter(
        "level", (Condition("level", "=", 40), Condition("level", "=", 50))
    )


def test_negation_applies_to_filters_lists_and_text() -> None:
    assert only("!is:resolved") == Filter("is", (Condition("status", "=", 1),), negated=True)
    assert only("!level:[error,fatal]").negated
    assert only("!timeout") == Text("timeout", negated=True)
    assert only('!"read config"') == Text("read config", negated=True)


def test_terms_are_kept_in_order_repeated_keys_included() -> None:
    terms = parse("level:error   level:fatal  checkout").terms
    assert [type(term).__name__ for term in terms] == ["Filter", "Filter", "Text"]
    assert terms[2] == Text("checkout")


def test_quoted_text_is_one_phrase_with_escaped_quotes_and_colons() -> None:
    assert only('"open(\'/etc/app.conf\') blocked"') == Text("open('/etc/app.conf') blocked")
    assert only('"say \\"hi\\""') == Text('say "hi"')
    assert only('"http://example.com"') == Text("http://example.com")


def test_a_colon_after_a_name_with_other_characters_is_text() -> None:
    assert only("app/io.py:12") == Text("app/io.py:12")
    assert only(":foo") == Text(":foo")


def test_relative_times_are_within_or_older_than() -> None:
    assert only("firstSeen:-24h") == Filter("firstSeen", (Condition("first_seen", ">=", NOW - timedelta(hours=24)),))
    assert only("lastSeen:+2w") == Filter("lastSeen", (Condition("last_seen", "<=", NOW - timedelta(weeks=2)),))
    assert only("lastSeen:-30m").conditions[0].value == NOW - timedelta(minutes=30)  # type: ignore[union-attr]
    assert only("lastSeen:-1d").conditions[0].value == NOW - timedelta(days=1)  # type: ignore[union-attr]


def test_absolute_times_with_operators_and_a_bare_date_as_that_utc_day() -> None:
    day = datetime(2026, 11, 1, tzinfo=UTC)
    assert only("firstSeen:2026-11-01") == Filter(
        "firstSeen", (Condition("first_seen", "between", (day, day + timedelta(days=1))),)
    )
    assert only("firstSeen:>=2026-11-01") == Filter("firstSeen", (Condition("first_seen", ">=", day),))
    assert only("lastSeen:<2026-11-01T10:30").conditions == (
        Condition("last_seen", "<", datetime(2026, 11, 1, 10, 30, tzinfo=UTC)),
    )
    offset = only("lastSeen:>2026-11-01T10:30:05.5+02:00").conditions[0]  # type: ignore[union-attr]
    assert offset.value == datetime(2026, 11, 1, 8, 30, 5, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "op", "number"),
    [("5", "=", 5), ("=5", "=", 5), (">5", ">", 5), (">=0", ">=", 0), ("<10", "<", 10), ("<=10", "<=", 10)],
)
def test_times_seen_operators(value: str, op: str, number: int) -> None:
    assert only(f"times_seen:{value}") == Filter("times_seen", (Condition("times_seen", op, number),))  # type: ignore[arg-type]


def test_names_type_when_a_type_or_category_term_is_present_even_negated() -> None:
    assert not parse("is:unresolved level:error").names_type
    assert parse("issue.type:feedback").names_type
    assert parse("!issue.category:feedback").names_type


@pytest.mark.parametrize(
    ("query", "token", "position"),
    [
        # unknown keys, with their position after '!' and other terms
        ("foo:bar", "foo", 0),
        ("is:unresolved  !browser.name:x", "browser.name", 16),
        ("http://example.com", "http", 0),
        # unknown values, inside lists too
        ("is:sleeping", "sleeping", 3),
        ("level:[error,loud]", "loud", 13),
        ("issue.priority:urgent", "urgent", 15),
        ("issue.type:nope", "nope", 11),
        ("issue.type:424242", "424242", 11),
        ("issue.category:99", "99", 15),
        ('level:"warn"', '"warn"', 6),
        # bad numbers and dates
        ("times_seen:many", "many", 11),
        ("times_seen:-1", "-1", 11),
        ("times_seen:>=1.5", ">=1.5", 11),
        ("times_seen:99999999999999999999", "99999999999999999999", 11),
        ("firstSeen:yesterday", "yesterday", 10),
        ("firstSeen:-1y", "-1y", 10),
        ("firstSeen:2026-13-01", "2026-13-01", 10),
        ("lastSeen:-99999999999w", "-99999999999w", 9),
        # an op where none is allowed
        ("firstSeen:>-1d", ">-1d", 10),
        ("lastSeen:2026-11-01T10:30", "2026-11-01T10:30", 9),
        ("level:>error", ">error", 6),
        # unbalanced quotes and brackets, empty lists, missing values
        ('title "unclosed', '"unclosed', 6),
        ('level:"error', '"error', 6),
        ("level:[error,fatal", "[", 6),
        ("level:[error", "[", 6),
        ("level:[]", "[]", 6),
        ("level:[error,]", "]", 13),
        ("level:[,error]", ",", 7),
        ("level:[error fatal]", "fatal", 13),
        ("level:", "level:", 0),
        ("x level: y", "level:", 2),
        ("!", "!", 0),
        ("a ! b", "!", 2),
        ("is:unresolved ti\x00tle", "\x00", 16),  # Postgres text cannot hold U+0000
    ],
)
def test_errors_name_the_offending_token_and_its_position(query: str, token: str, position: int) -> None:
    assert error_of(query) == (token, position)
    assert query[position:position + len(token)] == token


def test_unknown_key_message_says_to_quote_text_with_a_colon() -> None:
    with pytest.raises(InvalidQuery, match="quote text that has a colon"):
        parse("error:timeout")


_WORDS = st.text(alphabet=st.characters(blacklist_characters='"\\', blacklist_categories=("Cs", "Zs", "Cc")),
                 min_size=1, max_size=20)


@given(_WORDS)
def test_any_quoted_phrase_is_one_text_term_with_its_content(phrase: str) -> None:
    assert parse(f'"{phrase}"').terms == (Text(phrase),)
    assert parse(f'!"{phrase}"').terms == (Text(phrase, negated=True),)


@given(st.text(max_size=60))
def test_any_input_parses_or_fails_with_a_token_found_at_its_position(query: str) -> None:
    try:
        parse(query)
    except InvalidQuery as error:
        assert 0 <= error.position < max(len(query), 1)
        assert query[error.position:error.position + len(error.token)] == error.token


@given(st.lists(st.sampled_from(["error", "fatal", "info", "debug", "warning", "sample"]), min_size=1, max_size=6))
def test_a_list_has_one_condition_per_value_in_order(levels: list[str]) -> None:
    term = only(f"level:[{','.join(levels)}]")
    assert isinstance(term, Filter)
    assert [condition.value for condition in term.conditions] == [
        {"sample": 0, "debug": 10, "info": 20, "warning": 30, "error": 40, "fatal": 50}[level] for level in levels
    ]
