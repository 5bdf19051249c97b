"""The payload contract on the real broker and database: 1,000 mixed inputs, every one applied or dead-lettered
with its reason and original bytes, listed in `dlq_entries`, and replayable (spec §3.2, §7, §2.3.1)."""
from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.core.dlq import dlq_headers
from streams.core.fingerprint import group_key, hash_fingerprint
from streams.core.messages import SourceCoordinates
from tests.integration.harness import BROKER, Deployment, consume_all, produce, wait_for
from tests.integration.test_api import get

pytestmark = pytest.mark.integration

INVALID_FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "invalid").glob("*.json"))
TWO_MIB = 2 * 1024 * 1024
TOTAL = 1000
# (project, fingerprint, type): at most 5 new groups per (project, type), the creation quota of §9.6, and
# types without a noise config (§13.1.2), so every valid occurrence counts in `times_seen`.
GROUPS = [(1, "fp-a", 2001), (1, "fp-b", 2001), (2, "fp-c", 2001), (2, "fp-d", 4001), (3, "fp-e", 4001),
          (3, "fp-f", 2003)]
LATE_EVENT_PROJECT, LATE_EVENT_FINGERPRINT = 1, "fp-late-event"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def occurrence(project_id: int, fingerprint: str, type_id: int, *, event_id: str | None = None,
               embed: bool = True) -> dict[str, Any]:
    event_id = event_id or uuid.uuid4().hex
    payload: dict[str, Any] = {
        "id": str(uuid.uuid4()), "project_id": project_id, "fingerprint": [fingerprint], "type": type_id,
        "issue_title": "Slow thing", "subtitle": "it was slow", "culprit": "app.slow",
        "detection_time": now_iso(), "level": "warning",
        "evidence_display": [{"name": "Duration", "value": "120 ms", "important": True}],
        "event_id": event_id,
    }
    if embed:
        payload["event"] = {"event_id": event_id, "project_id": project_id, "platform": "python",
                            "timestamp": now_iso()}
    return payload


def status_change_for_missing_group(index: int) -> dict[str, Any]:
    return {"payload_type": "status_change", "fingerprint": [f"no-such-group-{index % 4}"], "project_id": 2,
            "new_status": 1, "new_substatus": None}


def mixed_inputs(late_event_id: str) -> tuple[list[tuple[bytes, bytes]], dict[bytes, str], int]:
    """1,000 inputs with unique keys; returns them, the expected reason per key of the rejected ones, and how
    many valid occurrences there are."""
    expected: dict[bytes, str] = {}
    payloads: list[tuple[str | None, bytes]] = []
    for path in INVALID_FIXTURES:  # every kind of invalid payload, ten times
        payloads += [(path.name.split("-", 1)[0], path.read_bytes())] * 10
    payloads += [("invalid_json", b"\xff\xfe" + random.randbytes(200)) for _ in range(40)]
    payloads += [("payload_too_large", b'{"pad": "' + b"x" * TWO_MIB + b'"}'), ("payload_too_large", b"\x00" * TWO_MIB)]
    payloads += [("group_not_found", orjson.dumps(status_change_for_missing_group(i))) for i in range(48)]
    payloads += [("event_not_found", orjson.dumps(occurrence(LATE_EVENT_PROJECT, LATE_EVENT_FINGERPRINT, 2001,
                                                             event_id=late_event_id, embed=False)))
                 for _ in range(50)]
    valid = TOTAL - len(payloads)
    payloads += [(None, orjson.dumps(occurrence(*GROUPS[i % len(GROUPS)]))) for i in range(valid)]
    random.shuffle(payloads)  # bad inputs between good ones: one never affects another (issue 3)
    messages = []
    for index, (reason, value) in enumerate(payloads):
        key = f"input-{index}".encode()
        messages.append((key, value))
        if reason is not None:
            expected[key] = reason
    return messages, expected, valid


def header(record: Any, name: str) -> str | None:
    return next((value.decode() for key, value in record.headers if key == name), None)


