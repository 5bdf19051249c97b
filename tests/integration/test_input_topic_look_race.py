"""A look at the input topic that waits for another worker's look never mistakes marks raised meanwhile for a
topic gone backwards (spec §2.4.10): the end offsets are read under the lock (streams/input_topic.py)."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from storage.input_topics import lock_input_topic, raise_marks
from streams.app import settings
from streams.input_topic import end_offsets, look
from tests.integration.harness import produce, temporary_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    async with temporary_topic(f"look-race-{uuid.uuid4().hex[:8]}.ingest-occurrences", partitions=1) as name:
        yield name


async def test_marks_raised_while_a_look_waits_for_the_lock_are_not_a_topic_gone_backwards(
        topic: str, database: str) -> None:
    await produce(topic, [(None, b"x")] * 5)
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as other, \
            await psycopg.AsyncConnection.connect(database, autocommit=True) as mine:
        # Another worker's look holds the topic's record (PostgreSQL slow, say) ...
        async with other.transaction():
            await lock_input_topic(other, settings.deployment_id, topic)
            waiting = asyncio.ensure_future(look(mine, topic))
            await asyncio.sleep(1.0)
            assert not waiting.done()  # ... so this look waits for it
            # ... while the topic grows and the other look raises the marks to what it reads now.
            await produce(topic, [(None, b"y")] * 5)
            grown = await end_offsets(topic)
            assert grown == {0: 10}
            await raise_marks(other, settings.deployment_id, topic, grown)
        found = await asyncio.wait_for(waiting, 30)
    assert found.backwards == []
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        marks = await (await conn.execute("SELECT partition, end_offset FROM input_topic_marks WHERE topic = %s",
                                          (topic,))).fetchall()
    assert marks == [(0, 10)]
