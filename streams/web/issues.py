"""What an issue request may see and ask for: visibility (spec §10.3.3, §20.6.5) and list parameters (§20.5)."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from grouptypes import GroupTypeRegistry, gate_passes
from storage.parked import PARKED_STATUSES, ParkedStatus
from storage.queries import ISSUE_ORDERS, KeysetOrder
from storage.search import IssueSearch
from streams.core.short_id import parse_short_id
from streams.web.errors import ApiError, invalid_parameter, not_found
from streams.web.pagination import Cursor, decode_cursor, parse_limit
from streams.web.query import DEFAULT_QUERY, InvalidQuery, SearchQuery, parse_query
from streams.web.serialize import StatsPeriod

_PERIOD = re.compile(r"(\d+)([mhdw])")  # spec §20.5 statsPeriod
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_GROUP_STATS_PERIODS: dict[str, StatsPeriod | None] = {"24h": "24h", "14d": "14d", "": None}
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def searchable_type_ids(
    registry: GroupTypeRegistry, project_id: int, options: Mapping[str, object], query: SearchQuery
) -> tuple[int, ...]:
    """The types a search of the project may return (spec §20.6.5).

    Invisible types (visible flag off for the project, §10.3.3) are always left out. Types with
    in_default_search=false are left out too, unless the query names a type or category. A group whose type
    is not registered on this worker is never shown: nothing could describe it.
    """
    return tuple(
        group_type.type_id
        for group_type in registry.visible(project_id, options)
        if group_type.in_default_search or query.names_type
    )


def is_visible(registry: GroupTypeRegistry, project_id: int, type_id: int, options: Mapping[str, object]) -> bool:
    """Whether one group of `type_id` may be read in the project (§10.3.3): details of the others are 404."""
    if not registry.is_registered(type_id):
        return False
    return gate_passes(registry.get_by_type_id(type_id), "visible", project_id, options)


@dataclass(frozen=True)
class IssueRef:
    """An issue id from a path: the numeric group id, or a short id's project slug and number (§13.4.2)."""

    group_id: int | None = None
    slug: str | None = None
    short_id: int | None = None


def parse_issue_ref(text: str) -> IssueRef:
    if "\x00" in text:
        raise not_found("no such issue")  # no slug holds U+0000, and Postgres text cannot
    if text.isascii() and text.isdigit():
        if int(text) > 2**63 - 1:
            raise not_found(f"no issue {text}")
        return IssueRef(group_id=int(text))
    try:
        slug, short_id = parse_short_id(text)
    except ValueError:
        raise not_found(f"no issue {text}") from None
    return IssueRef(slug=slug, short_id=short_id)


@dataclass(frozen=True)
class ListRequest:
    query: SearchQuery
    sort: str
    limit: int
    cursor: Cursor | None
    last_seen_from: datetime | None
    first_seen_until: datetime | None
    environments: tuple[str, ...]
    group_stats_period: StatsPeriod | None

    def search(self, project_id: int, type_ids: tuple[int, ...]) -> IssueSearch:
        return IssueSearch(project_id, type_ids, self.query, self.last_seen_from, self.first_seen_until,
                           self.environments)


def _first(params: Sequence[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in params if key == name), None)


def parse_timestamp_param(name: str, text: str) -> datetime:
    """A §0.5 timestamp input in a query string: epoch seconds, or ISO-8601 with a timezone."""
    try:
        if _NUMBER.fullmatch(text):
            seconds = float(text)
            if not math.isfinite(seconds):
                raise ValueError(text)
            return datetime.fromtimestamp(seconds, UTC)
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            raise ValueError(text)
        return value.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise invalid_parameter(
            name, f"{name} must be epoch seconds or an ISO-8601 time with a timezone (Z or ±HH:MM)"
        ) from None


def parse_page_params(params: Sequence[tuple[str, str]], order: KeysetOrder) -> tuple[Cursor | None, int]:
    """`cursor` and `limit` of any paginated list (spec §20.2.1)."""
    cursor_text = _first(params, "cursor")
    return (decode_cursor(cursor_text, order) if cursor_text else None), parse_limit(_first(params, "limit"))


def parse_list_request(
    params: Sequence[tuple[str, str]], registry: GroupTypeRegistry, now: datetime
) -> ListRequest:
    """Validate the §20.5 parameters; raise ApiError (400) naming the first bad one."""
    query_text = _first(params, "query")
    try:
        query = parse_query(DEFAULT_QUERY if query_text is None else query_text, registry, now)
    except InvalidQuery as error:
        raise ApiError(400, "invalid_query", error.message,
                       {"token": error.token, "position": error.position}) from None

    sort = _first(params, "sort") or "date"
    if sort not in ISSUE_ORDERS:
        raise invalid_parameter("sort", f"sort must be one of {', '.join(ISSUE_ORDERS)}")
    cursor, limit = parse_page_params(params, ISSUE_ORDERS[sort])

    stats_period, start, end = (_first(params, name) for name in ("statsPeriod", "start", "end"))
    last_seen_from = first_seen_until = None
    if stats_period is not None:
        if start is not None or end is not None:
            raise invalid_parameter("statsPeriod", "statsPeriod cannot be combined with start and end")
        match = _PERIOD.fullmatch(stats_period)
        if match is None:
            raise invalid_parameter("statsPeriod", "statsPeriod must look like 30m, 24h, 14d or 2w")
        try:
            last_seen_from = now - timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        except OverflowError:
            raise invalid_parameter("statsPeriod", "statsPeriod is too long") from None
    elif start is not None or end is not None:
        if start is None or end is None:
            raise invalid_parameter("start" if start is None else "end", "start and end go together")
        last_seen_from = parse_timestamp_param("start", start)
        first_seen_until = parse_timestamp_param("end", end)

    group_stats = _first(params, "groupStatsPeriod")
    group_stats = "24h" if group_stats is None else group_stats
    if group_stats not in _GROUP_STATS_PERIODS:
        raise invalid_parameter("groupStatsPeriod", "groupStatsPeriod must be 24h, 14d or empty")

    environments = tuple(dict.fromkeys(value for key, value in params if key == "environment"))
    if any("\x00" in environment for environment in environments):
        raise invalid_parameter("environment", "an environment name cannot hold U+0000")
    return ListRequest(query, sort, limit, cursor, last_seen_from, first_seen_until, environments,
                       _GROUP_STATS_PERIODS[group_stats])


@dataclass(frozen=True)
class DeadLetterFilter:
    reason: str | None
    project_id: int | None


def parse_parked_status(params: Sequence[tuple[str, str]]) -> ParkedStatus:
    """`status` of the parked-changes list (spec §2.4.12): `parked` (the default), `resolved` or `all`."""
    status = _first(params, "status") or "parked"
    for known in PARKED_STATUSES:
        if status == known:
            return known
    raise invalid_parameter("status", f"status must be one of {', '.join(PARKED_STATUSES)}")


def parse_dlq_filter(params: Sequence[tuple[str, str]]) -> DeadLetterFilter:
    """`reason` and `project_id` of the DLQ list (spec §20.11.5); empty means no filter."""
    reason = _first(params, "reason") or None
    project = _first(params, "project_id") or None
    if reason is not None and "\x00" in reason:
        raise invalid_parameter("reason", "reason cannot hold U+0000")
    if project is not None and not (project.isascii() and project.isdigit() and 0 < int(project) < 2**63):
        raise invalid_parameter("project_id", "project_id must be a positive integer")
    return DeadLetterFilter(reason, None if project is None else int(project))
