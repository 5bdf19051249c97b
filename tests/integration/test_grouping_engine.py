"""The grouping engine on the real broker and database with three workers (spec §12, §13, §2.4)."""
from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import orjson
import pytest

from streams.core.fingerprint import group_key, hash_fingerprint
from tests.integration.harness import Deployment, make_occurrence, produce, wait_for

pytestmark = pytest.mark.integration

BULK, NOISY = 9801, 9802  # tests/integration/plugin_types.py
DEFAULT = 2001  # the default creation quota (spec §9.2)


def start(deployment: Deployment, workers: int = 3) -> None:
    assert deployment.cli("migrate").returncode == 0
    for _ in range(workers):
        deployment.start_worker()


def times_seen_by_key(deployment: Deployment) -> dict[str, int]:
    return dict(deployment.query("SELECT group_key, times_seen FROM groups"))


def workload(fingerprints: int, total: int, *, seed: int, projects: int = 4) -> list[tuple[int, str]]:
    """`total` (project, fingerprint) picks with bursts of the same fingerprint back to back."""
    generator = random.Random(seed)
    keys = [(1 + index % projects, f"fp-{index}") for index in range(fingerprints)]
    picks = list(keys)  # every fingerprint at least once
    while len(picks) < total:
        picks.extend([generator.choice(keys)] * generator.randint(1, 20))
    picks = picks[:total]
    generator.shuffle(picks)
    return picks


async def produce_concurrently(deployment: Deployment, picks: list[tuple[int, str]], *, type_id: int,
                               producers: int = 4) -> None:
    chunks = [picks[index::producers] for index in range(producers)]
    await asyncio.gather(*(
        produce(deployment.topic("ingest-occurrences"),
                [(None, orjson.dumps(make_occurrence(project, fp, type_id=type_id))) for project, fp in chunk])
        for chunk in chunks
    ))


def expected_counts(picks: list[tuple[int, str]]) -> dict[str, int]:
    return dict(Counter(group_key(project, hash_fingerprint([fp])) for project, fp in picks))


def settle(deployment: Deployment, expected: dict[str, int], *, timeout: float = 300) -> dict[str, int]:
    try:
        return wait_for(
            lambda: (seen := times_seen_by_key(deployment)) == expected and seen,
            timeout=timeout, interval=2, what=f"{len(expected)} groups with the produced counts",
        )
    except AssertionError:
        seen = times_seen_by_key(deployment)
        wrong = {key: (seen.get(key), count) for key, count in expected.items() if seen.get(key) != count}
        extra = set(seen) - set(expected)
        raise AssertionError(f"{len(wrong)} groups differ (seen, expected), e.g. {list(wrong.items())[:5]}; "
                             f"{len(extra)} unexpected groups") from None


async def test_twenty_thousand_occurrences_over_500_fingerprints_give_exact_groups(deployment: Deployment) -> None:
    start(deployment)
    picks = workload(500, 20_000, seed=1)
    await produce_concurrently(deployment, picks, type_id=BULK)
    expected = expected_counts(picks)
    settle(deployment, expected)  # exactly 500 groups, every times_seen as produced
    assert len(expected) == 500
    duplicates = deployment.query(
        "SELECT project_id, short_id, count(*) FROM groups GROUP BY 1, 2 HAVING count(*) > 1")
    assert duplicates == []
    assert deployment.query("SELECT count(*) FROM occurrences WHERE group_id IS NOT NULL") == [(20_000,)]
    assert deployment.query("SELECT sum(count) FROM hourly_counts") == [(20_000,)]
    assert all(worker.process.poll() is None for worker in deployment.workers)


