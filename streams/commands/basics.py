"""CLI commands `migrate` and `send-example` (spec §22)."""
from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import click
import orjson
import psycopg
from aiokafka.errors import KafkaError

from storage.migrate import SchemaUnavailable, migrate_schema
from streams import input_topic, topic_admin
from streams.app import app, settings
from streams.commands.running import run_in_app
from streams.core.input_topic import ACCEPT_OPTION, describe_backwards, recorded_topic
from streams.core.timestamps import format_datetime
from streams.topics import ingest_topic

EXIT_UNAVAILABLE = 1
# A topic whose partition count differs from the declared one, or an input topic that went backwards: only a
# person can decide what to do.
EXIT_TOPIC_CONFLICT = 2
EXAMPLE_FILE = Path(__file__).parent.parent / "examples" / "file-io-main-thread.json"


@click.command(name="migrate")
@click.option(ACCEPT_OPTION, "accept_new_input_topic", is_flag=True,
              help="the input topic was deleted and created again on purpose: read the new one as new inputs "
                   "(stop every worker first)")
@click.pass_context
def migrate(ctx: click.Context, accept_new_input_topic: bool) -> None:
    """Apply the Postgres schema migrations, declare the topics with their configuration, and record the input
    topic's end offsets (idempotent)."""
    run_in_app(ctx, apply_migrations, accept_new_input_topic=accept_new_input_topic)


async def apply_migrations(accept_new_input_topic: bool = False) -> None:
    await apply_schema()
    await declare_topics()
    await record_input_topic(accept=accept_new_input_topic)


async def apply_schema() -> None:
    try:
        applied = migrate_schema(settings.database_url)
    except SchemaUnavailable as error:
        print(f"issue-platform migrate: {error}", file=sys.stderr)
        raise SystemExit(EXIT_UNAVAILABLE) from None
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "schema is up to date")


async def declare_topics() -> None:
    """Every topic of spec §2.1 and every changelog: created, or its configuration updated (one line per topic)."""
    servers = settings.bootstrap_servers
    try:
        admin = await topic_admin.connect(servers)
    except KafkaError:
        print(f"issue-platform migrate: no Kafka broker answers at {', '.join(servers)} (ISSUE_PLATFORM_BROKER_URL)",
              file=sys.stderr)
        raise SystemExit(EXIT_UNAVAILABLE) from None
    try:
        outcome = await topic_admin.migrate_topics(admin, topic_admin.deployment_topics())
    except KafkaError as error:
        print(f"issue-platform migrate: {error}", file=sys.stderr)
        raise SystemExit(EXIT_UNAVAILABLE) from None
    finally:
        await admin.close()
    for line in outcome.lines:
        print(line)
    for error in outcome.errors:
        print(f"issue-platform migrate: {error}", file=sys.stderr)
    if outcome.errors:
        raise SystemExit(EXIT_TOPIC_CONFLICT)


async def record_input_topic(*, accept: bool) -> None:
    """Record the input topic's end offsets; refuse, as a worker's start would, if they went backwards, unless
    the operator accepts the recreated topic as new (spec §2.4.10)."""
    try:
        found = await input_topic.look_now(accept=accept)
    except (KafkaError, psycopg.Error) as error:
        print(f"issue-platform migrate: cannot record the end offsets of input topic {input_topic.input_topic_name()}: "
              f"{input_topic.one_line(error)}", file=sys.stderr)
        raise SystemExit(EXIT_UNAVAILABLE) from None
    if found.accepted:
        print(f"input topic {found.topic}: accepted as a new topic ({describe_backwards(found.backwards)}); its "
              f"inputs are recorded as {recorded_topic(found.topic, found.incarnation)} from the next worker start")
        return
    if found.backwards:
        print(f"issue-platform migrate: {found.refusal()}", file=sys.stderr)
        raise SystemExit(EXIT_TOPIC_CONFLICT)
    if accept:
        print(f"issue-platform migrate: {ACCEPT_OPTION}: the offsets of input topic {found.topic} did not go "
              "backwards, so there was nothing to accept", file=sys.stderr)
        raise SystemExit(EXIT_TOPIC_CONFLICT)
    print(f"input topic {found.topic}: end offsets recorded")


@click.command(name="send-example")
@click.option("--project", type=int, default=1, show_default=True, help="project_id of the occurrence")
@click.option("--fingerprint", default="file-io-main-thread:app.io.read_config", show_default=True,
              help="fingerprint[0]: occurrences with the same one form one issue")
@click.option("--count", type=int, default=1, show_default=True, help="how many occurrences to send")
@click.pass_context
def send_example(ctx: click.Context, project: int, fingerprint: str, count: int) -> None:
    """Produce a realistic occurrence of type 2001 "File I/O on Main Thread" to ingest-occurrences."""
    run_in_app(ctx, produce_examples, project=project, fingerprint=fingerprint, count=count)


async def produce_examples(project: int, fingerprint: str, count: int) -> None:
    template = orjson.loads(EXAMPLE_FILE.read_bytes())
    producer = app.producer
    await producer.start()
    try:
        # The first step of the README may come before `migrate` or any worker: the broker creates no topic.
        await ingest_topic.maybe_declare()
        for _ in range(count):
            payload = example_payload(template, project=project, fingerprint=fingerprint)
            await ingest_topic.send(key=fingerprint.encode(), value=orjson.dumps(payload))
            print(f"sent occurrence {payload['id']} (project {project}, fingerprint {fingerprint!r})")
        await producer.flush()
    finally:
        await producer.stop()


def example_payload(template: dict, *, project: int, fingerprint: str) -> dict:
    now = format_datetime(datetime.now(UTC))
    payload = dict(template)
    payload.update(id=uuid.uuid4().hex, project_id=project, fingerprint=[fingerprint], detection_time=now)
    payload["event"] = {**template["event"], "event_id": uuid.uuid4().hex, "project_id": project, "timestamp": now,
                        "received": now}
    return payload