def times_seen_total(deployment: Deployment) -> int:
    return deployment.query("SELECT coalesce(sum(times_seen), 0)::bigint FROM groups")[0][0]


def entries_by_reason(deployment: Deployment) -> dict[str, int]:
    return dict(deployment.query("SELECT reason, count(*) FROM dlq_entries GROUP BY reason"))


async def produce_with_headers(topic: str, partition: int, records: list[tuple[bytes | None, bytes, list]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, max_request_size=8 * 1024 * 1024)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, key=key, value=value, partition=partition, headers=headers)
    finally:
        await producer.stop()


async def test_every_input_is_applied_or_dead_lettered_with_its_reason_and_replay_resubmits_it(
    deployment: Deployment,
) -> None:
    random.seed(3)
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    late_event_id = uuid.uuid4().hex
    messages, expected, valid = mixed_inputs(late_event_id)
    assert len(messages) == TOTAL and len(expected) == TOTAL - valid
    await produce(deployment.topic("ingest-occurrences"), messages)

    # Every valid occurrence reached grouping and the sink: one count each in times_seen.
    wait_for(lambda: times_seen_total(deployment) >= valid, timeout=90, what=f"times_seen total of {valid}")
    assert deployment.query("SELECT group_key, times_seen FROM groups ORDER BY group_key") == sorted(
        (group_key(project, hash_fingerprint([fingerprint])), valid // len(GROUPS) + (i < valid % len(GROUPS)))
        for i, (project, fingerprint, _) in enumerate(GROUPS)
    )

    # Every rejected input is on the DLQ once, with its reason and its original key and bytes.
    records = await consume_all(deployment.topic("ingest-occurrences-dlq"), expected=len(expected), timeout=60)
    by_key = {record.key: record for record in records}
    assert len(records) == len(by_key) == len(expected)
    originals = dict(messages)
    for key, reason in expected.items():
        record = by_key[key]
        assert header(record, "x-dlq-reason") == reason, (key, header(record, "x-dlq-message"))
        assert record.value == originals[key]
        assert header(record, "x-dlq-stage") == ("grouping" if reason == "group_not_found" else "ingest")
        assert header(record, "x-dlq-source-topic") == deployment.topic("ingest-occurrences")
    assert Counter(expected.values()) == Counter(header(r, "x-dlq-reason") for r in records)

    # ... and listed in Postgres by its x-dlq-id, with the same reason and bytes (spec §7.1.2).
    wait_for(lambda: sum(entries_by_reason(deployment).values()) >= len(expected), timeout=30,
             what="every DLQ record in dlq_entries")
    rows = {row[0]: row[1:] for row in deployment.query(
        "SELECT id, reason, key, value, project_id, replay_count FROM dlq_entries")}
    assert len(rows) == len(expected)
    for record in records:
        reason, key, value, project_id, replay_count = rows[header(record, "x-dlq-id")]
        assert (reason, bytes(key), bytes(value), replay_count) == (header(record, "x-dlq-reason"), record.key,
                                                                   record.value, 0)
        if reason == "event_not_found":
            assert project_id == LATE_EVENT_PROJECT
    assert worker.process.poll() is None, worker.log()[-3000:]

    # Reading a record again changes nothing; a record that is not a dead letter of ours is skipped.
    some = records[0]
    sentinel_id = uuid.uuid4().hex
    sentinel = dlq_headers(dlq_id=sentinel_id, reason="invalid_json", message="sentinel", field=None,
                           stage="ingest", source=SourceCoordinates("elsewhere", 0, 1), at=1.0e9)
    await produce_with_headers(deployment.topic("ingest-occurrences-dlq"), some.partition, [
        (some.key, some.value, list(some.headers)),
        (b"stranger", b"no headers at all", []),
        (None, b"{}", sentinel),
    ])
    wait_for(lambda: deployment.query("SELECT 1 FROM dlq_entries WHERE id = %s", [sentinel_id]), timeout=30,
             what="the sentinel entry")
    assert deployment.query("SELECT count(*) FROM dlq_entries")[0][0] == len(expected) + 1
    assert "is not a dead letter of ours" in worker.log()

    # `dlq list` counts per reason and shows the newest entries first.
    listing = deployment.cli("--json", "dlq", "list", "--reason", "event_not_found", "--limit", "5")
    assert listing.returncode == 0, listing.stderr
    listed = orjson.loads(listing.stdout)
    assert listed["counts"] == {"event_not_found": 50}
    assert len(listed["entries"]) == 5
    assert [e["createdAt"] for e in listed["entries"]] == sorted((e["createdAt"] for e in listed["entries"]),
                                                                 reverse=True)
    text = deployment.cli("dlq", "list")
    assert text.returncode == 0 and "group_not_found" in text.stdout and "event_not_found" in text.stdout

    # The API lists the same entries in keyset pages (spec §20.11.5): two pages of 30 make the 50, newest first.
    first = get(worker, "dlq/", reason="event_not_found", limit="30")
    assert first.status == 200 and len(first.json) == 30
    assert [e["id"] for e in first.json[:5]] == [e["id"] for e in listed["entries"]]
    next_cursor = first.headers["Link"].split('rel="next"; results="true"; cursor="')[1].split('"')[0]
    second = get(worker, "dlq/", reason="event_not_found", limit="30", cursor=next_cursor)
    assert second.status == 200 and len(second.json) == 20
    assert {e["reason"] for e in first.json + second.json} == {"event_not_found"}
    assert len({e["id"] for e in first.json + second.json}) == 50

    # The late event arrives; replaying the event_not_found entries applies them (spec §5.5, §7.3).
    late_key = group_key(LATE_EVENT_PROJECT, hash_fingerprint([LATE_EVENT_FINGERPRINT]))
    await produce(deployment.topic("ingest-occurrences"), [
        (b"late", orjson.dumps(occurrence(LATE_EVENT_PROJECT, LATE_EVENT_FINGERPRINT, 2001, event_id=late_event_id)))
    ])
    wait_for(lambda: deployment.query("SELECT 1 FROM events WHERE event_id = %s", [late_event_id]), timeout=30,
             what="the late event stored")
    replay = deployment.cli("dlq", "replay", "--reason", "event_not_found")
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.strip() == "replayed 50 entries"
    wait_for(lambda: deployment.query("SELECT times_seen FROM groups WHERE group_key = %s", [late_key]) == [(51,)],
             timeout=60, what="the replayed occurrences applied to the late event's group")
    assert deployment.query(
        "SELECT replay_count, count(*) FROM dlq_entries WHERE reason = 'event_not_found'"
        " AND replayed_at IS NOT NULL GROUP BY 1") == [(1, 50)]

    # Nothing is left to replay by that reason: replayed entries are not selected twice.
    again = deployment.cli("dlq", "replay", "--reason", "event_not_found")
    assert again.returncode == 0 and again.stdout.strip() == "replayed 0 entries"

    # A replay that fails again makes a new entry that names the one it replays (spec §7.3.1).
    old_id = next(header(r, "x-dlq-id") for r in records if header(r, "x-dlq-reason") == "invalid_json")
    by_id = deployment.cli("dlq", "replay", "--id", old_id)
    assert by_id.returncode == 0 and by_id.stdout.strip() == "replayed 1 entry", by_id.stderr
    new_entry = wait_for(lambda: deployment.query(
        "SELECT reason, value FROM dlq_entries WHERE replay_of = %s", [old_id]), timeout=30,
        what="the new entry of the failed replay")
    assert new_entry == [("invalid_json", rows[old_id][2])]
    assert deployment.query("SELECT replay_count FROM dlq_entries WHERE id = %s", [old_id]) == [(1,)]

    # Unknown ids replay nothing and say which.
    unknown = uuid.uuid4().hex
    missing = deployment.cli("dlq", "replay", "--id", old_id, "--id", unknown)
    assert missing.returncode == 1 and unknown in missing.stderr
    assert deployment.query("SELECT replay_count FROM dlq_entries WHERE id = %s", [old_id]) == [(1,)]
    assert worker.process.poll() is None, worker.log()[-3000:]
