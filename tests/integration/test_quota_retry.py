"""A creation request lost after the broker acknowledged it is sent again by the owner's quota_retry tick (§2.4.11).

The fault is injected (ISSUE_PLATFORM_FAULT_INJECTION, test only): the first quota request the worker
produces is acknowledged and never sent, as a record lost in an unclean leader election would be. Its key
waits for an answer that never comes; a quiet key's T' never moves, so only the timer can notice. With the
retry period at 2 s the request goes out again under the same id, and the group is created from every
occurrence that waited, each with its post-process message.
"""
from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from streams.core.fingerprint import group_key, hash_fingerprint
from tests.integration.harness import Deployment, consume_all, json_value, make_occurrence, produce, wait_for

pytestmark = pytest.mark.integration

BULK = 9801  # tests/integration/plugin_types.py: no noise gate, a quota that never refuses


def test_a_lost_quota_request_is_sent_again_and_the_group_created_from_all_that_waited(
    deployment: Deployment,
) -> None:
    deployment.extra_env["ISSUE_PLATFORM_FAULT_INJECTION"] = "drop_produce:issue-platform-quota:1"
    deployment.extra_env["ISSUE_PLATFORM_QUOTA_RETRY_SECONDS"] = "2"
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    # The first request (the lost one) is the first fingerprint's; the other fingerprint's goes through.
    lost = [make_occurrence(1, "retry-lost", type_id=BULK) for _ in range(3)]
    asyncio.run(produce(deployment.topic("ingest-occurrences"), [(None, orjson.dumps(lost[0]))]))
    wait_for(lambda: "injected: record 1" in worker.log(), timeout=120, what="the first quota request dropped")
    asyncio.run(produce(deployment.topic("ingest-occurrences"),
                        [(None, orjson.dumps(p)) for p in lost[1:]]
                        + [(None, orjson.dumps(make_occurrence(1, "retry-other", type_id=BULK)))]))
    key_lost = group_key(1, hash_fingerprint(["retry-lost"]))
    key_other = group_key(1, hash_fingerprint(["retry-other"]))
    expected = {key_lost: 3, key_other: 1}
    wait_for(lambda: dict(deployment.query("SELECT group_key, times_seen FROM groups")) == expected, timeout=120,
             interval=1, what="both groups, the one whose request was lost with all three occurrences")
    assert "quota_retry: sent 1 creation requests again" in worker.log()
    outcomes = deployment.query("SELECT outcome, count(*) FROM occurrences o JOIN groups g ON g.id = o.group_id"
                                " WHERE g.group_key = %s GROUP BY outcome ORDER BY outcome", (key_lost,))
    assert outcomes == [("applied", 2), ("created", 1)]
    messages: list[dict[str, Any]] = [json_value(r) for r in asyncio.run(
        consume_all(deployment.topic("issue-platform-post-process"), expected=4))]
    of_lost = sorted((m for m in messages if m["group_key"] == key_lost), key=lambda m: m["times_seen"])
    assert [(m["times_seen"], m["is_new"]) for m in of_lost] == [(1, True), (2, False), (3, False)]
    assert len(messages) == 4
