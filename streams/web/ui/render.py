"""Jinja2 templates of the web UI (spec §21) and the small pure helpers they use: labels, badges, times."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from streams.web.ui.charts import bar_chart_svg, day_label, hour_label, sparkline_svg

TEMPLATES = Path(__file__).with_name("templates")

# spec §8.1: IGNORED is "archived" in UIs.
STATUS_LABELS: dict[str, str] = {"unresolved": "Unresolved", "resolved": "Resolved", "ignored": "Archived"}
SUBSTATUS_LABELS: dict[str, str] = {  # spec §8.2
    "new": "New",
    "ongoing": "Ongoing",
    "escalating": "Escalating",
    "regressed": "Regressed",
    "archived_until_escalating": "Until escalating",
    "archived_until_condition_met": "Until condition met",
    "archived_forever": "Forever",
}
SORT_LABELS: dict[str, str] = {"date": "Last seen", "new": "First seen", "freq": "Events", "priority": "Priority"}
ACTIVITY_LABELS: dict[str, str] = {  # spec §8.6, as a sentence's verb phrase
    "SET_RESOLVED": "Resolved",
    "SET_UNRESOLVED": "Unresolved",
    "SET_IGNORED": "Archived",
    "SET_REGRESSION": "Regressed",
    "CREATE_ISSUE": "Linked an external issue",
    "FIRST_SEEN": "First seen",
    "ASSIGNED": "Assigned",
    "UNASSIGNED": "Unassigned",
    "SET_RESOLVED_IN_RELEASE": "Resolved in a release",
    "SET_RESOLVED_BY_AGE": "Resolved by age",
    "AUTO_SET_ONGOING": "Marked ongoing",
    "SET_ESCALATING": "Escalating",
    "SET_PRIORITY": "Priority changed",
}


def status_label(issue: Mapping[str, Any]) -> str:
    """"Archived · Until escalating": the status, then the substatus when there is one (spec §8.3)."""
    status = STATUS_LABELS.get(issue.get("status") or "", str(issue.get("status")))
    substatus = issue.get("substatus")
    return f"{status} · {SUBSTATUS_LABELS.get(substatus, substatus)}" if substatus else status


def snooze_label(details: Mapping[str, Any]) -> str | None:
    """The statusDetails of a snooze (spec §20.3) as a person reads them, or None without one."""
    if "ignoreCount" in details:
        return f"until {details['ignoreCount']} more occurrences"
    if "ignoreUntil" in details:
        return f"until {details['ignoreUntil']}"
    return None


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ago(value: str | None, now: datetime) -> str:
    """A §0.4 timestamp as "5 min ago"; the page shows the exact time beside it on hover."""
    when = parse_time(value)
    if when is None:
        return "–"
    seconds = int((now - when).total_seconds())
    if seconds < 0:
        return "in the future"
    for size, unit in ((86_400 * 365, "y"), (86_400 * 30, "mo"), (86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def exact_time(value: str | None) -> str:
    when = parse_time(value)
    return "–" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def activity_text(activity: Mapping[str, Any]) -> str:
    """One line per activity (spec §18.3 data): what happened, with the detail the data carries."""
    name = activity.get("typeName") or f"Activity {activity.get('type')}"
    label = ACTIVITY_LABELS.get(name, name.replace("_", " ").capitalize())
    data = activity.get("data") if isinstance(activity.get("data"), Mapping) else {}
    details = []
    if name == "SET_PRIORITY" and data.get("priority"):
        details.append(f"to {data['priority']}" + (f" ({data['reason']})" if data.get("reason") else ""))
    elif name == "SET_IGNORED":
        if isinstance(data.get("substatus"), str):
            details.append(SUBSTATUS_LABELS.get(data["substatus"], data["substatus"]).lower())
        snooze = data.get("snooze") if isinstance(data.get("snooze"), Mapping) else {}
        if snooze.get("count") is not None:
            details.append(f"for {snooze['count']} more occurrences")
        if snooze.get("until"):
            details.append(f"until {snooze['until']}")
    elif name in ("ASSIGNED", "UNASSIGNED") and data.get("assignee"):
        who = f"{data['assigneeType']}:{data['assignee']}" if data.get("assigneeType") else str(data["assignee"])
        details.append(f"{'to' if name == 'ASSIGNED' else 'from'} {who}")
    elif name == "FIRST_SEEN" and data.get("priority"):
        details.append(f"with priority {data['priority']}")
    return " ".join([label, *details])


def ordered_evidence(evidence: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Spec §21: the important entry first, the others in the detector's order."""
    important = [entry for entry in evidence if entry.get("important") is True][:1]
    return important + [entry for entry in evidence if not important or entry is not important[0]]


def pretty_json(value: Any) -> str:
    """JSON for a `<pre>`: indented, keys sorted, non-ASCII kept."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode("utf-8")


def query_url(path: str, params: Sequence[tuple[str, str]], **changes: str | None) -> str:
    """`path?params` with some parameters replaced (None drops one): the cursor links, the sort links."""
    kept = [(name, value) for name, value in params if name not in changes]
    kept += [(name, value) for name, value in changes.items() if value is not None]
    return f"{path}?{urlencode(kept)}" if kept else path


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt name in a template fails the render, not a blank on the page
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        status_label=status_label, snooze_label=snooze_label, ago=ago, exact_time=exact_time,
        activity_text=activity_text, ordered_evidence=ordered_evidence, sparkline_svg=sparkline_svg,
        bar_chart_svg=bar_chart_svg, hour_label=hour_label, day_label=day_label, query_url=query_url,
        pretty_json=pretty_json,
        SORT_LABELS=SORT_LABELS,
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
