"""Which mark the audit judges by, and how `issue-platform audit` prints its report (spec §2.4.13)."""
from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import TopicPartition

from storage.ledger import Mark
from storage.ledger_plan import audit_partition
from streams.commands.audit import report_lines
from streams.ledger import AuditReport, settled_mark

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def mark(minute: int, ends: dict[str, int], passed: dict[str, int] | None = None) -> Mark:
    return Mark(T0.replace(minute=minute), {"in:0": 10 * minute}, ends, passed or {})


def test_a_mark_is_settled_through_a_chain_of_later_marks_each_past_the_one_before() -> None:  # §2.4.13
    # Minute 1's ends are passed by minute 2's consumers, minute 2's by minute 3's, minute 3's by minute 4's,
    # and minute 4's ends are passed now: minute 1 is settled through 4 hops (decision, quota, answer, sink).
    marks = [mark(1, {"g:0": 10, "c:0": 5}, {"g:0": 0, "c:0": 0}),
             mark(2, {"g:0": 20, "c:0": 15}, {"g:0": 10, "c:0": 5}),
             mark(3, {"g:0": 30, "c:0": 25}, {"g:0": 20, "c:0": 15}),
             mark(4, {"g:0": 40, "c:0": 35}, {"g:0": 30, "c:0": 25}),
             mark(5, {"g:0": 50, "c:0": 45}, {"g:0": 40, "c:0": 30})]
    now = {TopicPartition("g", 0): 40, TopicPartition("c", 0): 35}
    late = T0.replace(minute=59)
    assert settled_mark(marks, now, before=late) == marks[0]
    # Minute 2 would need minute 5's ends passed at the end of its chain: the sink is at 35, not 45.
    assert settled_mark(marks, now, before=late, hops=4) == marks[0]
    # With the first hop only (what a single mark said), a later mark looked settled, wrongly for held changes.
    assert settled_mark(marks, now, before=late, hops=1) == marks[3]
    # Nothing settled yet: the chain of the only candidates breaks, or they are too young.
    assert settled_mark(marks, {}, before=late) is None
    assert settled_mark(marks, now, before=T0.replace(minute=0)) is None


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