async def test_noise_gate_creates_only_at_the_third_occurrence(deployment: Deployment) -> None:  # §13.1
    start(deployment)
    picks = [(1, "twice-a")] * 2 + [(1, "twice-b")] * 2 + [(1, "thrice")] * 3 + [(2, "five")] * 5
    await produce(deployment.topic("ingest-occurrences"),
                  [(None, orjson.dumps(make_occurrence(p, fp, type_id=NOISY))) for p, fp in picks])
    thrice, five = group_key(1, hash_fingerprint(["thrice"])), group_key(2, hash_fingerprint(["five"]))
    settle(deployment, {thrice: 3, five: 5}, timeout=120)
    # Held-back occurrences are stored and, for the groups that were created, linked to them (§13.1.5).
    stored = dict(deployment.query(
        "SELECT group_key, count(*) FILTER (WHERE group_id IS NOT NULL) FROM occurrences GROUP BY 1"))
    assert stored[thrice] == 3 and stored[five] == 5
    assert stored[group_key(1, hash_fingerprint(["twice-a"]))] == 0
    assert deployment.query("SELECT count(*) FROM occurrences WHERE group_id IS NULL") == [(4,)]
    time.sleep(2)
    assert deployment.query("SELECT count(*) FROM groups") == [(2,)]
    assert deployment.query(
        "SELECT project_id, count FROM drop_counters WHERE type_id = %s AND outcome = 'held_back' ORDER BY 1",
        (NOISY,)) == [(1, 2 + 2 + 2), (2, 2)]


async def test_default_quota_creates_five_groups_per_hour_across_three_workers(deployment: Deployment) -> None:
    start(deployment)  # type 2001: the default creation quota, 5 per hour per (project, type) (spec §9.2)
    await produce(deployment.topic("ingest-occurrences"),
                  [(None, orjson.dumps(make_occurrence(7, f"new-{index}"))) for index in range(50)])
    wait_for(lambda: deployment.query(
        "SELECT count(*) FROM occurrences WHERE outcome IN ('created', 'quota_refused')") == [(50,)],
        timeout=120, what="every one of the 50 decided")
    assert deployment.query("SELECT count(*) FROM groups") == [(5,)]
    assert deployment.query(
        "SELECT count(*) FROM occurrences WHERE outcome = 'quota_refused' AND group_id IS NULL") == [(45,)]
    assert deployment.query(
        "SELECT count FROM drop_counters WHERE project_id = 7 AND type_id = 2001 AND outcome = 'quota_refused'"
    ) == [(45,)]


async def test_the_same_occurrence_produced_twice_counts_once(deployment: Deployment) -> None:  # §12.3
    start(deployment, workers=1)
    first = make_occurrence(3, "dup", type_id=BULK)
    await produce(deployment.topic("ingest-occurrences"), [(None, orjson.dumps(first))] * 2)
    key = group_key(3, hash_fingerprint(["dup"]))
    settle(deployment, {key: 1}, timeout=120)
    wait_for(lambda: deployment.query(
        "SELECT count FROM drop_counters WHERE outcome = 'duplicate'") == [(1,)], timeout=60, what="duplicate count")
    assert times_seen_by_key(deployment) == {key: 1}


NOISY_PROJECT, QUOTA_PROJECT = 6, 7


def noisy_and_quota_picks() -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """30 fingerprints of a type with a noise gate of 3, seen 1 to 5 times; 12 of the default quota (5 new
    groups per project and hour), seen 3 times each; shuffled."""
    generator = random.Random(5)
    noisy = [(NOISY_PROJECT, f"noisy-{index}") for index in range(30) for _ in range(1 + index % 5)]
    quota = [(QUOTA_PROJECT, f"quota-{index}") for index in range(12) for _ in range(3)]
    generator.shuffle(noisy)
    generator.shuffle(quota)
    return noisy, quota


