"""`issue-platform parked list|retry` (spec §2.4.12): what the listing says and which keys a retry takes."""
from __future__ import annotations

from dataclasses import replace

from click.testing import CliRunner

from storage.parked import ParkedKey
from streams.commands.parked import listing_lines, parked_group
from streams.web.parked_retry import retry_order
from tests.unit.web.test_api_parked import AT, ROW

TOPIC = "issue-platform-group-changes"


def test_the_listing_counts_what_is_parked_and_says_why_each_row_is() -> None:
    behind = replace(ROW, id=13, offset=41, behind=40, sqlstate=None, attempts=0,
                     error="waits behind the parked change at offset 40")
    resolved = replace(ROW, id=9, offset=12, resolved_at=AT)
    assert listing_lines(2, [resolved, ROW, behind]) == [
        "2 changes parked",
        "",
        "in the order they were parked, 3 shown:",
        f"9  {TOPIC}:3:12  key={ROW.group_key}  sqlstate=23505  attempts=2  last=2026-11-25T12:34:56.000000Z"
        "  resolved 2026-11-25T12:34:56.000000Z",
        "    UniqueViolation: duplicate key value",
        f"12  {TOPIC}:3:40  key={ROW.group_key}  sqlstate=23505  attempts=2  last=2026-11-25T12:34:56.000000Z  parked",
        "    UniqueViolation: duplicate key value",
        f"13  {TOPIC}:3:41  key={ROW.group_key}  behind offset 40  attempts=0  last=2026-11-25T12:34:56.000000Z"
        "  parked",
        "    waits behind the parked change at offset 40",
    ]
    assert listing_lines(1, []) == ["1 change parked", "", "no entries"]


def test_a_retry_by_id_takes_each_named_rows_key_once_in_the_order_named() -> None:
    a, b = ParkedKey(TOPIC, 3, "1:" + "a" * 32), ParkedKey(TOPIC, 0, "1:" + "b" * 32)
    assert retry_order([13, 7, 12], {12: a, 13: a, 7: b}) == [a, b]


def test_retry_needs_ids_or_all_and_not_both() -> None:
    runner = CliRunner()
    for args in (["retry"], ["retry", "--id", "3", "--all"]):
        result = runner.invoke(parked_group, args)
        assert result.exit_code == 2, result.output
        assert "give --id ID (repeatable) or --all" in result.output
