"""The ceiling for any Python consumer on this machine: a raw aiokafka consume -> produce pass-through.

Fills a topic of 12 partitions (the deployment's count) with the firehose's own messages, then forwards
them with one consumer and one producer in this process, the way an at-least-once agent must: per fetched
batch, send every record to the same partition of a second topic, await every acknowledgement (acks=all),
then commit the batch's offsets. It does nothing else with a message, so its rate is what a Python
consumer here can do at best. Reports messages/s and this process's CPU time per message, both measured
from the first fetched batch to the last commit (the filling and the consumer's start are not in them).
Its topics are its own and are deleted at the end.

    .venv/bin/python -m bench.passthrough --messages 100000
"""
from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from itertools import cycle, islice

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.firehose import FirehoseConfig, generate
from bench.topics import create_topics, delete_topics_containing
from streams.settings import MAX_RECORD_BYTES
from tests.integration.harness import BROKER

PARTITIONS = 12  # streams/settings.py Settings.partitions, the deployment default
SEND_CHUNK = 10_000  # futures awaited together while filling: bounded memory, no per-message wait


@dataclass(frozen=True)
class PassthroughResult:
    messages: int
    partitions: int
    seconds: float
    messages_per_second: float
    cpu_seconds: float
    cpu_us_per_message: float
    mean_message_bytes: float
    producer: str


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def fill(topic: str, records: list[tuple[bytes, bytes]], count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, acks="all", linger_ms=10,
                                max_request_size=MAX_RECORD_BYTES)
    await producer.start()
    try:
        pending = []
        for key, value in islice(cycle(records), count):
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= SEND_CHUNK:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def forward(source: str, target: str, count: int, group_id: str, *, timeout: float) -> tuple[float, float]:
    """Forwards `count` records; returns (seconds, CPU seconds) from the first fetched batch to the last commit."""
    consumer = AIOKafkaConsumer(source, bootstrap_servers=BROKER, group_id=group_id, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=MAX_RECORD_BYTES)
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, acks="all", max_request_size=MAX_RECORD_BYTES)
    await consumer.start()
    await producer.start()
    try:
        forwarded = 0
        started: float | None = None
        cpu_started = 0.0
        deadline = time.monotonic() + timeout
        while forwarded < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"forwarded {forwarded} of {count} records in {timeout} s")
            batches = await consumer.getmany(timeout_ms=1000)
            if not batches:
                continue
            if started is None:
                started, cpu_started = time.monotonic(), process_cpu_seconds()
            sends = []
            for partition, records in batches.items():
                for record in records:
                    sends.append(await producer.send(target, record.value, key=record.key,
                                                     partition=partition.partition))
            await asyncio.gather(*sends)
            await consumer.commit()
            forwarded += len(sends)
        assert started is not None
        return time.monotonic() - started, process_cpu_seconds() - cpu_started
    finally:
        await producer.stop()
        await consumer.stop()


async def run(count: int, config: FirehoseConfig, *, timeout: float = 600) -> PassthroughResult:
    firehose = generate(config)
    records = [(message.key, message.value) for message in firehose.messages]
    name = f"bench-passthrough-{uuid.uuid4().hex[:10]}"
    source, target = f"{name}.in", f"{name}.out"
    await create_topics([source, target], PARTITIONS)
    try:
        await fill(source, records, count)
        seconds, cpu = await forward(source, target, count, f"{name}-group", timeout=timeout)
    finally:
        await delete_topics_containing(name)
    sizes = [len(value) for _, value in islice(cycle(records), count)]
    return PassthroughResult(
        messages=count, partitions=PARTITIONS, seconds=round(seconds, 3),
        messages_per_second=round(count / seconds, 1), cpu_seconds=round(cpu, 3),
        cpu_us_per_message=round(cpu / count * 1e6, 2), mean_message_bytes=round(sum(sizes) / count, 1),
        producer="aiokafka acks=all, one send per record, one gather and one commit per fetched batch",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="records to forward")
    parser.add_argument("--occurrences", type=int, default=FirehoseConfig.occurrences,
                        help="size of the firehose whose messages are cycled through (bench/firehose.py)")
    parser.add_argument("--seed", type=int, default=FirehoseConfig.seed)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a sentence")
    arguments = parser.parse_args(argv)
    result = asyncio.run(run(arguments.messages,
                             FirehoseConfig(occurrences=arguments.occurrences, seed=arguments.seed)))
    if arguments.json:
        sys.stdout.write(orjson.dumps(asdict(result)).decode() + "\n")
    else:
        print(f"pass-through: {result.messages} messages over {result.partitions} partitions in "
              f"{result.seconds} s: {result.messages_per_second:,.0f} msg/s, "
              f"{result.cpu_us_per_message} us CPU per message ({result.mean_message_bytes:.0f} bytes each)")


if __name__ == "__main__":
    main()
