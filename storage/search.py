"""The issue search, parsed (spec §20.6) and translated to a parameterised WHERE clause over `groups g`.

Pure: no I/O. The parser (streams/web/query.py) builds these terms from text; column names in the SQL
come only from the fixed map below, never from a request, and every value travels as a parameter.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

# Keys whose presence, negated or not, lifts the default exclusion of in_default_search=false types (§20.6.5).
TYPE_KEYS = frozenset({"issue.type", "issue.category"})

Column = Literal[
    "status", "substatus", "assignee", "priority", "type", "level", "first_seen", "last_seen", "times_seen"
]
# "present"/"absent" test for NULL; "in" takes a tuple; "between" a half-open (start, end) pair.
Operator = Literal["=", ">", ">=", "<", "<=", "in", "present", "absent", "between"]


@dataclass(frozen=True)
class Condition:
    """One comparison of a group column; the values of a list are alternatives (OR)."""

    column: Column
    op: Operator
    value: object = None


@dataclass(frozen=True)
class Filter:
    key: str
    conditions: tuple[Condition, ...]  # OR; a negated filter matches none of them (§20.6.4)
    negated: bool = False


@dataclass(frozen=True)
class Text:
    """Free text: a case-insensitive substring of title, subtitle or culprit (§20.6.3)."""

    text: str
    negated: bool = False


Term = Filter | Text


@dataclass(frozen=True)
class SearchQuery:
    terms: tuple[Term, ...] = ()

    @property
    def names_type(self) -> bool:
        """An `issue.type` or `issue.category` term is present (§20.6.5)."""
        return any(isinstance(term, Filter) and term.key in TYPE_KEYS for term in self.terms)


@dataclass(frozen=True)
class IssueSearch:
    """Everything that selects a project's issues, already validated (spec §20.5, §20.6)."""

    project_id: int
    # The types the request may see: visible for the project, minus the default exclusion (§20.6.5).
    type_ids: tuple[int, ...]
    query: SearchQuery = SearchQuery()
    last_seen_from: datetime | None = None  # statsPeriod, or start
    first_seen_until: datetime | None = None  # end
    environments: tuple[str, ...] = ()


# Condition columns → SQL on the `groups g` alias.
_COLUMNS: dict[str, str] = {
    "status": "g.status",
    "substatus": "g.substatus",
    "assignee": "g.assignee",
    "priority": "g.priority",
    "type": "g.type",
    "level": "g.level",
    "first_seen": "g.first_seen",
    "last_seen": "g.last_seen",
    "times_seen": "g.times_seen",
}
_COMPARISONS = frozenset({"=", ">", ">=", "<", "<="})
_TEXT_COLUMNS = ("g.title", "g.subtitle", "g.culprit")  # spec §20.6.3


def _condition_sql(condition: Condition) -> tuple[str, list[Any]]:
    column = _COLUMNS[condition.column]  # KeyError for anything not whitelisted
    if condition.op in _COMPARISONS:
        return f"{column} {condition.op} %s", [condition.value]
    if condition.op == "in":
        assert isinstance(condition.value, tuple)
        return f"{column} = ANY(%s)", [list(condition.value)]
    if condition.op == "present":
        return f"{column} IS NOT NULL", []
    if condition.op == "absent":
        return f"{column} IS NULL", []
    if condition.op == "between":
        start, end = condition.value  # type: ignore[misc]
        return f"({column} >= %s AND {column} < %s)", [start, end]
    raise ValueError(f"unknown operator {condition.op!r}")


def _like_pattern(text: str) -> str:
    # A substring, not a pattern: LIKE's wildcards and its escape character are matched literally.
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def issue_where(search: IssueSearch) -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword) and its parameters for a search over `groups g`."""
    clauses = ["g.project_id = %s", "g.type = ANY(%s)"]
    params: list[Any] = [search.project_id, list(search.type_ids)]
    for term in search.query.terms:
        if isinstance(term, Filter):
            parts = [_condition_sql(condition) for condition in term.conditions]
            expression = "(" + " OR ".join(sql for sql, _ in parts) + ")"
            for _, values in parts:
                params.extend(values)
            # coalesce: a NULL substatus is "not archived_forever", so its negation must match (§20.6.4).
            clauses.append(f"NOT coalesce({expression}, false)" if term.negated else expression)
        elif isinstance(term, Text):
            expression = "(" + " OR ".join(f"{column} ILIKE %s" for column in _TEXT_COLUMNS) + ")"
            params.extend([_like_pattern(term.text)] * len(_TEXT_COLUMNS))
            clauses.append(f"NOT {expression}" if term.negated else expression)
    if search.last_seen_from is not None:
        clauses.append("g.last_seen >= %s")
        params.append(search.last_seen_from)
    if search.first_seen_until is not None:
        clauses.append("g.first_seen <= %s")
        params.append(search.first_seen_until)
    if search.environments:
        clauses.append(
            "EXISTS (SELECT 1 FROM group_environments ge WHERE ge.group_id = g.id AND ge.environment = ANY(%s))"
        )
        params.append(list(search.environments))
    return " AND ".join(clauses), params
