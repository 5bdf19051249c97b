"""CLI command `validate FILE|-`: check a payload as ingest would (spec §3.2 rows 1-7), without Kafka or Postgres."""
from __future__ import annotations

import sys
from typing import BinaryIO

import click
import orjson

from streams.commands.running import run_in_app
from streams.core.payload import Occurrence, parse_payload
from streams.core.rejection import Rejection
from streams.services import registry

EXIT_INVALID = 1


def problem_lines(rejection: Rejection) -> list[str]:
    """One `reason<TAB>field<TAB>message` line per problem; invalid_field lists each field on its own line."""
    if rejection.problems:
        return [f"{rejection.reason}\t{path}\t{message}" for path, message in rejection.problems]
    return [f"{rejection.reason}\t{rejection.field or '-'}\t{rejection.message}"]


# click.File reads `-` as stdin and reports an unreadable file as a usage error before the command runs.
@click.command(name="validate")
@click.argument("source", metavar="FILE|-", type=click.File("rb"))
@click.pass_context
def validate(ctx: click.Context, source: BinaryIO) -> None:
    """Check one payload as ingest would: print ok and the normalised payload, or every problem and exit 1."""
    run_in_app(ctx, check_payload, source=source)


async def check_payload(source: BinaryIO) -> None:
    raw = source.read()
    payload = parse_payload(raw, is_registered_type=registry.is_registered)
    if isinstance(payload, Rejection):
        print("\n".join(problem_lines(payload)))
        sys.stdout.flush()
        raise SystemExit(EXIT_INVALID)
    print("ok")
    print(orjson.dumps(payload.to_json_dict(), option=orjson.OPT_INDENT_2).decode())
    if isinstance(payload, Occurrence) and payload.event is None:
        # spec §3.2 row 9 needs the database, which this command never touches
        print(f"note: event {payload.event_id} is referenced by id only; it must already be stored for project "
              f"{payload.project_id}, else ingest dead-letters it as event_not_found (spec §5.5)", file=sys.stderr)
