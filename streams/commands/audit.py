"""CLI `issue-platform audit`: the ledger per input partition (spec §2.4.13); exit 1 when anything is unaccounted."""
from __future__ import annotations

import click
import orjson
import psycopg

from streams.app import settings
from streams.commands.running import json_output, run_in_app
from streams.ledger import AuditReport, audit_report

EXIT_UNACCOUNTED = 1
LISTED = 20  # offsets printed per partition; --json lists up to storage.ledger_plan.LISTED_OFFSETS


def report_lines(report: AuditReport) -> list[str]:
    totals = report.to_json()
    settled = f"judged by the mark of {totals['settled_at']}" if report.settled_at else \
        "no settled mark yet: every offset without an outcome counts as in flight"
    lines = [
        f"{'ok' if report.ok else 'NOT OK'}: {totals['unaccounted']} unaccounted, {totals['lost']} lost, "
        f"{totals['double_outcomes']} double outcomes, {totals['parked']} parked, {totals['in_flight']} in flight, "
        f"{totals['expired']} expired ({settled})",
        "",
        "partition  ledger start  committed  accounted  in flight  unaccounted  double  parked  lost",
    ]
    for p in report.partitions:
        lines.append(f"{p.topic}:{p.partition:<4} {p.start:>12} {p.committed if p.committed is not None else '-':>10}"
                     f" {p.accounted_count:>10} {p.in_flight:>10} {p.unaccounted_count:>12}"
                     f" {len(p.double_outcomes):>7} {len(p.parked):>7} {len(p.lost):>5}")
        if p.unaccounted:
            listed = ", ".join(map(str, p.unaccounted[:LISTED]))
            rest = p.unaccounted_count - min(len(p.unaccounted), LISTED)
            lines.append(f"    unaccounted offsets: {listed}" + (f" (and {rest} more)" if rest else ""))
        for first, last in p.double_outcomes:
            lines.append(f"    two outcomes: offsets {first}-{last}")
        if p.parked:
            lines.append(f"    parked: {', '.join(map(str, p.parked[:LISTED]))} (issue-platform parked list)")
    return lines


@click.command(name="audit")
@click.option("--json", "as_json", is_flag=True, help="print the report as GET /api/0/audit/ answers it")
@click.pass_context
def audit(ctx: click.Context, as_json: bool) -> None:
    """The ledger per input partition (spec §2.4.13): committed offset, offsets with an outcome, in flight,
    unaccounted, with two outcomes, parked. Exit status 1 when any offset is unaccounted, lost, parked or has
    two outcomes."""
    run_in_app(ctx, print_audit, as_json=as_json or json_output(ctx))


async def print_audit(as_json: bool) -> None:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        report = await audit_report(conn)
    if as_json:
        print(orjson.dumps(report.to_json()).decode())
    else:
        print("\n".join(report_lines(report)))
    if not report.ok:
        raise SystemExit(EXIT_UNACCOUNTED)
