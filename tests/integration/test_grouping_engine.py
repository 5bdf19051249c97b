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


async def test_kill_minus_nine_mid_stream_keeps_counts_exact(deployment: Deployment) -> None:  # §2.4
    start(deployment)
    picks = workload(200, 6_000, seed=2)
    half = len(picks) // 2
    await produce_concurrently(deployment, picks[:half], type_id=BULK)
    victim = deployment.workers[1]
    # Let it get going, then crash it while it has uncommitted work.
    wait_for(lambda: deployment.query("SELECT count(*) FROM occurrences") != [(0,)], timeout=120,
             what="processing started")
    deployment.kill_worker(victim)
    await produce_concurrently(deployment, picks[half:], type_id=BULK)
    restarted = deployment.restart_worker(victim)
    settle(deployment, expected_counts(picks), timeout=180)
    assert deployment.query("SELECT count(*) FROM occurrences") == [(len(picks),)]
    assert deployment.query("SELECT sum(count) FROM hourly_counts") == [(len(picks),)]
    # Every id was sent once: input that ingest read again after the crash is not a duplicate (§2.4, §12.3).
    assert deployment.query("SELECT count(*) FROM drop_counters WHERE outcome = 'duplicate'") == [(0,)]
    # The crashed worker's local tables were rebuilt from the changelogs, not trusted (streams/lifecycle.py).
    assert "did not stop cleanly" in restarted.log()
    deployment.stop_workers()
    assert not list(deployment.root.glob("data-*/worker-running")), "a clean stop leaves no marker"
