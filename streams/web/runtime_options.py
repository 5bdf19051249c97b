"""`PUT /api/0/flags/{name}/` and `PUT /api/0/options/{name}/` (spec §20.11.3, §20.11.4): the CLI's `flag set`
and `option set` over HTTP.

The same checks as the CLI (streams.core.options, with its messages), then a record on the options topic keyed by
the option's name, which agent `options` applies to every worker's options table (spec §10.4.1). The handler waits
until this worker's table holds that record (at most 10 s): 200 with the flag or option as GET shows it then, or
202 saying it was produced and will be applied.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from grouptypes import flag_option_name
from streams.core.options import (
    INTEGER_OPTIONS,
    STARTUP_SETTINGS,
    InvalidOption,
    validate_option,
)
from streams.services import registry
from streams.tables import current_options, options_table
from streams.topics import options_topic
from streams.web.errors import ApiError, json_object, not_found, unavailable
from streams.web.serialize import flag_list, option_list

log = logging.getLogger(__name__)

WAIT_SECONDS = 10.0
WAIT_POLL_SECONDS = 0.1

Answer = tuple[int, Any]


def invalid_value(path: str, message: str) -> ApiError:
    return ApiError(400, "invalid_body", message, {"errors": [{"path": path, "message": message}]})


def flag_object(name: str) -> dict[str, Any]:
    """The flag as `GET /api/0/flags/` lists it; 404 for a name that is not a flag of a registered type."""
    for flag in flag_list(registry, current_options()):
        if flag["name"] == name:
            return flag
    raise not_found(f"no flag {name}; flags exist only for registered unreleased group types (spec §10.1.1)")


def option_object(name: str) -> dict[str, Any]:
    """The option as `GET /api/0/options/` lists it; 404 for a name that is not a runtime option."""
    for option in option_list(registry, current_options()):
        if option["name"] == name:
            return option
    raise not_found(f"no option {name}")


def _json_object(raw: bytes) -> dict[str, Any]:
    return json_object(raw, invalid_value, "a JSON object")


async def put_flag(name: str, raw: bytes) -> Answer:
    """Spec §20.11.3: body `{"stage", "projects"}`, projects required for la/ea and absent for off/ga."""
    flag_object(name)  # 404 before the body is looked at: the resource does not exist
    body = _json_object(raw)
    try:
        stored = validate_option(flag_option_name(name), body, flag_names=registry.known_flag_names())
    except InvalidOption as error:
        raise invalid_value("", str(error)) from None
    if await _produce_and_wait(flag_option_name(name), stored):
        return 200, flag_object(name)
    return 202, _pending_body(name, stored)


async def put_option(name: str, raw: bytes) -> Answer:
    """Spec §20.11.4: body `{"value"}`, checked against §10.4 (a start-up setting is refused with its reason)."""
    if name not in STARTUP_SETTINGS and name not in INTEGER_OPTIONS:
        option_object(name)  # a flag option exists only for a registered flag: 404 for any other name
    body = _json_object(raw)
    if "value" not in body:
        raise invalid_value("value", "The body needs a 'value'")
    unknown = sorted(set(body) - {"value"})
    if unknown:
        raise invalid_value("", f"The body has only 'value', got unknown keys {unknown}")
    try:
        stored = validate_option(name, body["value"], flag_names=registry.known_flag_names())
    except InvalidOption as error:
        raise invalid_value("value", str(error)) from None
    if await _produce_and_wait(name, stored):
        return 200, option_object(name)
    return 202, _pending_body(name, stored)


def _pending_body(name: str, stored: object) -> dict[str, Any]:
    return {"name": name, "value": stored, "applied": False,
            "message": f"Not applied within {WAIT_SECONDS:.0f} s; it will be applied in order after the options "
                       "before it"}


async def _produce_and_wait(name: str, stored: object) -> bool:
    """Whether this worker's options table holds the record within WAIT_SECONDS of producing it."""
    try:
        delivery = await options_topic.send(key=name.encode("utf-8"), value=orjson.dumps(stored))
        metadata = await delivery
    except Exception as error:  # noqa: BLE001  # any failure to produce: nothing was promised yet
        log.warning("api: producing option %s failed: %s", name, error)
        raise unavailable("Kafka did not accept the change; nothing was applied, send the request again",
                          checks={"kafka": "unavailable"}) from None
    offset = int(metadata.offset)
    log.info("api: option %s = %s produced at options offset %s", name, orjson.dumps(stored).decode(), offset)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        entry = options_table.get(name)
        # A later record of the same name counts too: the table then shows what GET would show.
        if entry is not None and int(entry["offset"]) >= offset:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(WAIT_POLL_SECONDS)
