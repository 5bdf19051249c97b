"""What a detector may send: strict pydantic models of the input fields of spec §4.2, §5.4 and §6.2."""
from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, StringConstraints
from pydantic_core import PydanticCustomError

from streams.core.enums import LEVELS, ActivityType
from streams.core.payload_fields import FreeformJson, TimestampInput, UuidInput, bounded_json, problems_error

MAX_PROJECT_ID: Final = 2**63 - 1  # spec §4.2
MAX_FINGERPRINT_PARTS: Final = 16  # spec §4.2
MAX_FINGERPRINT_PART_CHARS: Final = 1024  # spec §4.2
MAX_TITLE_CHARS: Final = 1024  # spec §4.2 issue_title, subtitle
MAX_CULPRIT_CHARS: Final = 200  # spec §4.2
MAX_EVIDENCE_DISPLAY: Final = 100  # spec §4.2
MAX_EVIDENCE_DATA_BYTES: Final = 262_144  # spec §4.2
MAX_ASSIGNEE_ID_CHARS: Final = 128  # spec §4.2
MAX_RESOURCE_ID_CHARS: Final = 1024  # spec §4.2
MAX_PLATFORM_CHARS: Final = 64  # spec §5.4
MAX_TAG_KEY_CHARS: Final = 200  # spec §5.4
MAX_TAG_VALUE_CHARS: Final = 200  # spec §5.4
MAX_ENVIRONMENT_CHARS: Final = 64  # spec §5.4
MAX_RELEASE_CHARS: Final = 200  # spec §5.4 release, dist
MAX_STATUS_CHANGE_ID_CHARS: Final = 128  # spec §6.2
MAX_ACTIVITY_DATA_BYTES: Final = 16_384  # spec §6.2

LevelName = Literal["sample", "debug", "info", "warning", "error", "fatal"]
LEVEL_VALUES: Final[dict[str, int]] = LEVELS  # spec §8.5
DEFAULT_LEVEL: Final = "info"  # spec §4.2
ACTIVITY_TYPE_VALUES: Final = frozenset(int(member) for member in ActivityType)  # spec §8.6

_ASSIGNEE = re.compile(rf"(?:user|team):\S{{1,{MAX_ASSIGNEE_ID_CHARS}}}")  # spec §4.2

NonEmptyText = Annotated[str, StringConstraints(min_length=1)]
FingerprintPart = Annotated[str, StringConstraints(min_length=1, max_length=MAX_FINGERPRINT_PART_CHARS)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE_CHARS)]
Subtitle = Annotated[str, StringConstraints(max_length=MAX_TITLE_CHARS)]
ResourceId = Annotated[str, StringConstraints(max_length=MAX_RESOURCE_ID_CHARS)]
Platform = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PLATFORM_CHARS)]
Environment = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ENVIRONMENT_CHARS)]
ReleaseName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_RELEASE_CHARS)]
StatusChangeId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STATUS_CHANGE_ID_CHARS)]
ProjectId = Annotated[int, Field(ge=1, le=MAX_PROJECT_ID)]


def is_project_id(value: object) -> bool:
    """Whether `value` is a project_id as §4.2 allows it: a JSON integer (never a boolean) in 1..2^63-1."""
    return type(value) is int and 1 <= value <= MAX_PROJECT_ID
Fingerprint = Annotated[list[FingerprintPart], Field(min_length=1, max_length=MAX_FINGERPRINT_PARTS)]


def _level(value: object) -> str:
    # spec §4.2: absent, null and "" mean info; any other unknown level is rejected (the reference nulled it)
    if value is None or value == "":
        return DEFAULT_LEVEL
    if isinstance(value, str) and value in LEVEL_VALUES:
        return value
    raise PydanticCustomError("level", "Input should be one of " + ", ".join(LEVEL_VALUES) + ", null or \"\"")


def _assignee(value: str) -> str:
    if _ASSIGNEE.fullmatch(value) is None:
        raise PydanticCustomError(
            "assignee",
            f"Input should be user:<id> or team:<id>, the id 1-{MAX_ASSIGNEE_ID_CHARS} characters without whitespace",
        )
    return value


def _member_path(key: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_]{1,64}", key, re.ASCII):
        return f".{key}"
    shown = key if len(key) <= 64 else key[:64] + "…"
    return "[" + orjson.dumps(shown).decode() + "]"


