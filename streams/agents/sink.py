"""Agent `sink`: persists batches of group changes to Postgres, then forwards post-process events (§2.4.3)."""
from __future__ import annotations

import logging

from faust import StreamT

from grouptypes import gate_passes
from storage.sink_writer import BatchResult, ChangeRecord, write_batch
from streams.app import app, settings
from streams.core.messages import decode, encode
from streams.core.postprocess import post_process_message
from streams.failfast import stop_worker
from streams.retry import retry_transient
from streams.runtime_options import current_options
from streams.services import postgres, registry
from streams.topics import group_changes_topic, post_process_topic

log = logging.getLogger(__name__)


@app.agent(group_changes_topic, name="sink", concurrency=1)
async def sink(stream: StreamT[bytes]) -> None:
    # noack_take: Faust would ack a batch even when the body raised; we ack only after the commit (design §4).
    async for events in stream.noack_take(settings.sink_batch_size, within=settings.sink_batch_seconds):
        try:
            changes = [ChangeRecord(e.message.partition, e.message.offset, decode(e.value)) for e in events]
            result = await retry_transient(lambda: _commit(changes), what="sink batch", log=log)
            await _forward(result)
        except Exception as error:
            stop_worker(f"sink batch of {len(events)} changes", error)
        for event in events:
            event.ack()


async def _commit(changes: list[ChangeRecord]) -> BatchResult:
    pool = await postgres.get()
    async with pool.connection() as conn:
        async with conn.transaction():
            return await write_batch(conn, group_changes_topic.get_topic_name(), changes)


async def _forward(result: BatchResult) -> None:
    """Post-process events for every occurrence of the batch, re-sent ones included (same id, §2.3.4)."""
    for change in sorted(result.applied + result.skipped, key=lambda c: (c.partition, c.offset)):
        body = change.body
        if body["kind"] != "occurrence":
            continue
        group = body["group"]
        group_type = registry.get_by_type_id(group["type_id"])
        if not gate_passes(group_type, "post_process", group["project_id"], current_options()):
            continue
        persisted = result.groups[change.group_identity]
        message = post_process_message(
            change=body,
            group_id=persisted.id,
            short_id=persisted.short_id,
            project_slug=persisted.project_slug,
            type_slug=group_type.slug,
            category=int(getattr(group_type.category, "value", group_type.category)),
        )
        await post_process_topic.send(
            key=group["group_key"].encode("utf-8"), value=encode(message), timestamp=body["t"]
        )
