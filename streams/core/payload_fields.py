"""Wire-level field types of the ingest payloads (spec §0.4-§0.6) and JSON paths for their errors (§7.1)."""
from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BeforeValidator, PlainSerializer, PlainValidator
from pydantic_core import ErrorDetails, PydanticCustomError

from streams.core.timestamps import format_datetime

# Free-form JSON (evidence_data, activity_data, event context keys) is re-serialised with orjson, which gives up
# beyond 254 nested levels. The occurrence and the grouping envelope add a few levels around such a value, so
# we cap it well below that; real payloads never come close. Our guard, not a rule of the spec.
MAX_FREEFORM_DEPTH = 128

# §0.5: ISO-8601 date-time that carries a timezone. Python's fromisoformat alone is too lax (it takes any
# character as the date/time separator), so the shape is checked first; ASCII digits only.
_ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)",
    re.ASCII,
)


_LOWER_HEX32 = re.compile(r"[0-9a-f]{32}", re.ASCII)


def _invalid(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def parse_timestamp_input(value: object) -> datetime:
    """A §0.5 timestamp input as an aware UTC datetime; raises PydanticCustomError otherwise."""
    if isinstance(value, bool):
        # bool is an int subclass, but `true` is not an epoch (§0.5)
        raise _invalid("timestamp_input", "Input should be epoch seconds or an ISO-8601 string with a timezone")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise _invalid("timestamp_input", "Input should be finite epoch seconds")
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise _invalid("timestamp_input", "Input should be epoch seconds within years 1-9999") from None
    if isinstance(value, str):
        if _ISO_DATETIME.fullmatch(value) is None:
            raise _invalid("timestamp_input", "Input should be an ISO-8601 date-time with a timezone (Z or ±HH:MM)")
        try:
            return datetime.fromisoformat(value).astimezone(timezone.utc)
        except (OverflowError, ValueError):
            raise _invalid("timestamp_input", "Input should be a valid ISO-8601 date-time in years 1-9999") from None
    raise _invalid("timestamp_input", "Input should be epoch seconds or an ISO-8601 string with a timezone")


def uuid_hex(text: str) -> str | None:
    """§0.6: any spelling Python's UUID parser accepts, as 32 lowercase hex; None when it is no UUID."""
    if len(text) == 32 and _LOWER_HEX32.fullmatch(text):
        return text  # already the normal form (most detectors send it): UUID() would give it back, in 2 µs
    try:
        return uuid.UUID(text).hex
    except ValueError:
        return None


def parse_uuid_input(value: object) -> str:
    """A §0.6 UUID input normalised to 32 lowercase hex; raises PydanticCustomError otherwise."""
    normalised = uuid_hex(value) if isinstance(value, str) else None
    if normalised is None:
        raise _invalid("uuid_input", "Input should be a UUID string")
    return normalised


def _aware_utc(value: object) -> datetime:
    """Stored datetimes are aware UTC (§0.3); a stored model may also be rebuilt from its JSON form."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _invalid("aware_datetime", "Input should be a timezone-aware datetime")
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:
            raise _invalid("aware_datetime", "Input should be a datetime within years 1-9999") from None
    return parse_timestamp_input(value)


def epoch_seconds(value: datetime) -> float:
    return value.timestamp()


def json_depth_within(value: object, limit: int) -> bool:
    """Whether `value` nests at most `limit` containers deep; iterative, as inputs may nest ~1000 levels."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def compact_json_size(value: object) -> int:
    """Size as compact UTF-8 JSON, the measure of §4.2 `evidence_data` and §6.2 `activity_data`."""
    return len(orjson.dumps(value))


def _freeform(value: Any) -> Any:
    if not json_depth_within(value, MAX_FREEFORM_DEPTH):
        raise _invalid("json_depth", f"Input should nest at most {MAX_FREEFORM_DEPTH} levels deep")
    return value


def bounded_json(max_bytes: int) -> AfterValidator:
    """Free-form JSON that must also fit in `max_bytes` once serialised."""

    def check(value: Any) -> Any:
        _freeform(value)
        if compact_json_size(value) > max_bytes:
            raise _invalid("json_size", f"Input should be at most {max_bytes} bytes as compact JSON")
        return value

    return AfterValidator(check)


TimestampInput = Annotated[datetime, PlainValidator(parse_timestamp_input)]
UuidInput = Annotated[str, PlainValidator(parse_uuid_input)]
FreeformJson = Annotated[Any, AfterValidator(_freeform)]

# Stored datetimes: aware UTC, emitted per §0.4 as ISO-8601 with microseconds and Z ...
IsoDatetime = Annotated[
    datetime, BeforeValidator(_aware_utc), PlainSerializer(format_datetime, return_type=str, when_used="json")
]
# ... except where the spec says "epoch float" (§4.2 detection_time).
EpochDatetime = Annotated[
    datetime, BeforeValidator(_aware_utc), PlainSerializer(epoch_seconds, return_type=float, when_used="json")
]


def problems_error(problems: Sequence[tuple[str, str]]) -> PydanticCustomError:
    """One pydantic error carrying several (sub-path, message) problems, expanded by `error_lines`."""
    first_path, first_message = problems[0]
    context = {"first": f"{first_path}: {first_message}", "problems": list(problems)}
    return PydanticCustomError("nested", "{first}", context)


def json_path(loc: Sequence[str | int], prefix: str = "") -> str:
    """`('fingerprint', 2)` → `fingerprint[2]`, `('evidence_display', 0, 'name')` → `evidence_display[0].name`."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def error_lines(errors: Iterable[ErrorDetails], prefix: str = "") -> list[tuple[str, str]]:
    """Every error as (JSON path, message), in field order, for the §7.1 message and field headers."""
    lines: list[tuple[str, str]] = []
    for error in errors:
        path = json_path(error["loc"], prefix)
        problems = (error.get("ctx") or {}).get("problems")
        if problems:
            lines.extend((path + sub_path, message) for sub_path, message in problems)
        else:
            lines.append((path, error["msg"]))
    return lines