def _tag_problems(key: object, value: object, key_path: str, value_path: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY_CHARS:
        problems.append((key_path, f"Tag key should be a string of 1-{MAX_TAG_KEY_CHARS} characters"))
    if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_CHARS:
        problems.append((value_path, f"Tag value should be a string of at most {MAX_TAG_VALUE_CHARS} characters"))
    return problems


def _tags(value: object) -> list[tuple[str, str]]:
    """spec §5.4: an object of str → str or an array of [str, str] pairs, kept as pairs in the given order."""
    # Every event has tags, and nearly all are valid: checked before any error path is built (its key's
    # `_member_path` is a regular expression per tag).
    if isinstance(value, dict) and not any(_tag_problems(key, tag_value, "", "") for key, tag_value in value.items()):
        return list(value.items())
    problems: list[tuple[str, str]] = []
    pairs: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, tag_value in value.items():
            path = _member_path(key)
            problems += _tag_problems(key, tag_value, path, path)
            pairs.append((key, tag_value))
    elif isinstance(value, list):
        for index, entry in enumerate(value):
            if not (isinstance(entry, list) and len(entry) == 2):
                problems.append((f"[{index}]", "Input should be a [key, value] pair of strings"))
                continue
            problems += _tag_problems(entry[0], entry[1], f"[{index}][0]", f"[{index}][1]")
            pairs.append((entry[0], entry[1]))
    else:
        raise PydanticCustomError("tags", "Input should be an object of strings or an array of [key, value] pairs")
    if problems:
        raise problems_error(problems)
    return pairs


class WireModel(BaseModel):
    """Strict, so that JSON `true`, `1.0` and `"1"` are never integers (§4.2); unknown keys are ignored (§3.3)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, hide_input_in_errors=True)


class EvidenceInput(WireModel):
    name: str
    value: str
    important: bool


class OccurrenceInput(WireModel):
    """spec §4.2, in table order so that the first error is the first offending field; `event` stays raw (row 7)."""

    id: UuidInput
    project_id: ProjectId
    fingerprint: Fingerprint
    type: int
    issue_title: Title
    subtitle: Subtitle
    culprit: str | None = None
    level: Annotated[str, PlainValidator(_level)] = DEFAULT_LEVEL
    detection_time: TimestampInput
    evidence_display: Annotated[list[EvidenceInput], Field(max_length=MAX_EVIDENCE_DISPLAY)]
    evidence_data: Annotated[dict[str, Any], bounded_json(MAX_EVIDENCE_DATA_BYTES)] | None = None
    priority: Any = None
    initial_issue_priority: Any = None
    assignee: Annotated[str, AfterValidator(_assignee)] | None = None
    resource_id: ResourceId | None = None
    event_id: UuidInput | None = None
    event: dict[str, Any] | None = None


# spec §5.3: kept only when the event has them; the free-form ones are stored as given.
EVENT_FREEFORM_KEYS: Final = (
    "breadcrumbs", "contexts", "debug_meta", "extra", "modules", "request", "sdk", "stacktrace", "user",
)
EVENT_CHECKED_KEYS: Final = ("dist", "environment", "release", "server_name", "trace_id", "transaction")


class EventInput(WireModel):
    """spec §5.4. `project_id` is not here: §5.2 step 2 compares it before this model runs."""

    event_id: UuidInput
    platform: Platform
    timestamp: TimestampInput
    received: TimestampInput | None = None
    tags: Annotated[list[tuple[str, str]], PlainValidator(_tags)] | None = None
    environment: Environment | None = None
    release: ReleaseName | None = None
    dist: ReleaseName | None = None
    server_name: NonEmptyText | None = None
    trace_id: NonEmptyText | None = None
    transaction: NonEmptyText | None = None
    breadcrumbs: FreeformJson = None
    contexts: FreeformJson = None
    debug_meta: FreeformJson = None
    extra: FreeformJson = None
    modules: FreeformJson = None
    request: FreeformJson = None
    sdk: FreeformJson = None
    stacktrace: FreeformJson = None
    user: FreeformJson = None


def _activity_type(value: int) -> int:
    if value not in ACTIVITY_TYPE_VALUES:
        raise PydanticCustomError("activity_type", "Input should be an ActivityType value of spec §8.6")
    return value


class StatusChangeInput(WireModel):
    """spec §6.2, in table order."""

    fingerprint: Fingerprint
    project_id: ProjectId
    new_status: Annotated[int, Field(ge=0, le=6)]  # §8.1; 3-6 pass here and fail §14.2 as unsupported_status
    new_substatus: Annotated[int, Field(ge=1, le=7)] | None = None  # §8.2
    id: StatusChangeId | None = None
    update_date: TimestampInput | None = None
    activity_type: Annotated[int, AfterValidator(_activity_type)] | None = None
    activity_data: Annotated[dict[str, Any], bounded_json(MAX_ACTIVITY_DATA_BYTES)] | None = None
    detector_id: int | None = None
    snooze_count: Annotated[int, Field(ge=1)] | None = None
    snooze_until: TimestampInput | None = None
