"""A worker's start before Faust runs: the schema is migrated, and the data dir belongs to one deployment."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.lifecycle import StartRefused, claim_data_dir, migrate_schema

# Nothing listens on port 1: the connection is refused at once.
UNREACHABLE = "postgresql://issue_platform:s3cret@127.0.0.1:1/issue_platform"


def test_a_data_dir_is_claimed_by_the_first_deployment_and_kept_for_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    claim_data_dir(data_dir, "blue.issue-platform")
    claim_data_dir(data_dir, "blue.issue-platform")  # the same deployment again: a restart
    assert (data_dir / "deployment").read_text().strip() == "blue.issue-platform"


def test_another_deployment_is_refused_the_data_dir_with_one_line(tmp_path: Path) -> None:
    claim_data_dir(tmp_path, "blue.issue-platform")
    with pytest.raises(StartRefused) as refused:
        claim_data_dir(tmp_path, "green.issue-platform")
    message = str(refused.value)
    assert "'blue.issue-platform'" in message and "ISSUE_PLATFORM_DATA_DIR" in message
    assert "\n" not in message


def test_an_unreachable_database_refuses_the_start_with_one_line_without_the_password() -> None:
    with pytest.raises(StartRefused) as refused:
        migrate_schema(UNREACHABLE)
    message = str(refused.value)
    assert "127.0.0.1:1/issue_platform" in message and "ISSUE_PLATFORM_DATABASE_URL" in message
    assert "\n" not in message
    assert "s3cret" not in message


def test_the_worker_command_stops_with_one_line_when_postgres_is_unreachable(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("ISSUE_PLATFORM_")}
    env.update(ISSUE_PLATFORM_DATABASE_URL=UNREACHABLE, ISSUE_PLATFORM_TOPIC_PREFIX="never-started.")
    cli = Path(sys.executable).with_name("issue-platform")
    started = subprocess.run([str(cli), "--datadir", str(tmp_path / "data"), "worker"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 2
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1, started.stderr
    assert lines[0].startswith("issue-platform: cannot migrate the schema of 127.0.0.1:1/issue_platform")
    assert not (tmp_path / "data").exists()  # refused before Faust or the data dir were touched
