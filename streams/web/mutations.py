"""What a mutation request asks (spec §20.8, §20.9): its body and targets checked, and the grouping messages it makes.

Pure: the views (streams.web.mutate) resolve the targets in PostgreSQL, produce what `plan_changes` returns and
answer `accepted_body`. Every error is the §20.1.3 body: `invalid_body` lists each problem as {path, message},
`invalid_parameter` names the parameter.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.core.enums import GroupStatus, GroupSubStatus
from streams.core.messages import api_status_change_message, delete_message, update_message
from streams.core.mutations import UpdateRequest
from streams.core.payload import ID_NAMESPACE
from streams.core.payload_fields import parse_timestamp_input
from streams.core.payload_wire import MAX_ASSIGNEE_ID_CHARS
from streams.web.errors import ApiError, invalid_parameter

MAX_BULK = 1000  # spec §20.8.3, §20.9: ids per request, and groups a query may match
BODY_FIELDS = ("status", "substatus", "statusDetails", "priority", "assignedTo")  # spec §20.8.1
STATUS_DETAILS = ("ignoreCount", "ignoreUntil", "ignoreDuration", "ignoreUntilEscalating")
PRIORITIES: dict[str, int] = {"low": 25, "medium": 50, "high": 75}  # spec §8.4
# `snooze_count` is an integer column (migration 0016); a longer snooze is no snooze anyone waits for.
MAX_IGNORE_COUNT = 2**31 - 1
# Our bound, not the spec's: 100 years of minutes keeps T + duration a valid timestamp.
MAX_IGNORE_DURATION_MINUTES = 100 * 365 * 24 * 60
# 9999-12-31T23:59:59Z: a later `ignoreUntil` (or one rounding up to it) cannot be written as a timestamp.
LAST_STORABLE_SECOND = 253_402_300_799
# A client's own key for a request (spec §2.4: a retried request is applied at most once).
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_CHARS = 200

_UNRESOLVED_SUBSTATUS = {"ongoing": GroupSubStatus.ONGOING, "escalating": GroupSubStatus.ESCALATING,
                         "regressed": GroupSubStatus.REGRESSED}  # spec §20.8.2; `new` only at creation
_IGNORED_SUBSTATUS = {"archived_until_escalating": GroupSubStatus.UNTIL_ESCALATING,
                      "archived_until_condition_met": GroupSubStatus.UNTIL_CONDITION_MET,
                      "archived_forever": GroupSubStatus.FOREVER}
_SUBSTATUS_NAMES = ("escalating", "ongoing", "regressed", "new", *_IGNORED_SUBSTATUS)  # spec §8.2


@dataclass(frozen=True)
class StatusAsk:
    """The status change a body asks (spec §20.8.2), its snooze as the body gave it (§14.4)."""

    new_status: int
    new_substatus: int | None
    snooze_count: int | None = None
    snooze_until: float | None = None  # epoch seconds
    snooze_minutes: int | None = None  # ignoreDuration: until = T + minutes, T known only when it is produced

    def until(self, t: float) -> float | None:
        return t + self.snooze_minutes * 60 if self.snooze_minutes is not None else self.snooze_until


@dataclass(frozen=True)
class UpdateBody:
    """A valid §20.8 body: a status change and/or an update, and the requested values to echo (§20.8.4)."""

    status: StatusAsk | None
    update: UpdateRequest | None
    echo: Mapping[str, Any] = field(default_factory=dict)


def invalid_body(errors: Sequence[Mapping[str, str]]) -> ApiError:
    return ApiError(400, "invalid_body", "The request body is not a valid update: " +
                    "; ".join(f"{error['path'] or 'body'}: {error['message']}" for error in errors),
                    {"errors": [dict(error) for error in errors]})


def parse_update_body(raw: bytes) -> UpdateBody:
    """Spec §20.8.1-§20.8.2: at least one field, none unknown; every problem listed (400 `invalid_body`)."""
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        raise invalid_body([{"path": "", "message": "The body is not valid JSON"}]) from None
    if not isinstance(body, dict):
        wanted = f"The body must be an object with any of {', '.join(BODY_FIELDS)}"
        raise invalid_body([{"path": "", "message": wanted}])
    errors = [{"path": key, "message": f"Unknown field; an update takes {', '.join(BODY_FIELDS)}"}
              for key in body if key not in BODY_FIELDS]
    if not any(key in body for key in BODY_FIELDS) and not errors:
        errors.append({"path": "", "message": f"The body needs at least one of {', '.join(BODY_FIELDS)}"})
    status, status_errors = _status(body)
    errors.extend(status_errors)
    update, update_errors = _update(body)
    errors.extend(update_errors)
    if errors:
        raise invalid_body(errors)
    return UpdateBody(status, update, {key: body[key] for key in BODY_FIELDS if key in body})


def _status(body: Mapping[str, Any]) -> tuple[StatusAsk | None, list[dict[str, str]]]:
    """The §20.8.2 mapping; contradictions are `invalid_body`."""
    errors: list[dict[str, str]] = []
    status, substatus, details = body.get("status"), body.get("substatus"), body.get("statusDetails")
    if "status" not in body:
        for key in ("substatus", "statusDetails"):
            if key in body:
                errors.append({"path": key, "message": f"{key} is only taken together with status"})
        return None, errors
    if status not in ("resolved", "unresolved", "ignored"):
        return None, [{"path": "status", "message": "status must be resolved, unresolved or ignored"}]
    if substatus is not None and substatus not in _SUBSTATUS_NAMES:
        errors.append({"path": "substatus", "message": f"substatus must be one of {', '.join(_SUBSTATUS_NAMES)}"})
    snooze, detail_errors = _status_details(details)
    errors.extend(detail_errors)
    if errors:
        return None, errors
    if status == "resolved":  # `statusDetails: {}` is no detail, as with every other status
        for key, given in (("substatus", substatus is not None), ("statusDetails", snooze is not None)):
            if given:
                errors.append({"path": key, "message": f"{key} must be absent with status resolved"})
        return (None, errors) if errors else (StatusAsk(GroupStatus.RESOLVED, None), [])
    if status == "unresolved":
        if snooze is not None:
            errors.append({"path": "statusDetails", "message": "statusDetails are taken only with status ignored"})
        if substatus is not None and substatus not in _UNRESOLVED_SUBSTATUS:
            errors.append({"path": "substatus", "message": "with status unresolved, substatus must be ongoing, "
                                                           "escalating or regressed (new is set only at creation)"})
        if errors:
            return None, errors
        return StatusAsk(GroupStatus.UNRESOLVED, _UNRESOLVED_SUBSTATUS[substatus or "ongoing"]), []
    # ignored
    if substatus is not None and substatus not in _IGNORED_SUBSTATUS:
        return None, [{"path": "substatus", "message": "with status ignored, substatus must be one of "
                                                       f"{', '.join(_IGNORED_SUBSTATUS)}"}]
    asked = _IGNORED_SUBSTATUS[substatus] if substatus is not None else None
    implied = snooze.substatus if snooze is not None else None
    if asked is not None and implied is not None and asked != implied:
        return None, [{"path": "statusDetails",
                       "message": f"{snooze.key if snooze else 'statusDetails'} contradicts substatus {substatus}"}]
    substatus_value = asked or implied or GroupSubStatus.FOREVER
    if snooze is None or substatus_value != GroupSubStatus.UNTIL_CONDITION_MET:
        return StatusAsk(GroupStatus.IGNORED, substatus_value), []
    return StatusAsk(GroupStatus.IGNORED, substatus_value, snooze_count=snooze.count, snooze_until=snooze.until,
                     snooze_minutes=snooze.minutes), []


@dataclass(frozen=True)
class _Snooze:
    key: str
    substatus: int
    count: int | None = None
    until: float | None = None
    minutes: int | None = None


def _status_details(details: object) -> tuple[_Snooze | None, list[dict[str, str]]]:
    """`statusDetails`: {} or absent, or exactly one of the §20.8.1 keys with a valid value."""
    if details is None or details == {}:
        return None, []
    if not isinstance(details, dict):
        return None, [{"path": "statusDetails", "message": "statusDetails must be an object"}]
    unknown = [key for key in details if key not in STATUS_DETAILS]
    if unknown:
        return None, [{"path": f"statusDetails.{key}", "message": f"Unknown key; statusDetails takes one of "
                                                                  f"{', '.join(STATUS_DETAILS)}"} for key in unknown]
    if len(details) > 1:
        return None, [{"path": "statusDetails", "message": "statusDetails takes at most one key"}]
    (key, value), = details.items()
    path = f"statusDetails.{key}"
    if key == "ignoreUntilEscalating":
        if value is not True:
            return None, [{"path": path, "message": "ignoreUntilEscalating must be true"}]
        return _Snooze(key, GroupSubStatus.UNTIL_ESCALATING), []
    if key == "ignoreUntil":
        try:
            until = parse_timestamp_input(value).timestamp()
        except ValueError:
            return None, [{"path": path, "message": "ignoreUntil must be epoch seconds or an ISO-8601 time with a "
                                                    "timezone"}]
        if not 0 <= until < LAST_STORABLE_SECOND:
            return None, [{"path": path, "message": "ignoreUntil must be between 1970 and 9999"}]
        return _Snooze(key, GroupSubStatus.UNTIL_CONDITION_MET, until=until), []
    bound = MAX_IGNORE_COUNT if key == "ignoreCount" else MAX_IGNORE_DURATION_MINUTES
    if not _is_integer(value) or not 1 <= value <= bound:
        return None, [{"path": path, "message": f"{key} must be an integer from 1 to {bound}"}]
    if key == "ignoreCount":
        return _Snooze(key, GroupSubStatus.UNTIL_CONDITION_MET, count=value), []
    return _Snooze(key, GroupSubStatus.UNTIL_CONDITION_MET, minutes=value), []


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _update(body: Mapping[str, Any]) -> tuple[UpdateRequest | None, list[dict[str, str]]]:
    """`priority` and `assignedTo` (spec §20.8.1), together one `update`."""
    errors: list[dict[str, str]] = []
    priority = body.get("priority")
    if "priority" in body and (not isinstance(priority, str) or priority not in PRIORITIES):
        errors.append({"path": "priority", "message": "priority must be low, medium or high"})
    assignee = body.get("assignedTo")
    if assignee is not None and not _is_assignee(assignee):
        errors.append({"path": "assignedTo", "message": "assignedTo must be user:<id>, team:<id> or null, the id "
                                                        f"1-{MAX_ASSIGNEE_ID_CHARS} characters without whitespace"})
    if errors or ("priority" not in body and "assignedTo" not in body):
        return None, errors
    return UpdateRequest(priority=PRIORITIES[priority] if priority is not None else None,
                         assign="assignedTo" in body, assignee=assignee), []


def _is_assignee(value: object) -> bool:
    """Spec §4.2's form, as an occurrence's `assignee`."""
    if not isinstance(value, str):
        return False
    kind, colon, identifier = value.partition(":")
    # Printable only: a NUL or control character would be refused by PostgreSQL in the sink and park every
    # later change of the group behind it (spec §2.4.12), as ingest refuses it in an occurrence (§4.2).
    return (kind in ("user", "team") and colon == ":" and 1 <= len(identifier) <= MAX_ASSIGNEE_ID_CHARS
            and identifier.isprintable() and not any(character.isspace() for character in identifier))


# ------------------------------------------------------------------------------------------------ targets

@dataclass(frozen=True)
class BulkTargets:
    """`?id=` (numeric group ids, in the order given, each once) or `?query=` (spec §20.8.3)."""

    ids: tuple[str, ...] | None = None
    query: str | None = None


def parse_bulk_update_targets(params: Sequence[tuple[str, str]]) -> BulkTargets:
    ids = [value for key, value in params if key == "id"]
    queries = [value for key, value in params if key == "query"]
    if ids and queries:
        raise invalid_parameter("query", "A bulk update takes id or query, not both")
    if ids:
        return BulkTargets(ids=_bounded_ids(ids))
    if queries:
        return BulkTargets(query=queries[0])
    raise invalid_parameter("id", "A bulk update needs id (repeatable) or query")


def parse_bulk_delete_ids(params: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """Spec §20.9: 1-1000 ids; none is 400 `ids_required` (we never delete "the first 1000" of a query)."""
    ids = [value for key, value in params if key == "id"]
    if not ids:
        raise ApiError(400, "ids_required", "A bulk delete needs the ids of the issues: ?id=…&id=…")
    return _bounded_ids(ids)


def _bounded_ids(ids: Sequence[str]) -> tuple[str, ...]:
    unique = tuple(dict.fromkeys(ids))
    if len(unique) > MAX_BULK:
        raise invalid_parameter("id", f"At most {MAX_BULK} ids per request ({len(unique)} given)")
    return unique


def numeric_id(text: str) -> int | None:
    """A group id as `?id=` gives it; None for anything that cannot name a group."""
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= 2**63 - 1 else None


def request_key(header: str | None) -> str:
    """The client's Idempotency-Key, or a fresh one: the change ids of a request derive from it (§2.4)."""
    if header is None:
        return uuid.uuid4().hex
    key = header.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_CHARS or not key.isascii() or not key.isprintable():
        raise invalid_parameter(IDEMPOTENCY_HEADER, f"{IDEMPOTENCY_HEADER} must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} "
                                                    "printable ASCII characters")
    return key


