"""The guard against a recreated input topic (spec §2.4.10): its end offsets against the marks in PostgreSQL.

Looked at by `issue-platform migrate`, by a starting worker before Faust runs (a refusal is one line, exit
status 2), and by every running worker on a timer (streams.timers.input_topic). Each look compares the end
offsets of `ingest-occurrences` with the highest ones seen before (streams.core.input_topic) and, if none
went backwards, raises the marks. The comparison needs no consumer group offsets, which the broker forgets
with a deleted topic, and no topic id, which aiokafka 0.14 cannot read (its Metadata requests stop at
version 5; the topic id came with version 10).

The worker records its inputs under the name of the incarnation it started with (`recorded_name`): the
topic itself until an operator accepts a recreated one (`migrate --accept-new-input-topic`).
"""
from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError

from storage.input_topics import accept_new_incarnation, lock_input_topic, raise_marks
from streams.app import settings
from streams.core.input_topic import Backwards, backwards_line, parse_recorded_topic, recorded_topic, went_backwards
from streams.topic_admin import EXIT_REFUSED, connect
from streams.topics import ingest_topic

# topic → the incarnation this process records its inputs under; set once, by the start check.
_running: dict[str, int] = {}


def input_topic_name() -> str:
    return ingest_topic.get_topic_name()


def run_as(topic: str, incarnation: int) -> None:
    """From now on this process records the inputs of `topic` as its `incarnation`."""
    _running[topic] = incarnation


def running_incarnation(topic: str) -> int:
    return _running.get(topic, 0)


def recorded_name(topic: str) -> str:
    """The name an input read from `topic` is recorded under (its coordinates, watermarks and ids)."""
    incarnation = _running.get(topic, 0)
    return topic if incarnation == 0 else recorded_topic(topic, incarnation)


def is_retired(recorded: str) -> bool:
    """Whether `recorded` names an incarnation older than this process's: its records can never be read again."""
    topic, incarnation = parse_recorded_topic(recorded)
    return incarnation < running_incarnation(topic)


@dataclass(frozen=True)
class Look:
    """What one look found: the topic's incarnation, and the partitions that went backwards (none: marks raised)."""

    topic: str
    incarnation: int
    backwards: list[Backwards]
    accepted: bool = False  # `backwards` were accepted as a new incarnation

    def refusal(self) -> str:
        return backwards_line(self.topic, self.backwards)


async def end_offsets(topic: str) -> dict[int, int] | None:
    """partition → end offset (the offset its next record gets); None if the topic does not exist."""
    admin = await connect(settings.bootstrap_servers)
    try:
        # Listed first: a metadata request naming a missing topic creates it on a broker with auto-create on
        # (streams.topic_admin.describe), and a deleted topic must not come back with the broker's defaults.
        if topic not in await admin.list_topics():
            return None
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] == UnknownTopicOrPartitionError.errno:
        return None
    partitions = [TopicPartition(topic, part["partition"]) for part in described["partitions"]]
    if not partitions:
        return None
    # A consumer without a group: it commits nothing and joins no assignment.
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


class InputTopicMissing(Exception):
    """The input topic does not exist (a running worker's look waits for it; a start counts it as empty)."""


async def look(conn: psycopg.AsyncConnection, topic: str, *, accept: bool = False,
               missing_is_empty: bool = True) -> Look:
    """Compare the topic's end offsets with the recorded marks in one transaction; raise the marks if nothing
    went backwards, or, with `accept`, take what went backwards as the topic's next incarnation.

    The end offsets are read once the topic's record is locked, never before: every mark was raised under
    that lock from end offsets read before this read, and end offsets only grow, so only a recreated topic
    can look backwards. (Read before waiting for the lock, during a PostgreSQL outage say, they could be
    older than marks another worker raised meanwhile: three workers stopped themselves that way in `make
    chaos`.) Raises InputTopicMissing when the topic does not exist and not `missing_is_empty`.
    """
    async with conn.transaction():
        recorded = await lock_input_topic(conn, settings.deployment_id, topic)
        ends = await end_offsets(topic)
        if ends is None:
            if not missing_is_empty:
                raise InputTopicMissing(topic)
            ends = {}  # a topic with no offsets at all
        backwards = went_backwards(recorded.marks, ends)
        if backwards and accept:
            incarnation = await accept_new_incarnation(conn, settings.deployment_id, topic, ends)
            return Look(topic, incarnation, backwards, accepted=True)
        if not backwards:
            await raise_marks(conn, settings.deployment_id, topic, ends)
        return Look(topic, recorded.incarnation, backwards)


async def look_now(*, accept: bool = False) -> Look:
    """One look at the input topic with a connection of its own (`migrate`, a starting worker)."""
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        return await look(conn, input_topic_name(), accept=accept)


def check_input_topic_at_start() -> None:
    """Before Faust starts: refuse in one line, exit status 2, if the input topic went backwards; otherwise
    raise its marks and record this process's inputs under the incarnation PostgreSQL names."""
    # A private loop, never installed as the thread's current one: Faust's worker sets up its own loop next.
    loop = asyncio.new_event_loop()
    try:
        found = loop.run_until_complete(look_now())
    except (KafkaError, psycopg.Error) as error:
        print(f"issue-platform: refusing to start: cannot compare the offsets of input topic {input_topic_name()} "
              f"with those recorded in PostgreSQL: {one_line(error)}", file=sys.stderr)
        raise SystemExit(EXIT_REFUSED) from None
    finally:
        loop.close()
    if found.backwards:
        print(f"issue-platform: refusing to start: {found.refusal()}", file=sys.stderr)
        raise SystemExit(EXIT_REFUSED)
    run_as(found.topic, found.incarnation)
    if found.incarnation:
        print(f"issue-platform: input topic {found.topic} was accepted as new {found.incarnation} time(s): its "
              f"inputs are recorded as {recorded_name(found.topic)}", file=sys.stderr)


def one_line(error: BaseException) -> str:
    """The first line of an error's message, or its type when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
