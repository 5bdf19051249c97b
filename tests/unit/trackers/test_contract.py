"""The pure parts of the contract: fields and form errors, secret masking, default texts (spec §24.1, §24.3)."""

from __future__ import annotations

from streams.trackers import (
    SECRET_MASK,
    ExternalIssue,
    Field,
    TrackedEvent,
    TrackedIssue,
    form_errors,
    has_marker,
    issue_description,
    marker_line,
    mask_secrets,
    merge_config,
    with_marker,
)
from streams.trackers.builtin.jira import JiraTracker
from streams.trackers.builtin.webhook import WebhookTracker
from tests.unit.trackers.conftest import EVENT, ISSUE
from tests.unit.trackers.test_registry import AcmeTracker

FIELDS = (
    Field("url", "URL", secret=True),
    Field("secret", "Signing secret", secret=True),
    Field("channel", "Channel", required=False),
)


def test_a_field_shows_only_the_keys_it_sets() -> None:
    assert Field("title", "Title").as_dict() == {"name": "title", "label": "Title", "type": "text", "required": True}
    kind = Field("kind", "Kind", "select", default="bug", required=False, readonly=True,
                 choices=(("bug", "Bug"), ("task", "Task")))
    assert kind.as_dict() == {
        "name": "kind", "label": "Kind", "type": "select", "required": False, "default": "bug", "readonly": True,
        "choices": [["bug", "Bug"], ["task", "Task"]],
    }


def test_form_errors_name_every_empty_required_field_in_the_references_wording() -> None:
    fields = [
        Field("title", "Title"),
        Field("description", "Description", "textarea"),
        Field("culprit", "Culprit", readonly=True),
        Field("assignee", "Assignee", required=False),
    ]
    assert form_errors(fields, {"title": "  ", "assignee": ""}) == {
        "title": "Title is a required field.",
        "description": "Description is a required field.",
    }
    assert form_errors(fields, {"title": "t", "description": "d"}) == {}


def test_secrets_are_masked_in_answers_and_unset_ones_are_shown_as_they_are() -> None:
    stored = {"url": "https://hooks.example/T0KEN", "secret": "", "channel": "#ops"}
    assert mask_secrets(FIELDS, stored) == {"url": SECRET_MASK, "secret": "", "channel": "#ops"}
    assert SECRET_MASK == "********"


def test_a_masked_secret_in_a_put_keeps_the_stored_one() -> None:
    stored = {"url": "https://hooks.example/T0KEN", "secret": "old-secret", "channel": "#ops"}
    submitted = {"url": SECRET_MASK, "secret": "new-secret", "channel": "#dev", "unknown": "dropped"}
    assert merge_config(FIELDS, stored, submitted) == {
        "url": "https://hooks.example/T0KEN", "secret": "new-secret", "channel": "#dev",
    }


def test_a_masked_secret_with_nothing_stored_is_left_out_and_an_omitted_field_is_unset() -> None:
    merged = merge_config(FIELDS, {}, {"url": SECRET_MASK, "secret": "s"})
    assert merged == {"secret": "s"}


def test_a_mask_for_a_field_that_is_not_secret_is_stored_as_given() -> None:
    assert merge_config(FIELDS, {"channel": "#ops"}, {"channel": SECRET_MASK}) == {"channel": SECRET_MASK}


def test_the_default_description_is_markdown_with_url_culprit_evidence_and_tags() -> None:
    issue = TrackedIssue(
        group_id=1, project_id=1, title="t", url="https://issues.example/issues/1/", culprit="GET /orders",
        evidence=({"name": "Query", "value": "SELECT a | b\nFROM t", "important": True},),
    )
    event = TrackedEvent(event_id="e" * 32, tags=(("environment", "prod"), ("release", "1.2.3")))
    assert issue_description(issue, event) == (
        "https://issues.example/issues/1/\n"
        "\n"
        "```\nGET /orders\n```\n"
        "\n"
        "| Evidence | Value |\n|---|---|\n| Query | SELECT a \\| b FROM t |\n"
        "\n"
        "| Tag | Value |\n|---|---|\n| environment | prod |\n| release | 1.2.3 |"
    )


def test_an_issue_without_culprit_evidence_or_tags_describes_itself_by_its_url() -> None:
    issue = TrackedIssue(group_id=1, project_id=1, title="t", url="https://issues.example/issues/1/")
    assert issue_description(issue, TrackedEvent(event_id="e" * 32)) == "https://issues.example/issues/1/"


def test_the_marker_is_a_line_of_its_own() -> None:
    marker = "5c8e2f4a-7f0e-5b8e-9d59-1f2a3b4c5d6e"
    body = with_marker("description", marker)
    assert body == f"description\n\nissue-platform-marker: {marker}"
    assert has_marker(body, marker)
    assert has_marker(marker_line(marker), marker)
    assert not has_marker(f"quoting issue-platform-marker: {marker} here", marker)
    assert not has_marker(with_marker("d", marker + "0"), marker)
    assert not has_marker(None, marker)


async def test_the_contracts_defaults() -> None:
    tracker = AcmeTracker()
    assert await tracker.issue_label(ExternalIssue("42")) == "#42"
    assert await tracker.issue_url({}, ExternalIssue("42", url="https://t.example/42")) == "https://t.example/42"
    assert await tracker.is_configured({"token": "t"})
    assert not await tracker.is_configured({"token": " "})
    [title, description] = await tracker.new_issue_fields(ISSUE, EVENT)
    assert (title.as_dict(), description.default) == (
        {"name": "title", "label": "Title", "type": "text", "required": True, "default": "N+1 Query"},
        issue_description(ISSUE, EVENT),
    )
    [issue_id] = await tracker.link_issue_fields(ISSUE, EVENT)
    assert issue_id.as_dict() == {"name": "issue_id", "label": "Issue", "type": "text", "required": True}
    assert ExternalIssue("42").as_dict() == {"id": "42"}
    assert ExternalIssue("42", "t", "u").as_dict() == {"id": "42", "title": "t", "url": "u"}
    await tracker.http.close()


async def test_builtin_config_secrets_are_the_credentials_and_the_webhooks_url() -> None:
    secret = {tracker.slug: [f.name for f in tracker.config_fields if f.secret] for tracker in (WebhookTracker, JiraTracker)}
    assert secret == {"webhook": ["url", "secret"], "jira": ["api_token"]}
    assert not await JiraTracker().is_configured({"username": "u", "api_token": "t", "project_key": "OPS"})
