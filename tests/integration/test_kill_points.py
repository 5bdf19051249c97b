"""A worker killed at each named point of the hot path loses and doubles nothing (spec §2.4.6, §2.4.7, issue 11 item 4).

The points (streams/agents/failure.KILL_POINTS), armed by ISSUE_PLATFORM_FAULT_INJECTION (test only):
- grouping.after_outputs: a batch's outputs acknowledged, none of its states written: the batch is decided
  again from the same states and its changes sent again under the same ids, which the sink applies once;
- grouping.after_counts: its noise counts and seen ids acknowledged, its keys' states not written: decided
  again, each noise window read as the key's state knew it (kp-noisy-c's four occurrences in one batch
  would otherwise see the window holding all four, and pass the gate where they were held back);
- quota.after_answers: a quota batch's answers acknowledged, its quota states not: the requests read again
  get their recorded answers, and the grants are counted in the state then (kp-quota-0 and -1);
- grouping.after_state: its states written (handed to the changelogs), its inputs not acked: read again,
  every message is at or below its key's watermark and is skipped;
- sink.after_commit: the sink's transaction committed, its post-process messages not sent: read again, the
  batch is at or below `sink_offsets` and only forwarded.

Each run: a first phase processed and stopped cleanly, so the keys have state (live groups, held-back noise,
a seen id); then a worker with the point armed takes a second phase that touches the same keys (a third
noisy occurrence that creates, a detector's duplicate, groups that wait for the default quota) and is
killed at the point; a restart without the fault must end with exact counts.
"""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest

from streams.core.fingerprint import group_key, hash_fingerprint
from tests.integration.harness import Deployment, consume_all, json_value, make_occurrence, produce, wait_for

pytestmark = pytest.mark.integration

BULK, NOISY, DEFAULT = 9801, 9802, 2001  # tests/integration/plugin_types.py; 2001: the default quota (§9.2)
PROJECT = 5
BULK_FPS = [f"kp-bulk-{index}" for index in range(6)]


def occurrence(fingerprint: str, type_id: int, occurrence_id: str | None = None) -> dict[str, Any]:
    return make_occurrence(PROJECT, fingerprint, type_id=type_id, occurrence_id=occurrence_id)


def key(fingerprint: str) -> str:
    return group_key(PROJECT, hash_fingerprint([fingerprint]))


def phases() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    duplicated = occurrence("kp-dup", BULK)
    first = [occurrence(fp, BULK) for fp in BULK_FPS for _ in range(2)]
    first += [occurrence("kp-noisy-a", NOISY) for _ in range(2)] + [occurrence("kp-noisy-b", NOISY)]
    first.append(duplicated)
    second = [occurrence(fp, BULK) for fp in BULK_FPS]
    second += [occurrence("kp-noisy-a", NOISY), occurrence("kp-noisy-b", NOISY)]
    second.append(duplicated)  # the detector sent it again: another input record, a counted duplicate (§12.3)
    second += [occurrence(f"kp-quota-{index}", DEFAULT) for index in range(2)]
    second += [occurrence("kp-noisy-c", NOISY) for _ in range(4)]  # new in the second phase: two held back
    return first, second


EXPECTED_GROUPS = {**{key(fp): 3 for fp in BULK_FPS}, key("kp-dup"): 1, key("kp-noisy-a"): 3,
                   key("kp-quota-0"): 1, key("kp-quota-1"): 1, key("kp-noisy-c"): 4}


def send(deployment: Deployment, occurrences: list[dict[str, Any]]) -> None:
    asyncio.run(produce(deployment.topic("ingest-occurrences"), [(None, orjson.dumps(o)) for o in occurrences]))


def groups(deployment: Deployment) -> dict[str, int]:
    return dict(deployment.query("SELECT group_key, times_seen FROM groups"))


@pytest.mark.parametrize("point", ["grouping.after_outputs", "grouping.after_counts", "grouping.after_state",
                                   "quota.after_answers", "sink.after_commit"])
