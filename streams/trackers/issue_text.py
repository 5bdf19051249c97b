"""The text a ticket is opened with: the default description (spec §24.1) and the claim marker (§24.5)."""

from __future__ import annotations

from collections.abc import Iterable

from streams.trackers.issue import TrackedEvent, TrackedIssue

MARKER_PREFIX = "issue-platform-marker:"  # spec §24.5: the claim id as a line of the ticket body


def issue_description(issue: TrackedIssue, event: TrackedEvent) -> str:
    """Markdown: the issue's URL, its culprit, the evidence table and the latest event's tags (§24.1)."""
    parts = [issue.url]
    if issue.culprit:
        parts.append(f"```\n{issue.culprit}\n```")
    evidence = [(str(entry.get("name", "")), str(entry.get("value", ""))) for entry in issue.evidence]
    if evidence:
        parts.append(_table(("Evidence", "Value"), evidence))
    if event.tags:
        parts.append(_table(("Tag", "Value"), event.tags))
    return "\n\n".join(parts)


def _table(header: tuple[str, str], rows: Iterable[tuple[str, str]]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines.extend(f"| {_cell(name)} | {_cell(value)} |" for name, value in rows)
    return "\n".join(lines)


def _cell(text: str) -> str:
    # A pipe or a line break inside a value would end the cell or the table early.
    return " ".join(text.replace("|", "\\|").split())


def marker_line(marker: str) -> str:
    return f"{MARKER_PREFIX} {marker}"


def with_marker(description: str, marker: str) -> str:
    """`description` with the marker line appended, for an automatic ticket's body (§24.5)."""
    return f"{description}\n\n{marker_line(marker)}" if description else marker_line(marker)


def has_marker(body: str | None, marker: str) -> bool:
    """Whether a ticket body carries this marker on a line of its own (a search may match loosely)."""
    if not body:
        return False
    line = marker_line(marker)
    return any(candidate.strip() == line for candidate in body.splitlines())
