"""`groups` stays bounded: keys that never got a group are forgotten once idle (design §4 "Bounded state")."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from rocksdict import AccessType, Options, Rdict

from streams.core.fingerprint import group_key, hash_fingerprint
from tests.integration.harness import Deployment, make_occurrence, produce, wait_for

pytestmark = pytest.mark.integration

# Faust keeps the changelog offset a partition's store has applied under this key: not a group key.
FAUST_OFFSET_KEY = b"__faust\x00offset__"
SHORT_NOISE = 9803  # NoiseConfig(3, 8 s), tests/integration/plugin_types.py
BULK = 9801  # no noise: the first occurrence creates the group
DEDUPE_SECONDS = 60  # the smallest allowed: a key of SHORT_NOISE is kept max(8, 60) + 60 s after its last T
QUIET = 6


def group_keys(data_dir: Path) -> set[str]:
    """Keys of the `groups` table in a worker's RocksDB, read beside the running worker."""
    keys: set[str] = set()
    for db_path in data_dir.glob("**/tables/groups-*.db"):
        try:
            db = Rdict(str(db_path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        except Exception:  # noqa: BLE001  # a partition being opened right now: the next look sees it
            continue
        try:
            keys.update(orjson.loads(key) for key in db.keys() if key != FAUST_OFFSET_KEY)
        finally:
            db.close()
    return keys


def key_of(fingerprint: str) -> str:
    return group_key(1, hash_fingerprint([fingerprint]))


def outcomes(deployment: Deployment, key: str) -> list[tuple[str, int]]:
    return deployment.query("SELECT outcome, count(*)::int FROM occurrences WHERE group_key = %s "
                            "GROUP BY outcome ORDER BY outcome", (key,))


async def test_held_back_only_keys_are_forgotten_and_count_afresh(deployment: Deployment) -> None:
    deployment.extra_env.update(ISSUE_PLATFORM_DEDUPE_WINDOW_SECONDS=str(DEDUPE_SECONDS),
                                ISSUE_PLATFORM_IDLE_KEY_SWEEP_SECONDS="3",
                                ISSUE_PLATFORM_TABLE_CLEANUP_SECONDS="2")
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    ingest = deployment.topic("ingest-occurrences")
    # Two occurrences per quiet fingerprint: both held back (N = 3), no group ever. `loud` reaches 3 at
    # once and creates its group through the noise gate; `bulk` creates one without noise.
    await produce(ingest, [(None, orjson.dumps(make_occurrence(1, f"quiet-{i}", type_id=SHORT_NOISE)))
                           for i in range(QUIET) for _ in range(2)]
                  + [(None, orjson.dumps(make_occurrence(1, "loud", type_id=SHORT_NOISE))) for _ in range(3)]
                  + [(None, orjson.dumps(make_occurrence(1, "bulk", type_id=BULK)))])
    wait_for(lambda: deployment.query("SELECT count(*) FROM occurrences WHERE outcome = 'held_back' "
                                      "AND group_id IS NULL")
             == [(2 * QUIET,)] and deployment.query("SELECT count(*) FROM groups") == [(2,)],
             timeout=120, what="the quiet keys held back, loud and bulk grouped")
    quiet = {key_of(f"quiet-{i}") for i in range(QUIET)}
    grouped = {key for (key,) in deployment.query("SELECT group_key FROM groups")}
    assert grouped == {key_of("loud"), key_of("bulk")}
    data_dir = deployment.root / "data-0"
    wait_for(lambda: group_keys(data_dir) == quiet | grouped, timeout=30, what="every key state on disk")

    # Forgotten once idle for keep = max(8, 60) + 60 s: the grouped keys stay.
    wait_for(lambda: group_keys(data_dir) == grouped, timeout=200, interval=2, what="the quiet keys forgotten")
    selected = [int(line.split("idle keys: ")[1].split()[0]) for line in worker.log().splitlines()
                if "idle keys: " in line]
    assert sum(selected) >= QUIET, selected  # a key may be selected again while its forget is on the way
    assert "Traceback" not in worker.log()

    # A forgotten key starts a new count: its third occurrence is held back, not the group's creator...
    fingerprint = "quiet-0"
    comeback = key_of(fingerprint)
    await produce(ingest, [(None, orjson.dumps(make_occurrence(1, fingerprint, type_id=SHORT_NOISE)))])
    wait_for(lambda: outcomes(deployment, comeback) == [("held_back", 3)], timeout=60, what="held back again")
    # On disk once its changelog record is acknowledged, at the latest with the next commit (store_after_changelog).
    wait_for(lambda: comeback in group_keys(data_dir), timeout=30, what="the comeback's key state on disk")
    # ...and two more within the window make three: the group is created from the new count.
    await produce(ingest, [(None, orjson.dumps(make_occurrence(1, fingerprint, type_id=SHORT_NOISE)))
                           for _ in range(2)])
    wait_for(lambda: deployment.query("SELECT times_seen FROM groups WHERE group_key = %s", (comeback,)) == [(3,)],
             timeout=60, what="the comeback's group, created by its new count of 3")
    worker.stop()