def request_digest(method: str, target: str, params: Sequence[tuple[str, str]], raw: bytes) -> str:
    """What an Idempotency-Key is bound to: the method, the resource, the query (but `wait`, which changes only
    the answer) and the body as JSON (key order and spacing do not matter; a body that is no JSON as bytes)."""
    try:
        body: Any = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        body = raw.decode("utf-8", "replace")
    query = sorted([key, value] for key, value in params if key != "wait")
    return hashlib.sha256(orjson.dumps([method, target, query, body], option=orjson.OPT_SORT_KEYS)).hexdigest()


# ------------------------------------------------------------------------------------------------ changes

@dataclass(frozen=True)
class Target:
    """One group a request names, as PostgreSQL knows it."""

    group_id: int
    group_key: str
    generation: int


@dataclass(frozen=True)
class PlannedChange:
    id: str
    kind: str  # "status_change", "update" or "delete"
    target: Target
    message: dict[str, Any]

    def summary(self) -> dict[str, str]:
        return {"id": self.id, "kind": self.kind, "issue": str(self.target.group_id)}


def change_id(key: str, target: Target, kind: str) -> str:
    """Deterministic from the request's key and the group it changes (spec §2.4): the same request sent again
    with the same Idempotency-Key makes the same ids, which the owner applies at most once."""
    return uuid.uuid5(ID_NAMESPACE, f"api:{key}:{target.group_key}:{target.generation}:{kind}").hex


