"""A status change that reaches a group whose creation waits for the quota answer waits too (spec §13.2.5 step 5).

A detector that sends an occurrence and at once a status change for it must see the status change applied
right after the creation (§2.3.3), not dead-lettered as `group_not_found`; if the quota refuses the creation,
the status change is dead-lettered `group_not_found` with its original bytes. Either way the ledger accounts
for both inputs (§2.4.13).
"""
from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from tests.integration.harness import Deployment, make_occurrence, produce, wait_for

pytestmark = pytest.mark.integration

DEFAULT = 2001  # the default creation quota: 5 new groups per project and hour (spec §9.2)


def resolve(project_id: int, fingerprint: str) -> dict[str, Any]:
    return {"payload_type": "status_change", "fingerprint": [fingerprint], "project_id": project_id,
            "type": DEFAULT, "new_status": 1, "new_substatus": None}


def test_a_status_change_sent_with_the_first_occurrence_is_applied_after_the_creation_or_refused_with_it(
    deployment: Deployment,
) -> None:
    deployment.extra_env.update(ISSUE_PLATFORM_LEDGER_MARK_SECONDS="1", ISSUE_PLATFORM_LEDGER_SETTLE_SECONDS="2")
    assert deployment.cli("migrate").returncode == 0
    deployment.start_worker()
    topic = deployment.topic("ingest-occurrences")
    # Project 8: an occurrence and, in the same breath, its resolution.
    granted = [orjson.dumps(make_occurrence(8, "waits-granted", type_id=DEFAULT)),
               orjson.dumps(resolve(8, "waits-granted"))]
    # Project 9: five groups use the hour's quota; the sixth is refused, and the status change sent with it too.
    used = [orjson.dumps(make_occurrence(9, f"quota-{index}", type_id=DEFAULT)) for index in range(5)]
    refused_change = orjson.dumps(resolve(9, "waits-refused"))
    asyncio.run(produce(topic, [(b"same", value) for value in granted]))
    asyncio.run(produce(topic, [(None, value) for value in used]))
    wait_for(lambda: deployment.query("SELECT count(*) FROM groups WHERE project_id = 9")[0][0] == 5, timeout=120,
             interval=1, what="the five groups of project 9")
    asyncio.run(produce(topic, [(b"refused", orjson.dumps(make_occurrence(9, "waits-refused", type_id=DEFAULT))),
                                (b"refused", refused_change)]))

    wait_for(lambda: deployment.query("SELECT status, times_seen FROM groups WHERE project_id = 8") == [(1, 1)],
             timeout=120, interval=1, what="project 8's group created, then resolved")
    dead = wait_for(lambda: deployment.query(
        "SELECT reason, message, stage, value FROM dlq_entries WHERE project_id = 9 OR value = %s",
        (refused_change,)), timeout=120, interval=1, what="the refused creation's status change dead-lettered")
    assert len(dead) == 1
    reason, message, stage, value = dead[0]
    assert (reason, stage, bytes(value)) == ("group_not_found", "grouping", refused_change)
    assert "refused by the creation quota" in message
    assert deployment.query("SELECT count(*) FROM groups WHERE project_id = 9")[0][0] == 5
    assert deployment.query("SELECT count(*) FROM dlq_entries")[0][0] == 1  # project 8's change was not

    def settled() -> dict[str, Any] | None:
        done = deployment.cli("audit", "--json")
        report = orjson.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
        return report if report and done.returncode == 0 and report["in_flight"] == 0 else None

    report = wait_for(settled, timeout=90, interval=2, what="a clean audit")
    assert sum(p["accounted_count"] for p in report["partitions"]) == len(granted) + len(used) + 2
