"""Windowed state stays bounded across restarts (design §4): restored windows expire like live ones."""
from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from rocksdict import AccessType, Options, Rdict

from tests.integration.harness import Deployment, consume_all, make_occurrence, produce, wait_for

pytestmark = pytest.mark.integration

# Faust keeps the changelog offset a partition's store has applied under this key: not a window.
FAUST_OFFSET_KEY = b"__faust\x00offset__"
SHORT_NOISE = 9803  # NoiseConfig(3, 8 s), tests/integration/plugin_types.py


def stored_windows(data_dir: Path, table: str) -> int:
    """Keys of `table` in a stopped worker's RocksDB partitions, read directly from disk."""
    total = 0
    for db_path in data_dir.glob(f"**/tables/{table}-*.db"):
        db = Rdict(str(db_path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            total += sum(1 for key in db.keys() if key != FAUST_OFFSET_KEY)
        finally:
            db.close()
    return total


async def test_windows_restored_after_a_restart_are_expired(deployment: Deployment) -> None:
    deployment.extra_env["ISSUE_PLATFORM_TABLE_CLEANUP_SECONDS"] = "1"
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    # One held-back occurrence per fingerprint: each writes the 4 hopping windows that contain its T.
    await produce(deployment.topic("ingest-occurrences"),
                  [(None, orjson.dumps(make_occurrence(1, f"quiet-{i}", type_id=SHORT_NOISE))) for i in range(20)])
    wait_for(lambda: deployment.query("SELECT count(*) FROM occurrences WHERE outcome = 'held_back'") == [(20,)],
             timeout=120, what="20 held-back occurrences")
    worker.stop()
    data_dir = deployment.root / "data-0"
    assert stored_windows(data_dir, "noise-8s") > 0
    # Well past expiry (window end + 8 s) while the worker is down; on restart the changelog restores them.
    time.sleep(20)
    worker = deployment.restart_worker(worker)
    wait_for(lambda: "Worker ready" in worker.log().split("Signal received")[-1], timeout=120, what="restarted")
    time.sleep(5)  # a few cleanup rounds
    worker.stop()
    assert stored_windows(data_dir, "noise-8s") == 0
    # The same holds for the dedupe windows' table, which is bounded by its own (longer) expiry; they
    # were written just now, so they are still there: the check above is not vacuous.
    assert stored_windows(data_dir, "seen-ids-3600s") > 0


async def test_an_expired_window_leaves_a_delete_marker_in_its_changelog(deployment: Deployment) -> None:
    """Compaction can then drop the window's records: retention alone does not, once the log cleaner has merged
    old segments into newer ones (streams/faust_compat/window_expiry.py has the evidence)."""
    deployment.extra_env["ISSUE_PLATFORM_TABLE_CLEANUP_SECONDS"] = "1"
    assert deployment.cli("migrate").returncode == 0
    worker = deployment.start_worker()
    try:
        await produce(deployment.topic("ingest-occurrences"),
                      [(None, orjson.dumps(make_occurrence(1, f"marked-{i}", type_id=SHORT_NOISE))) for i in range(20)])
        wait_for(lambda: deployment.query("SELECT count(*) FROM occurrences WHERE outcome = 'held_back'") == [(20,)],
                 timeout=120, what="20 held-back occurrences")
        changelog = f"{deployment.topic_prefix}{deployment.app_id}-noise-8s-changelog"
        # 20 fingerprints × the 4 hopping windows of 8 s (2 s apart) that contain each one's T.
        written = {record.key for record in await consume_all(changelog, expected=80) if record.value is not None}
        assert len(written) >= 80

        async def last_values() -> dict[bytes, bytes | None]:
            last: dict[bytes, bytes | None] = {}
            for record in sorted(await consume_all(changelog, expected=0, timeout=10),
                                 key=lambda r: (r.partition, r.offset)):
                last[record.key] = record.value
            return last

        # Window end + 8 s of expiry + a cleanup round of 1 s: every window is gone within about 20 s.
        deadline = time.monotonic() + 90
        last = await last_values()
        while any(last.get(key) is not None for key in written) and time.monotonic() < deadline:
            time.sleep(2)
            last = await last_values()
        assert [key for key in written if last.get(key) is not None] == []
        assert set(written) <= set(last)  # each key's last record is its delete marker, not a missing key
    finally:
        worker.stop()
    # The worker's own store dropped them too (through the held delete, once the marker was acknowledged).
    assert stored_windows(deployment.root / "data-0", "noise-8s") == 0
