"""Request checks of `PUT /api/0/projects/{id}/` (spec §11.1, §20.11.1), `POST /api/0/dlq/replay/` (§20.11.5) and
what an Idempotency-Key binds (§20.8)."""
from __future__ import annotations

import pytest

from streams.commands.projects import patch_from_cli, rate_limit_from_cli
from streams.web.dlq_replay import parse_replay_body
from streams.web.errors import ApiError
from streams.web.mutations import request_digest
from streams.web.projects import parse_settings_body

ENTRY = "a" * 32


def error_of(call: object, *args: object) -> ApiError:
    with pytest.raises(ApiError) as raised:
        call(*args)  # type: ignore[operator]
    return raised.value


def test_a_settings_body_is_checked_with_every_problem_listed() -> None:
    assert parse_settings_body(3, b'{"slug": "web", "resolve_age_hours": 24}', None) == {
        "slug": "web", "resolve_age_hours": 24}
    error = error_of(parse_settings_body, 3, b'{"slug": "p4", "resolve_age_hours": 0, "x": 1}', None)
    assert (error.status, error.code) == (400, "invalid_body")
    assert [e["path"] for e in error.details["errors"]] == ["x", "slug", "resolve_age_hours"]
    for raw in (b"", b"[]", b"{", b"{}"):
        error = error_of(parse_settings_body, 3, raw, None)
        assert (error.status, error.code, error.details["errors"][0]["path"]) == (400, "invalid_body", "")


def test_the_cli_takes_the_same_settings() -> None:
    assert patch_from_cli("web", "none", "off") == {"slug": "web", "resolve_age_hours": None,
                                                    "occurrence_rate_limit": {"enabled": False}}
    assert rate_limit_from_cli("100/3600/60") == {"enabled": True, "limit": 100, "window_seconds": 3600,
                                                  "granularity_seconds": 60}
    assert rate_limit_from_cli('{"limit": 5}') == {"limit": 5}
    for bad in ("100", "a/b", "[1]"):
        with pytest.raises(ValueError):
            rate_limit_from_cli(bad)
    with pytest.raises(ValueError):
        patch_from_cli(None, None, None)
    with pytest.raises(ValueError):
        patch_from_cli(None, "soon", None)


def test_a_replay_body_selects_by_ids_or_by_reason() -> None:
    assert parse_replay_body(b'{"ids": ["%s"]}' % ENTRY.upper().encode()).ids == (ENTRY,)
    selection = parse_replay_body(b'{"reason": "invalid_json", "project_id": 3, "limit": 10}')
    assert (selection.reason, selection.project_id, selection.limit) == ("invalid_json", 3, 10)
    assert parse_replay_body(b'{"reason": "invalid_json"}').limit == 1000
    both = b'{"ids": ["%s"], "reason": "invalid_json"}' % ENTRY.encode()
    for raw, path in ((b'{"ids": ["x"]}', "ids"), (b'{"ids": []}', "ids"), (b'{"reason": "nope"}', "reason"),
                      (b'{"reason": "invalid_json", "limit": 1001}', "limit"), (b'{"what": 1}', "what"),
                      (b"{}", "reason"), (b"[1]", ""), (both, "ids"),
                      (b'{"reason": "invalid_json", "limit": true}', "limit")):
        error = error_of(parse_replay_body, raw)
        assert (error.status, error.code, error.details["errors"][0]["path"]) == (400, "invalid_body", path), raw


def test_an_idempotency_key_binds_method_resource_query_and_body_but_not_wait() -> None:
    digest = request_digest("PUT", "issues/7", [("wait", "1")], b'{"status": "resolved", "priority": "low"}')
    assert digest == request_digest("PUT", "issues/7", [], b'{ "priority": "low", "status": "resolved" }')
    assert digest != request_digest("PUT", "issues/7", [], b'{"status": "unresolved", "priority": "low"}')
    assert digest != request_digest("PUT", "issues/8", [], b'{"status": "resolved", "priority": "low"}')
    assert digest != request_digest("DELETE", "issues/7", [], b'{"status": "resolved", "priority": "low"}')
    bulk = request_digest("DELETE", "projects/1/issues", [("id", "1"), ("id", "2")], b"")
    assert bulk != request_digest("DELETE", "projects/1/issues", [("id", "1")], b"")
