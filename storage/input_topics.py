"""The input topics' highest end offsets seen and accepted incarnations (tables `input_topics`,
`input_topic_marks`), which tell a recreated input topic from the one the tables were fed by (spec §2.4.10)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from psycopg import AsyncConnection


@dataclass(frozen=True)
class RecordedInputTopic:
    """What PostgreSQL holds of one input topic of one deployment."""

    incarnation: int
    marks: dict[int, int]  # partition → the highest end offset seen there; empty: never recorded


async def lock_input_topic(conn: AsyncConnection, deployment_id: str, topic: str) -> RecordedInputTopic:
    """Inside a transaction: the topic's record, locked until the transaction ends (a first look creates it),
    so a worker's check and `migrate --accept-new-input-topic` never interleave."""
    await conn.execute(
        "INSERT INTO input_topics (deployment_id, topic) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (deployment_id, topic))
    row = await (await conn.execute(
        "SELECT incarnation FROM input_topics WHERE deployment_id = %s AND topic = %s FOR UPDATE",
        (deployment_id, topic))).fetchone()
    assert row is not None  # inserted above, and never deleted
    marks = await (await conn.execute(
        "SELECT partition, end_offset FROM input_topic_marks WHERE deployment_id = %s AND topic = %s",
        (deployment_id, topic))).fetchall()
    return RecordedInputTopic(incarnation=row[0], marks={partition: offset for partition, offset in marks})


async def raise_marks(conn: AsyncConnection, deployment_id: str, topic: str, ends: Mapping[int, int]) -> None:
    """Each partition's mark becomes the higher of it and the end offset seen now."""
    if not ends:
        return
    await conn.execute(
        """INSERT INTO input_topic_marks (deployment_id, topic, partition, end_offset)
           SELECT %s, %s, partition, end_offset FROM unnest(%s::int[], %s::bigint[]) AS seen (partition, end_offset)
           ON CONFLICT (deployment_id, topic, partition) DO UPDATE
           SET end_offset = excluded.end_offset, updated_at = now()
           WHERE input_topic_marks.end_offset < excluded.end_offset""",
        (deployment_id, topic, list(ends), list(ends.values())))


async def accept_new_incarnation(conn: AsyncConnection, deployment_id: str, topic: str,
                                 ends: Mapping[int, int]) -> int:
    """Inside the transaction that locked the topic: count one more incarnation and start its marks at `ends`.
    Returns the new incarnation."""
    row = await (await conn.execute(
        """UPDATE input_topics SET incarnation = incarnation + 1, accepted_at = now()
           WHERE deployment_id = %s AND topic = %s RETURNING incarnation""",
        (deployment_id, topic))).fetchone()
    assert row is not None  # locked by the caller
    await conn.execute("DELETE FROM input_topic_marks WHERE deployment_id = %s AND topic = %s",
                       (deployment_id, topic))
    await raise_marks(conn, deployment_id, topic, ends)
    return int(row[0])


async def current_incarnation(conn: AsyncConnection, deployment_id: str, topic: str) -> int:
    """The incarnation the topic's inputs are recorded under now (0 before any was accepted); reads only."""
    row = await (await conn.execute(
        "SELECT incarnation FROM input_topics WHERE deployment_id = %s AND topic = %s", (deployment_id, topic),
    )).fetchone()
    return int(row[0]) if row else 0
