"""PUT and GET of a project's tracker config (spec §24.3, §24.3.1, §24.5): body checks, the mask, the answer."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from streams.trackers import SECRET_MASK
from streams.trackers.builtin.github import GitHubTracker
from streams.web.errors import ApiError
from streams.web.tracker_config import parse_tracker_config_body, tracker_config_object

FIELDS = GitHubTracker.config_fields
TOKEN = "ghp_realSecretValue123"
STORED = {"repo": "acme/app", "token": TOKEN}


def put(body: Any, stored: dict[str, Any] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse_tracker_config_body(FIELDS, raw, stored or {})


def errors_of(body: Any, stored: dict[str, Any] | None = None) -> list[dict[str, str]]:
    with pytest.raises(ApiError) as raised:
        put(body, stored)
    assert (raised.value.status, raised.value.code) == (400, "invalid_body")
    errors: list[dict[str, str]] = raised.value.details["errors"]
    assert all(set(error) == {"path", "message"} for error in errors)
    return errors


def test_a_full_config_is_stored_as_given_with_auto_create() -> None:
    auto = {"on": ["new", "escalating"], "min_priority": "high", "types": [1, 2001]}
    update = put({"config": STORED, "auto_create": auto})
    assert update.config == STORED
    assert update.auto_create == auto


def test_auto_create_defaults_to_none_and_its_types_to_null() -> None:
    assert put({"config": STORED}).auto_create is None
    assert put({"config": STORED, "auto_create": {"on": ["new"], "min_priority": "low"}}).auto_create == {
        "on": ["new"], "min_priority": "low", "types": None}


def test_a_masked_secret_keeps_the_stored_one_and_a_new_value_replaces_it() -> None:
    assert put({"config": {"repo": "acme/other", "token": SECRET_MASK}}, STORED).config == {
        "repo": "acme/other", "token": TOKEN}
    assert put({"config": {"repo": "acme/app", "token": "new"}}, STORED).config["token"] == "new"


def test_a_masked_secret_with_nothing_stored_is_a_missing_required_field_not_eight_asterisks() -> None:
    assert errors_of({"config": {"repo": "acme/app", "token": SECRET_MASK}}) == [
        {"path": "config.token", "message": "Access token is a required field."}]


def test_a_put_replaces_the_config_so_a_left_out_required_field_is_reported() -> None:
    assert errors_of({"config": {"repo": "acme/app"}}, STORED) == [
        {"path": "config.token", "message": "Access token is a required field."}]


def test_an_optional_secret_left_out_or_null_is_not_stored() -> None:
    stored = {**STORED, "webhook_secret": "hook"}
    assert "webhook_secret" not in put({"config": {"repo": "acme/app", "token": SECRET_MASK}}, stored).config
    assert "webhook_secret" not in put({"config": {**STORED, "webhook_secret": None}}, stored).config


@pytest.mark.parametrize(("body", "expected"), [
    (b"{not json", [{"path": "", "message": "The body is not valid JSON"}]),
    (b"", [{"path": "", "message": 'The body must be an object {"config": {…}, "auto_create": …}'}]),
    ([1, 2], [{"path": "", "message": 'The body must be an object {"config": {…}, "auto_create": …}'}]),
    ({}, [{"path": "config", "message": "config is required and must be an object"}]),
    ({"config": "x"}, [{"path": "config", "message": "config is required and must be an object"}]),
])
def test_a_body_that_is_no_object_with_a_config_is_refused(body: Any, expected: list[dict[str, str]]) -> None:
    assert errors_of(body) == expected


def test_every_problem_is_listed_with_its_path() -> None:
    errors = errors_of({
        "config": {"repo": 7, "token": "t", "colour": "red"},
        "auto_create": {"on": ["new", "new"], "min_priority": "urgent", "types": ["x"], "when": 1},
        "extra": True,
    })
    assert [error["path"] for error in errors] == [
        "extra", "config.repo", "config.colour", "auto_create.when", "auto_create.on", "auto_create.min_priority",
        "auto_create.types"]


def test_auto_create_must_be_an_object_or_null() -> None:
    assert errors_of({"config": STORED, "auto_create": ["new"]}) == [
        {"path": "auto_create", "message": "auto_create must be an object or null"}]


def test_no_message_repeats_a_submitted_value() -> None:
    leaked = "ghp_leakedValue999"
    errors = errors_of({"config": {"repo": leaked, "base_url": 3, leaked: leaked}, "auto_create": leaked})
    assert leaked not in orjson.dumps([error["message"] for error in errors]).decode()


def test_the_answer_masks_every_set_secret() -> None:
    at = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    answer = tracker_config_object(42, "github", FIELDS, {**STORED, "webhook_secret": ""}, None, at)
    assert answer == {
        "project_id": 42, "tracker": "github", "auto_create": None, "updated_at": "2026-11-30T06:00:00.000000Z",
        "config": {"repo": "acme/app", "token": SECRET_MASK, "webhook_secret": ""},
    }
    assert TOKEN not in orjson.dumps(answer).decode()


def test_an_unconfigured_tracker_answers_an_empty_config() -> None:
    assert tracker_config_object(42, "github", FIELDS, {}, None, None) == {
        "project_id": 42, "tracker": "github", "config": {}, "auto_create": None, "updated_at": None}
