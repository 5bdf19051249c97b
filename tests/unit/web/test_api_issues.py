"""What an issue read may see (spec §10.3.3, §20.6.5), its list parameters (§20.5) and their SQL."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from grouptypes import load_group_types
from storage.queries import (
    ACTIVITY_ORDER,
    ISSUE_ORDERS,
    PROJECT_ORDER,
    Keyset,
    page_order,
)
from storage.search import IssueSearch, issue_where
from streams.web.errors import ApiError
from streams.web.issues import (
    DeadLetterFilter,
    IssueRef,
    is_visible,
    parse_dlq_filter,
    parse_issue_ref,
    parse_list_request,
    searchable_type_ids,
)
from streams.web.query import parse_query

REGISTRY = load_group_types([])
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
DEAD_CLICK, FEEDBACK, FILE_IO = 5001, 6001, 2001
VISIBLE_LA_1 = {"flag:replay-click-dead-visible": {"stage": "la", "projects": [1]}}


def searchable(project_id: int, options: dict[str, object], query: str = "") -> set[int]:
    return set(searchable_type_ids(REGISTRY, project_id, options, parse_query(query, REGISTRY, NOW)))


def test_an_unreleased_type_is_hidden_while_its_visible_flag_is_off() -> None:
    assert DEAD_CLICK not in searchable(1, {})
    assert not is_visible(REGISTRY, 1, DEAD_CLICK, {})
    # Its other flags do not matter: only the visible gate decides reads (§10.3.3).
    ingest_on = {"flag:replay-click-dead-ingest": {"stage": "ga"}}
    assert DEAD_CLICK not in searchable(1, ingest_on)
    assert not is_visible(REGISTRY, 1, DEAD_CLICK, ingest_on)


def test_the_visible_flag_shows_the_type_for_its_projects_only() -> None:
    assert DEAD_CLICK in searchable(1, VISIBLE_LA_1)
    assert DEAD_CLICK not in searchable(2, VISIBLE_LA_1)
    assert is_visible(REGISTRY, 1, DEAD_CLICK, VISIBLE_LA_1)
    assert not is_visible(REGISTRY, 2, DEAD_CLICK, VISIBLE_LA_1)
    assert is_visible(REGISTRY, 2, DEAD_CLICK, {"flag:replay-click-dead-visible": {"stage": "ga"}})


def test_naming_an_invisible_type_still_does_not_show_it() -> None:
    assert DEAD_CLICK not in searchable(1, {}, "issue.type:replay_click_dead")
    assert DEAD_CLICK not in searchable(1, {}, "issue.category:replay")


def test_types_out_of_default_search_need_a_type_or_category_term() -> None:
    assert FEEDBACK not in searchable(1, {})
    assert FEEDBACK not in searchable(1, {}, "is:unresolved level:error")
    assert FEEDBACK in searchable(1, {}, "issue.type:feedback")
    assert FEEDBACK in searchable(1, {}, "!issue.category:performance")
    assert is_visible(REGISTRY, 1, FEEDBACK, {})  # details are not a search: feedback issues open


def test_released_types_are_always_visible_and_unregistered_ones_never() -> None:
    assert FILE_IO in searchable(99, {})
    assert is_visible(REGISTRY, 99, FILE_IO, {})
    assert not is_visible(REGISTRY, 1, 424242, {})


def test_issue_refs_are_group_ids_or_case_insensitive_short_ids() -> None:
    assert parse_issue_ref("42") == IssueRef(group_id=42)
    assert parse_issue_ref("P1-1A") == IssueRef(slug="p1", short_id=42)
    assert parse_issue_ref("my-shop-1o") == IssueRef(slug="my-shop", short_id=32)  # O reads as 0
    for bad in ("P1-", "-3", "P1-U", "abc", "99999999999999999999", "p\x001-1"):
        with pytest.raises(ApiError) as raised:
            parse_issue_ref(bad)
        assert (raised.value.status, raised.value.code) == (404, "not_found")


def params(**values: str) -> list[tuple[str, str]]:
    return list(values.items())


def test_list_defaults_are_the_default_query_date_sort_25_rows_and_24h_stats() -> None:
    listing = parse_list_request([], REGISTRY, NOW)
    assert listing.query == parse_query("is:unresolved issue.priority:[high,medium]", REGISTRY, NOW)
    assert (listing.sort, listing.limit, listing.cursor, listing.group_stats_period) == ("date", 25, None, "24h")
    assert parse_list_request(params(query=""), REGISTRY, NOW).query.terms == ()  # query= means no filter


def test_stats_period_and_start_end_bound_last_and_first_seen() -> None:
    listing = parse_list_request(params(statsPeriod="2d"), REGISTRY, NOW)
    assert (listing.last_seen_from, listing.first_seen_until) == (NOW - timedelta(days=2), None)
    listing = parse_list_request(params(start="2026-11-01T00:00:00Z", end="1795000000"), REGISTRY, NOW)
    assert listing.last_seen_from == datetime(2026, 11, 1, tzinfo=UTC)
    assert listing.first_seen_until == datetime.fromtimestamp(1795000000, UTC)


def test_environments_repeat_and_group_stats_may_be_turned_off() -> None:
    listing = parse_list_request([("environment", "prod"), ("environment", "staging"), ("environment", "prod"),
                                  ("groupStatsPeriod", "")], REGISTRY, NOW)
    assert listing.environments == ("prod", "staging")
    assert listing.group_stats_period is None


@pytest.mark.parametrize(
    ("given", "parameter"),
    [
        (params(sort="random"), "sort"),
        (params(limit="0"), "limit"),
        (params(cursor="garbage"), "cursor"),
        (params(statsPeriod="24"), "statsPeriod"),
        (params(statsPeriod="1y"), "statsPeriod"),
        (params(statsPeriod="1d", start="2026-11-01T00:00:00Z", end="2026-11-02T00:00:00Z"), "statsPeriod"),
        (params(start="2026-11-01T00:00:00Z"), "end"),
        (params(end="2026-11-01T00:00:00Z"), "start"),
        (params(start="2026-11-01T00:00:00", end="2026-11-02T00:00:00Z"), "start"),  # naive
        (params(start="2026-11-01T00:00:00Z", end="soon"), "end"),
        (params(groupStatsPeriod="7d"), "groupStatsPeriod"),
        (params(environment="prod\x00"), "environment"),
    ],
)
def test_bad_list_parameters_are_named(given: list[tuple[str, str]], parameter: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_list_request(given, REGISTRY, NOW)
    assert (raised.value.status, raised.value.code, raised.value.details) == (
        400, "invalid_parameter", {"parameter": parameter}
    )


def test_a_bad_query_is_invalid_query_with_token_and_position() -> None:
    with pytest.raises(ApiError) as raised:
        parse_list_request(params(query="is:unresolved colour:red"), REGISTRY, NOW)
    assert (raised.value.status, raised.value.code) == (400, "invalid_query")
    assert raised.value.details == {"token": "colour", "position": 14}
    assert "colour" in raised.value.message


def test_where_clause_always_limits_project_and_types_and_keeps_values_out_of_the_sql() -> None:
    query = parse_query("!is:archived_forever level:[error,fatal] '50%_off' !\"x\"", REGISTRY, NOW)
    search = IssueSearch(3, (2001, 5001), query, NOW, NOW, ("prod",))
    sql, values = issue_where(search)
    assert sql == (
        "g.project_id = %s AND g.type = ANY(%s)"
        " AND NOT coalesce((g.substatus = %s), false)"
        " AND (g.level = %s OR g.level = %s)"
        " AND (g.title ILIKE %s OR g.subtitle ILIKE %s OR g.culprit ILIKE %s)"
        " AND NOT (g.title ILIKE %s OR g.subtitle ILIKE %s OR g.culprit ILIKE %s)"
        " AND g.last_seen >= %s AND g.first_seen <= %s"
        " AND EXISTS (SELECT 1 FROM group_environments ge WHERE ge.group_id = g.id AND ge.environment = ANY(%s))"
    )
    assert values == [3, [2001, 5001], 5, 40, 50, *["%'50\\%\\_off'%"] * 3, *["%x%"] * 3, NOW, NOW, ["prod"]]


def test_where_clause_of_sets_days_and_assignee() -> None:
    day = datetime(2026, 11, 1, tzinfo=UTC)
    query = parse_query("issue.category:cron firstSeen:2026-11-01 is:unassigned", REGISTRY, NOW)
    sql, values = issue_where(IssueSearch(1, (4001,), query))
    assert sql.endswith(
        "AND (g.type = ANY(%s)) AND ((g.first_seen >= %s AND g.first_seen < %s)) AND (g.assignee IS NULL)"
    )
    assert values[2:] == [[4001], day, day + timedelta(days=1)]


def test_page_order_is_descending_keyset_for_next_and_ascending_for_previous() -> None:
    assert page_order(ISSUE_ORDERS["priority"], Keyset()) == (
        "", "g.priority DESC, g.last_seen DESC, g.id DESC", []
    )
    assert page_order(ISSUE_ORDERS["freq"], Keyset("next", (5, 9))) == (
        "(g.times_seen, g.id) < (%s, %s)", "g.times_seen DESC, g.id DESC", [5, 9]
    )
    assert page_order(ISSUE_ORDERS["date"], Keyset("previous", (NOW, 9))) == (
        "(g.last_seen, g.id) > (%s, %s)", "g.last_seen ASC, g.id ASC", [NOW, 9]
    )
    assert page_order(ACTIVITY_ORDER, Keyset("next", (NOW, "ab"), inclusive=True)) == (
        "(datetime, id) <= (%s, %s)", "datetime DESC, id DESC", [NOW, "ab"]
    )
    # Projects run by id ascending, so their next page reads upwards (spec §20.4).
    assert page_order(PROJECT_ORDER, Keyset("next", (4,))) == ("(id) > (%s)", "id ASC", [4])
    assert page_order(PROJECT_ORDER, Keyset("previous", (4,))) == ("(id) < (%s)", "id DESC", [4])


def test_dlq_filter_takes_a_reason_and_a_positive_project_id() -> None:
    assert parse_dlq_filter([]) == DeadLetterFilter(None, None)
    assert parse_dlq_filter(params(reason="invalid_json", project_id="3")) == DeadLetterFilter("invalid_json", 3)
    assert parse_dlq_filter(params(reason="", project_id="")) == DeadLetterFilter(None, None)
    for bad in ("0", "-1", "x", "99999999999999999999"):
        with pytest.raises(ApiError) as raised:
            parse_dlq_filter(params(project_id=bad))
        assert raised.value.details == {"parameter": "project_id"}