# Both ways records reach the batch agents: the inbox (the default) and Faust's streams (ISSUE_PLATFORM_BATCH_DELIVERY).
@pytest.mark.parametrize("batch_delivery", ["true", "false"], ids=["inbox", "streams"])
async def test_kill_minus_nine_mid_stream_keeps_counts_exact(  # §2.4
        deployment: Deployment, batch_delivery: str) -> None:
    deployment.extra_env.update(ISSUE_PLATFORM_LEDGER_MARK_SECONDS="1", ISSUE_PLATFORM_LEDGER_SETTLE_SECONDS="2",
                                ISSUE_PLATFORM_BATCH_DELIVERY=batch_delivery)
    start(deployment)
    picks = workload(200, 6_000, seed=2)
    noisy, quota = noisy_and_quota_picks()
    half = len(picks) // 2
    await asyncio.gather(produce_concurrently(deployment, picks[:half], type_id=BULK),
                         produce_concurrently(deployment, noisy[:len(noisy) // 2], type_id=NOISY),
                         produce_concurrently(deployment, quota[:len(quota) // 2], type_id=DEFAULT))
    victim = deployment.workers[1]
    # Let it get going, then crash it while it has uncommitted work.
    wait_for(lambda: deployment.query("SELECT count(*) FROM occurrences") != [(0,)], timeout=120,
             what="processing started")
    deployment.kill_worker(victim)
    await asyncio.gather(produce_concurrently(deployment, picks[half:], type_id=BULK),
                         produce_concurrently(deployment, noisy[len(noisy) // 2:], type_id=NOISY),
                         produce_concurrently(deployment, quota[len(quota) // 2:], type_id=DEFAULT))
    restarted = deployment.restart_worker(victim)
    # The noise gate of 3 (spec §13.1): a fingerprint seen 3 times or more has a group counting every
    # occurrence (the held-back ones linked); one seen less has none.
    noisy_counts = {key: count for key, count in expected_counts(noisy).items() if count >= 3}
    expected = {**expected_counts(picks), **noisy_counts}

    def settled() -> dict[str, int] | None:
        seen = times_seen_by_key(deployment)
        quota_groups = {key: count for key, count in seen.items() if key.startswith(f"{QUOTA_PROJECT}:")}
        rest = {key: count for key, count in seen.items() if key not in quota_groups}
        refused = deployment.query("SELECT coalesce(sum(count), 0) FROM drop_counters WHERE outcome = 'quota_refused'")
        return quota_groups if rest == expected and len(quota_groups) == 5 and refused == [(7 * 3,)] else None

    try:
        quota_groups = wait_for(settled, timeout=180, interval=2, what="exact groups, the quota's five, 21 refused")
    except AssertionError:
        seen = times_seen_by_key(deployment)
        wrong = {key: (seen.get(key), count) for key, count in expected.items() if seen.get(key) != count}
        raise AssertionError(f"{len(wrong)} groups differ (seen, expected), e.g. {list(wrong.items())[:5]}; "
                             f"drops {deployment.query('SELECT outcome, count FROM drop_counters')}") from None
    # The default quota (spec §13.2): exactly five groups, each with every occurrence of its fingerprint.
    assert sorted(quota_groups.values()) == [3] * 5
    stored = len(picks) + len(noisy) + len(quota)
    assert deployment.query("SELECT count(*) FROM occurrences") == [(stored,)]
    applied = len(picks) + sum(noisy_counts.values()) + 5 * 3
    assert deployment.query("SELECT sum(count) FROM hourly_counts") == [(applied,)]
    held_back = sum(count for count in expected_counts(noisy).values() if count < 3)
    drops = dict(deployment.query("SELECT outcome, sum(count) FROM drop_counters GROUP BY 1"))
    # Every id was sent once: input that ingest read again after the crash is not a duplicate (§2.4, §12.3).
    assert drops.get("duplicate", 0) == 0 and drops["quota_refused"] == 21
    # Held back: every occurrence of a fingerprint that stayed under the gate, and the first two of each other.
    assert drops["held_back"] == held_back + 2 * len(noisy_counts)

    def audited() -> dict[str, object] | None:
        done = deployment.cli("audit", "--json")
        report = orjson.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
        return report if report and report["in_flight"] == 0 else None

    report = wait_for(audited, timeout=90, interval=2, what="the audit to settle")
    assert (report["ok"], report["unaccounted"], report["double_outcomes"]) == (True, 0, 0), report
    assert sum(p["accounted_count"] for p in report["partitions"]) == stored  # type: ignore[union-attr]
    # The crashed worker's local tables were rebuilt from the changelogs, not trusted (streams/lifecycle.py).
    assert "did not stop cleanly" in restarted.log()
    deployment.stop_workers()
    assert not list(deployment.root.glob("data-*/worker-running")), "a clean stop leaves no marker"
