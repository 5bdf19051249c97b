"""The UI's templates and helpers (spec §21), rendered from the API's own objects (§20.3, §20.10)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from grouptypes import load_group_types
from storage.queries import ActivityRow, GroupRow, OccurrenceRow
from streams.web.errors import ApiError
from streams.web.serialize import (
    activity_object,
    important_evidence,
    issue_object,
    occurrence_object,
    stats_series,
)
from streams.web.ui.actions import ARCHIVE_MODES, FIELD_PREFIX, PRIORITIES
from streams.web.ui.client import api_base
from streams.web.ui.pages import safe_next
from streams.web.ui.reads import Project, StreamData
from streams.web.ui.render import (
    activity_text,
    ago,
    ordered_evidence,
    query_url,
    render,
    status_label,
)

REGISTRY = load_group_types([])
NOW = datetime(2026, 11, 25, 12, 34, 56, tzinfo=UTC)


def group(**changes: object) -> GroupRow:
    values: dict[str, object] = {
        "id": 42, "project_id": 7, "project_slug": "checkout", "type": 1001, "status": 0, "substatus": 7,
        "priority": 75, "priority_locked_at": None, "short_id": 42, "assignee": None,
        "first_seen": NOW - timedelta(days=2), "last_seen": NOW - timedelta(minutes=5), "times_seen": 1234,
        "level": 40, "title": "N+1 Query <script>", "subtitle": "SELECT * FROM orders", "culprit": "/checkout",
        "resolved_at": None, "data": {},
    }
    values.update(changes)
    return GroupRow(**values)  # type: ignore[arg-type]


def page_context(**context: Any) -> dict[str, Any]:
    return {"csrf_field": "csrf", "csrf": "CSRF-TOKEN", "signed_in": False, "flash": None, "now": NOW,
            "here": "/x/", **context}


def stream(issues: list[dict[str, Any]], **changes: Any) -> str:
    data = StreamData(Project(7, "checkout"), [Project(7, "checkout"), Project(8, "web")], "is:unresolved", "date", "",
                      ["production", "staging"], issues=issues, hits=len(issues), next_cursor="NEXT")
    for name, value in changes.items():
        setattr(data, name, value)
    return render("stream.html", **page_context(data=data, projects=data.projects, project=data.project,
                                                params=[("query", "is:unresolved")]))


def row_issue(**changes: object) -> dict[str, Any]:
    hourly = [(NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1), 3)]
    return issue_object(group(**changes), REGISTRY, {"24h": stats_series("24h", hourly, NOW)})


def test_stream_row_shows_every_field_of_21() -> None:
    html = stream([row_issue()])
    for text in ("CHECKOUT-1A", "N+1 Query &lt;script&gt;", "/checkout", "error", "Unresolved · New", "high",
                 "1,234", "5 min ago", 'class="spark"', "3 in the last 24 hours", 'href="/issues/42/"'):
        assert text in html, text
    assert "<script>" not in html  # every value is escaped


def test_stream_keeps_the_search_and_links_the_next_page() -> None:
    html = stream([row_issue()])
    assert 'value="is:unresolved"' in html
    assert '<option value="date" selected>Last seen</option>' in html
    assert '<option value="staging">staging</option>' in html
    assert 'href="/projects/7/issues/?query=is%3Aunresolved&amp;cursor=NEXT"' in html
    assert "1 issue<" in html


def test_stream_shows_a_query_error_instead_of_rows() -> None:
    error = ApiError(400, "invalid_query", "unknown key foo:", {"token": "foo:bar", "position": 3})
    html = stream([], error=error)
    assert "invalid_query" in html and "unknown key foo:" in html and "at character 3" in html
    assert "<table" not in html


def test_stream_without_a_token_offers_sign_in_with_the_session_csrf_token() -> None:
    html = stream([])
    assert 'action="/ui/session/"' in html and 'name="token" type="password"' in html
    assert 'name="csrf" value="CSRF-TOKEN"' in html
    assert "No issues match" in html


def issue_details(**changes: object) -> dict[str, Any]:
    row = group(**changes)
    occurrence = OccurrenceRow(
        id="0f" * 16, project_id=7, group_id=42, event_id="ab" * 16, fingerprint=["fp-1"], issue_title=row.title,
        subtitle=row.subtitle, culprit=row.culprit, level=40, type=1001, detection_time=NOW, received=NOW,
        evidence_display=[{"name": "Offending spans", "value": "SELECT 1", "important": False},
                          {"name": "Repeated", "value": "25 times", "important": True}],
        evidence_data={"op": "db"}, resource_id=None, priority=None, assignee=None, outcome="applied",
    )
    issue = issue_object(row, REGISTRY, {"24h": stats_series("24h", [], NOW), "14d": stats_series("14d", [], NOW)})
    issue.update(evidence=occurrence.evidence_display, importantEvidence=important_evidence(occurrence.evidence_display),
                 latestOccurrence=occurrence_object(occurrence), environments=["production"],
                 activity=[activity_object(ActivityRow("a1", 26, {"priority": "high", "reason": "user"}, NOW, None))],
                 latestEvent={"environment": "production"})
    return issue


def issue_page(signed_in: bool, trackers: list[dict[str, object]] | None = None, **changes: object) -> str:
    return render("issue.html", **page_context(
        signed_in=signed_in, issue=issue_details(**changes), issue_ref="42", projects=[Project(7, "checkout")],
        project=Project(7, "checkout"), priorities=PRIORITIES, archive_modes=ARCHIVE_MODES, trackers=trackers or [],
        field_prefix=FIELD_PREFIX))


GITHUB = {"slug": "github", "title": "GitHub", "allowed_actions": ["create", "link", "unlink"], "issue": None,
          "create_fields": [{"name": "title", "label": "Title", "type": "text", "required": True, "default": "Boom"},
                            {"name": "description", "label": "Description", "type": "textarea", "required": True,
                             "default": "<b>body</b>"}],
          "link_fields": [{"name": "issue_id", "label": "Issue", "type": "text", "required": True}]}


def test_issue_page_lists_trackers_with_create_and_link_forms() -> None:  # spec §24.7
    html = issue_page(signed_in=True, trackers=[GITHUB])
    assert 'id="tracker-github"' in html and "No linked ticket." in html
    for value in ("tracker_create", "tracker_link"):
        assert f'name="action" value="{value}"' in html
    assert 'name="field_title" value="Boom"' in html and "&lt;b&gt;body&lt;/b&gt;</textarea>" in html
    assert 'name="field_issue_id" value=""' in html and "tracker_unlink" not in html
    assert html.count('name="csrf" value="CSRF-TOKEN"') == 11  # the 9 before, create and link


def test_issue_page_shows_the_linked_ticket_and_unlink() -> None:
    linked = {**GITHUB, "issue": {"issue_id": "acme/web#7", "url": "https://github.com/acme/web/issues/7",
                                  "label": "GH-7"}}
    html = issue_page(signed_in=False, trackers=[linked])
    assert '<a href="https://github.com/acme/web/issues/7" rel="noopener noreferrer" class="ticket">GH-7</a>' in html
    assert 'name="action" value="tracker_unlink"' in html and ' disabled>Unlink</button>' in html  # read-only
    assert "No issue tracker is configured" not in html
    assert "No issue tracker is configured" in issue_page(signed_in=True)


def test_issue_page_shows_evidence_important_first_latest_occurrence_activity_and_charts() -> None:
    html = issue_page(signed_in=True)
    assert html.index("Repeated") < html.index("Offending spans")
    assert 'class="important"' in html
    for text in ("fp-1", "ab" * 16, "Priority changed to high (user)", "Last 24 hours", "Last 14 days",
                 "Occurrences: 0 · peak 0", "production", "&#34;op&#34;: &#34;db&#34;"):
        assert text in html, text


def test_issue_page_buttons_post_to_the_action_handler_with_the_csrf_token() -> None:
    html = issue_page(signed_in=True)
    assert html.count('action="/issues/42/actions/"') == 8  # resolve, 4 archives, priority, assign, delete
    assert html.count('name="csrf" value="CSRF-TOKEN"') == 9  # and sign out
    for value in ("resolve", "archive", "priority", "assign", "delete"):
        assert f'name="action" value="{value}"' in html
    assert 'value="until_escalating"' in html and 'name="count"' in html and 'type="datetime-local"' in html
    assert ">Unresolve<" not in html  # already unresolved
    assert " disabled" not in html


def test_issue_page_is_read_only_without_a_token() -> None:
    html = issue_page(signed_in=False)
    assert "Read-only: enter the API token" in html
    buttons = html.count("<button")
    assert html.count("<button type=\"submit\" class=\"btn\">Sign in</button>") == 1
    assert html.count(" disabled>") + html.count(" disabled ") >= buttons - 1  # every action button


def test_a_resolved_issue_offers_unresolve_not_resolve() -> None:
    html = issue_page(signed_in=True, status=1, substatus=None, resolved_at=NOW)
    assert ">Unresolve<" in html and ">Resolve<" not in html
    assert "Resolved</span>" in html


def test_status_labels_call_ignored_archived() -> None:
    assert status_label({"status": "ignored", "substatus": "archived_until_escalating"}) == "Archived · Until escalating"
    assert status_label({"status": "resolved", "substatus": None}) == "Resolved"


def test_activity_lines() -> None:
    ignored = {"typeName": "SET_IGNORED", "data": {"substatus": "archived_until_condition_met", "snooze": {"count": 5}}}
    assert activity_text(ignored) == "Archived until condition met for 5 more occurrences"
    assert activity_text({"typeName": "ASSIGNED", "data": {"assignee": "3", "assigneeType": "team"}}) == (
        "Assigned to team:3")
    assert activity_text({"typeName": None, "type": 99, "data": {}}) == "Activity 99"


def test_ordered_evidence_puts_only_the_first_important_entry_first() -> None:
    a, b, c = {"name": "a"}, {"name": "b", "important": True}, {"name": "c", "important": True}
    assert ordered_evidence([a, b, c]) == [b, a, c]
    assert ordered_evidence([a]) == [a]


def test_ago() -> None:
    assert ago("2026-11-25T12:34:50Z", NOW) == "just now"
    assert ago("2026-11-25T10:00:00Z", NOW) == "2 h ago"
    assert ago("2026-11-20T10:00:00Z", NOW) == "5 d ago"
    assert ago(None, NOW) == "–"


def test_query_url_replaces_parameters() -> None:
    assert query_url("/p/", [("query", "a b"), ("cursor", "X")], cursor="Y") == "/p/?query=a+b&cursor=Y"
    assert query_url("/p/", [("cursor", "X")], cursor=None) == "/p/"


def test_safe_next_stays_on_this_site() -> None:
    assert safe_next("/issues/3/?a=b") == "/issues/3/?a=b"
    for unsafe in (None, "", "https://evil.example/", "//evil.example/", "/\\evil", "/a\r\nSet-Cookie: x"):
        assert safe_next(unsafe) == "/"


def test_api_base_is_the_socket_that_took_the_request() -> None:
    assert api_base(("127.0.0.1", 6066), 1) == "http://127.0.0.1:6066"
    assert api_base(("0.0.0.0", 6067), 1) == "http://127.0.0.1:6067"
    assert api_base(("::1", 6068, 0, 0), 1) == "http://[::1]:6068"
    assert api_base(None, 6069) == "http://127.0.0.1:6069"
