"""A record whose Kafka key is not UTF-8 is input like any other (spec §2.1: keys are never relied on).

Such a key used to travel to the grouping agent decoded with surrogateescape, which orjson refuses: ingest
stopped the worker on it, and every restart read the same record and stopped again.
"""
from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.integration.harness import Deployment, make_occurrence, produce, wait_for

pytestmark = pytest.mark.integration

BULK = 9801  # tests/integration/plugin_types.py: no noise gate, a quota that never refuses
KEY = b"\xff\xfe\x00 not utf-8"


def test_occurrences_status_changes_and_dead_letters_with_a_binary_key(deployment: Deployment) -> None:
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    resolve = {"payload_type": "status_change", "fingerprint": ["binary-key"], "project_id": 1, "type": BULK,
               "new_status": 1, "new_substatus": None}
    topic = deployment.topic("ingest-occurrences")
    asyncio.run(produce(topic, [(KEY, orjson.dumps(make_occurrence(1, "binary-key", type_id=BULK)))]))
    wait_for(lambda: deployment.query("SELECT times_seen FROM groups") == [(1,)], timeout=120, interval=1,
             what="the group")
    asyncio.run(produce(topic, [(KEY, orjson.dumps(resolve)), (KEY, b'{"payload_type": "nonsense"}'),
                                (KEY, orjson.dumps({**resolve, "fingerprint": ["no-such-group"]}))]))
    wait_for(lambda: deployment.query("SELECT status FROM groups") == [(1,)], timeout=120, interval=1,
             what="the group resolved")
    letters = wait_for(lambda: (rows := deployment.query("SELECT reason, key FROM dlq_entries ORDER BY reason"))
                       and len(rows) == 2 and rows, timeout=120, interval=1, what="two dead letters")
    assert [bytes(key) for _, key in letters] == [KEY, KEY]  # each dead letter keeps the key's bytes
    assert "group_not_found" in {reason for reason, _ in letters}
    assert worker.process.poll() is None, worker.log()[-3000:]