def test_a_worker_killed_at_the_point_loses_and_doubles_nothing(deployment: Deployment, point: str) -> None:
    first, second = phases()
    deployment.extra_env["ISSUE_PLATFORM_LEDGER_MARK_SECONDS"] = "1"
    deployment.extra_env["ISSUE_PLATFORM_LEDGER_SETTLE_SECONDS"] = "2"
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    send(deployment, first)
    wait_for(lambda: deployment.query("SELECT count(*) FROM occurrences") == [(len(first),)], timeout=120,
             interval=1, what="the first phase stored")
    wait_for(lambda: len(groups(deployment)) == len(BULK_FPS) + 1, timeout=60, what="the first phase's groups")
    worker.stop()

    deployment.extra_env["ISSUE_PLATFORM_FAULT_INJECTION"] = f"kill_at:{point}:1"
    worker = deployment.restart_worker(worker)
    send(deployment, second)
    exit_code = wait_for(lambda: worker.process.poll(), timeout=120, what=f"the worker to be killed at {point}")
    assert exit_code == -9, worker.log()[-3000:]
    assert f"injected: killing the worker at {point}" in worker.log()

    del deployment.extra_env["ISSUE_PLATFORM_FAULT_INJECTION"]
    worker = deployment.restart_worker(worker)
    try:
        wait_for(lambda: groups(deployment) == EXPECTED_GROUPS, timeout=120, interval=1,
                 what="every group with its exact count")
    except AssertionError as error:
        raise AssertionError(f"{error}; groups: {groups(deployment)}; the worker's log ends:\n"
                             f"{worker.log()[-4000:]}") from None
    total = len(first) + len(second)
    duplicates = 1
    wait_for(lambda: deployment.query("SELECT count(*) FROM occurrences") == [(total - duplicates,)], timeout=60,
             what="every occurrence stored once, the duplicate not at all")
    assert deployment.query("SELECT coalesce(sum(count), 0) FROM hourly_counts") == [(sum(EXPECTED_GROUPS.values()),)]
    drops = dict(deployment.query("SELECT outcome, sum(count) FROM drop_counters GROUP BY 1"))
    # kp-noisy-a and kp-noisy-c: two held back before the third created; kp-noisy-b: two held back, no group
    # (§13.1.4).
    assert drops == {"duplicate": 1, "held_back": 6}
    assert deployment.query(
        "SELECT count(*) FROM occurrences WHERE group_id IS NULL AND group_key = %s", (key("kp-noisy-b"),)) == [(2,)]
    # Every activity once: one creation per group (spec §18.3), under its deterministic id.
    assert deployment.query("SELECT count(*) FROM activities") == [(len(EXPECTED_GROUPS),)]

    # Post-process: at least once, under stable ids, for every occurrence applied to a group as it came (§2.3.4,
    # §18.1); the two held back before kp-noisy-a's creation are linked to it, not post-processed (§13.1.5).
    held_back = {o["id"] for o in first if o["fingerprint"] == ["kp-noisy-a"]}
    # kp-noisy-c's first two as its owner read them (ingest may forward them in another order than produced).
    held_c = {row[0] for row in deployment.query(
        "SELECT id FROM occurrences WHERE group_key = %s AND outcome = 'held_back'", (key("kp-noisy-c"),))}
    assert len(held_c) == 2, held_c
    held_back |= {o["id"] for o in second if uuid.UUID(o["id"]).hex in held_c}
    expected_ids = {uuid.UUID(o["id"]).hex for o in first + second
                    if key(o["fingerprint"][0]) in EXPECTED_GROUPS and o["id"] not in held_back}
    records = asyncio.run(consume_all(deployment.topic("issue-platform-post-process"), expected=len(expected_ids)))
    assert {json_value(record)["id"] for record in records} == expected_ids

    # The ledger (spec §2.4.13): every input offset has exactly one outcome, none in flight any more.
    def audited() -> dict[str, Any] | None:
        done = deployment.cli("audit", "--json")
        report = orjson.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
        settled = report is not None and report["in_flight"] == 0 and \
            sum(p["committed"] or 0 for p in report["partitions"]) == total
        return report if settled else None

    report = wait_for(audited, timeout=90, interval=2, what="the audit to settle")
    assert (report["ok"], report["unaccounted"], report["double_outcomes"]) == (True, 0, 0), report
    assert sum(p["accounted_count"] for p in report["partitions"]) == total
