"""CLI commands `migrate` and `send-example` (spec §22)."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
from faust.cli import option

from storage.migrate import migrate as apply_migrations
from streams.app import app, settings
from streams.core.timestamps import format_datetime
from streams.topics import ingest_topic

EXAMPLE_FILE = Path(__file__).parent.parent / "examples" / "file-io-main-thread.json"


@app.command()
async def migrate(self: object) -> None:
    """Apply the Postgres schema migrations (idempotent)."""
    applied = apply_migrations(settings.database_url)
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "schema is up to date")


@app.command(
    option("--project", type=int, default=1, show_default=True, help="project_id of the occurrence"),
    option("--fingerprint", default="file-io-main-thread:app.io.read_config", show_default=True,
           help="fingerprint[0]: occurrences with the same one form one issue"),
    option("--count", type=int, default=1, show_default=True, help="how many occurrences to send"),
)
async def send_example(self: object, project: int, fingerprint: str, count: int) -> None:
    """Produce a realistic occurrence of type 2001 "File I/O on Main Thread" to ingest-occurrences."""
    template = orjson.loads(EXAMPLE_FILE.read_bytes())
    producer = app.producer
    await producer.start()
    try:
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
