"""Which mark the audit judges by, and how `issue-platform audit` prints its report (spec §2.4.13)."""
from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import TopicPartition

from storage.ledger import Mark
from storage.ledger_plan import audit_partition
from streams.commands.audit import report_lines
from streams.ledger import AuditReport, settled_mark

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def mark(minute: int, ends: dict[str, int]) -> Mark:
    return Mark(T0.replace(minute=minute), {"in:0": 10 * minute}, ends)


def test_the_newest_mark_whose_downstream_ends_every_consumer_passed_is_the_one() -> None:
    marks = [mark(3, {"g:0": 90, "c:0": 50}), mark(2, {"g:0": 60, "c:0": 40}), mark(1, {"g:0": 30, "c:0": 0})]
    committed = {TopicPartition("g", 0): 70, TopicPartition("c", 0): 45}
    assert settled_mark(marks, committed) == marks[1]  # the sink has not passed 50 yet; the grouping not 90
    assert settled_mark(marks, {TopicPartition("g", 0): 30, TopicPartition("c", 0): None}) == marks[2]
    assert settled_mark(marks, {}) is None  # nobody committed anything: nothing is settled


def test_the_report_says_ok_or_names_what_is_wrong() -> None:
    good = audit_partition(topic="in", partition=0, covered=[(0, 9)], doubles=[], start=0, committed=10,
                           log_start=0, settled=10)
    bad = audit_partition(topic="in", partition=1, covered=[(0, 3), (5, 9)], doubles=[(7, 7)], start=0,
                          committed=12, log_start=0, settled=12)
    lines = report_lines(AuditReport([good, bad], T0))
    assert lines[0].startswith("NOT OK: 3 unaccounted, 0 lost, 1 double outcomes")
    assert any("unaccounted offsets: 4, 10, 11" in line for line in lines)
    assert any("two outcomes: offsets 7-7" in line for line in lines)
    assert report_lines(AuditReport([good], T0))[0].startswith("ok: 0 unaccounted")
    assert AuditReport([good, bad], None).to_json()["unaccounted"] == 3