def plan_updates(body: UpdateBody, targets: Sequence[Target], *, t: float, key: str) -> list[PlannedChange]:
    """Per group, its status change, then its update (spec §20.8.2: produced in that order, one key each)."""
    planned: list[PlannedChange] = []
    for target in targets:
        ask = body.status
        if ask is not None:
            planned.append(_planned(key, target, "status_change", api_status_change_message, t=t,
                                    new_status=ask.new_status, new_substatus=ask.new_substatus,
                                    snooze_count=ask.snooze_count, snooze_until=ask.until(t)))
        if body.update is not None:
            planned.append(_planned(key, target, "update", update_message, t=t, fields=body.update.to_message()))
    return planned


def plan_deletes(targets: Sequence[Target], *, t: float, key: str) -> list[PlannedChange]:
    return [_planned(key, target, "delete", delete_message, t=t) for target in targets]


def _planned(key: str, target: Target, kind: str, message: Callable[..., dict[str, Any]], *, t: float,
             **fields: Any) -> PlannedChange:
    """The change `kind` of one group under its deterministic id, its grouping message built by `message`."""
    cid = change_id(key, target, kind)
    return PlannedChange(cid, kind, target, message(change_id=cid, generation=target.generation, t=t, **fields))


def accepted_body(targets: Sequence[Target], planned: Sequence[PlannedChange],
                  echo: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Spec §20.8.4 (and §20.9): the ids, the produced changes, the requested values echoed."""
    return {"ids": [str(target.group_id) for target in targets], "changes": [change.summary() for change in planned],
            **(echo or {})}

