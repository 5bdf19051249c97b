"""`POST /api/0/parked/retry/` (spec §2.4.12, §20.4): the CLI's `parked retry` over HTTP, and the retry both run.

The body is `{"ids": [...]}`, ids as `GET /api/0/parked/` shows them (the id of any parked row takes its whole
key, as `parked retry --id` does), or `{"all": true}`. Each key's parked changes are applied again in offset
order, in one transaction per key, and their post-process and activity messages are forwarded with the ids the
sink would have used. By ids it is all or nothing: an unknown or resolved id is 404 `not_found` naming every
such id, and nothing is retried. The answer is 200 `{"retried", "applied", "failed": []}` (keys, changes) when
every key was applied; when a key failed again it stays parked with one attempt more and the new error, the
others are applied, and the answer is 409 `retry_failed` with that same object as its `details`.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection

from storage.options import read_options
from storage.parked import ParkedKey, keys_of, parked_keys
from storage.sink_plan import BatchResult, ChangeFailure
from storage.sink_writer import retry_parked
from streams.agents.sink import forward
from streams.settings import get_settings
from streams.web.errors import ApiError, json_object, not_found

FIELDS = ("ids", "all")


def invalid_body(path: str, message: str) -> ApiError:
    return ApiError(400, "invalid_body", f"The request body is not a valid retry: {path or 'body'}: {message}",
                    {"errors": [{"path": path, "message": message}]})


def parse_retry_body(raw: bytes) -> list[int] | None:
    """The ids to retry, in the order given, or None for every parked key (`{"all": true}`)."""
    body = json_object(raw, invalid_body, '{"ids": [...]} or {"all": true}')
    for key in body:
        if key not in FIELDS:
            raise invalid_body(key, f"Unknown field; a retry takes {' or '.join(FIELDS)}")
    if ("ids" in body) == ("all" in body):
        raise invalid_body("", 'Give either "ids" or "all"')
    if "all" in body:
        if body["all"] is not True:
            raise invalid_body("all", 'all must be true (or give "ids")')
        return None
    ids = body["ids"]
    if not isinstance(ids, list) or not ids:
        raise invalid_body("ids", "ids must be a non-empty list of parked change ids")
    parsed: list[int] = []
    for index, value in enumerate(ids):
        number = _parked_id(value)
        if number is None:
            raise invalid_body(f"ids[{index}]", "a parked change id is a positive integer")
        parsed.append(number)
    return parsed


def _parked_id(value: object) -> int | None:
    """A row id as the list shows it ("12"), or as a number; None for anything else (bools, "٣", 1.5, 0)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    return value if type(value) is int and value >= 1 else None


async def selected_keys(conn: AsyncConnection[Any], ids: Sequence[int] | None,
                        ) -> tuple[list[ParkedKey], list[int]]:
    """The keys to retry, each once, in the order first named (every parked key for None), and the named ids
    that are not parked (unknown or resolved already): all or nothing, a typo must not leave half a list
    retried, so a caller retries nothing while that list is not empty."""
    if ids is None:
        return await parked_keys(conn), []
    found = await keys_of(conn, ids)
    missing = [row_id for row_id in ids if row_id not in found]
    return ([] if missing else retry_order(ids, found)), missing


def retry_order(ids: Sequence[int], found: dict[int, ParkedKey]) -> list[ParkedKey]:
    """The keys of the named rows, each once, in the order first named."""
    return list(dict.fromkeys(found[row_id] for row_id in ids))


async def retry_keys(conn: AsyncConnection[Any], keys: Sequence[ParkedKey],
                     ) -> AsyncIterator[tuple[ParkedKey, BatchResult | ChangeFailure]]:
    """Retry each key in turn (`conn` in autocommit: one transaction per key, so its partition lock is held only
    meanwhile) and forward what each applied, with the ids the sink would have used, before the next key."""
    options = await read_options(conn)
    for key in keys:
        outcome = await retry_parked(conn, key.topic, key.partition, key.group_key)
        if not isinstance(outcome, ChangeFailure):
            await forward(outcome, options)  # returns once the broker acknowledged every message
        yield key, outcome


async def retry(raw: bytes) -> dict[str, Any]:
    """The 200 body of a retry where every key was applied; raises the ApiError of any other outcome."""
    ids = parse_retry_body(raw)
    async with await psycopg.AsyncConnection.connect(get_settings().database_url, autocommit=True) as conn:
        keys, missing = await selected_keys(conn, ids)
        if missing:
            raise not_found(f"no parked change {', '.join(map(str, missing))} (unknown or resolved already); "
                            "nothing retried", missing=[str(row_id) for row_id in missing])
        applied = 0
        failed: list[dict[str, Any]] = []
        async for key, outcome in retry_keys(conn, keys):
            if isinstance(outcome, ChangeFailure):
                failed.append({"source": {"topic": key.topic, "partition": key.partition}, "groupKey": key.group_key,
                               "error": outcome.error})
            else:
                applied += len(outcome.applied)
    body = {"retried": len(keys), "applied": applied, "failed": failed}
    if failed:
        raise ApiError(409, "retry_failed", f"{len(failed)} of {len(keys)} keys failed again and stay parked", body)
    return body
