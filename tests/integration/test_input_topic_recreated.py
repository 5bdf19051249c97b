"""A recreated input topic refuses a worker's start, and `migrate --accept-new-input-topic` reads it as new
(spec §2.4.10)."""
from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.core.fingerprint import group_key, hash_fingerprint
from tests.integration.harness import BROKER, Deployment, make_occurrence, produce, wait_for

pytestmark = pytest.mark.integration

EIGHT_MIB = str(8 * 1024 * 1024)


async def recreate_topic(name: str, partitions: int) -> None:
    """Delete the topic and create it again, empty, with the configuration `migrate` gives it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        await admin.delete_topics([name], timeout_ms=30_000)
        deadline = time.monotonic() + 60
        while True:
            # The broker takes a moment to forget the deleted topic; until then a create is refused.
            response = await admin.create_topics(
                [NewTopic(name, partitions, 1, topic_configs={"max.message.bytes": EIGHT_MIB})])
            [error] = response.to_object()["topic_errors"]
            if error["error_code"] == 0:
                return
            if error["error_code"] != TopicAlreadyExistsError.errno or time.monotonic() > deadline:
                raise AssertionError(f"creating {name} again failed: {error}")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


def times_seen(deployment: Deployment, key: str) -> int:
    rows = deployment.query("SELECT times_seen FROM groups WHERE group_key = %s", (key,))
    return rows[0][0] if rows else 0


async def test_a_recreated_input_topic_refuses_the_start_until_accepted_then_its_occurrences_count(
    deployment: Deployment,
) -> None:
    deployment.extra_env["ISSUE_PLATFORM_INPUT_TOPIC_CHECK_SECONDS"] = "1"
    ingest = deployment.topic("ingest-occurrences")
    migrated = deployment.cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"input topic {ingest}: end offsets recorded" in migrated.stdout

    worker = deployment.start_worker()
    wait_for(lambda: "Worker ready" in worker.log(), timeout=90, what="the worker to be ready")
    key_a = group_key(1, hash_fingerprint(["fp-a"]))
    # One record key: every occurrence in one partition, whose offsets 0-3 the key's watermark then holds.
    await produce(ingest, [(b"fp-a-1", orjson.dumps(make_occurrence(1, "fp-a"))) for _ in range(4)])
    wait_for(lambda: times_seen(deployment, key_a) == 4, what="the group of fp-a seen 4 times")
    # The timer raises the marks while the worker runs: it is what makes the recreated topic look backwards.
    marks = wait_for(lambda: deployment.query(
        "SELECT partition, end_offset FROM input_topic_marks WHERE topic = %s AND end_offset > 0", (ingest,)),
        timeout=30, what="the input topic's mark raised to 4")
    [(partition, mark)] = marks
    assert mark == 4
    worker.stop()

    await recreate_topic(ingest, deployment.partitions)

    refused = deployment.restart_worker(worker)
    assert refused.process.wait(90) == 2
    refusal = (f"the offsets of input topic {ingest} went backwards (partition "
                f"{partition} ends at offset 0, 4 recorded in PostgreSQL): it was deleted and created again, and its "
                "records would be skipped as read before (spec §2.4.10); if the new topic is meant, run "
                "`issue-platform migrate --accept-new-input-topic` with every worker stopped, then start them")
    refusals = [line for line in refused.log().splitlines() if "refusing to start" in line]
    assert refusals == [f"issue-platform: refusing to start: {refusal}"], refused.log()[-3000:]
    assert "Traceback" not in refused.log()

    # `migrate` alone refuses the same way; the option accepts the new topic.
    again = deployment.cli("migrate")
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [f"issue-platform migrate: {refusal}"]
    accepted = deployment.cli("migrate", "--accept-new-input-topic")
    assert accepted.returncode == 0, accepted.stderr
    assert f"input topic {ingest}: accepted as a new topic" in accepted.stdout
    assert deployment.query("SELECT incarnation FROM input_topics WHERE topic = %s", (ingest,)) == [(1,)]

    # The same data dir: the keys' watermarks of the old topic are in its tables.
    restarted = deployment.restart_worker(refused)
    # The log goes on from the first run's, whose "Worker ready" is in it already.
    wait_for(lambda: restarted.log().count("Worker ready") == 2, timeout=90, what="the worker to be ready again")
    assert f"its inputs are recorded as {ingest}#1" in restarted.log()
    key_b = group_key(1, hash_fingerprint(["fp-b"]))
    await produce(ingest, [(b"fp-a-1", orjson.dumps(make_occurrence(1, "fp-a"))) for _ in range(3)]
                  + [(b"fp-a-1", orjson.dumps(make_occurrence(1, "fp-b")))])
    # Offsets 0-3 again: counted, not skipped as the old topic's.
    wait_for(lambda: times_seen(deployment, key_a) == 7 and times_seen(deployment, key_b) == 1,
             what="fp-a seen 7 times and fp-b once")
    assert deployment.query("SELECT count(*) FROM occurrences") == [(8,)]
