"""A worker's start before Faust runs: the schema is migrated, and the data dir belongs to one deployment."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from storage.migrate import SchemaUnavailable, migrate_schema
from streams.lifecycle import StartRefused, claim_data_dir

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
    with pytest.raises(SchemaUnavailable) as refused:
        migrate_schema(UNREACHABLE)
    message = str(refused.value)
    assert "127.0.0.1:1/issue_platform" in message and "ISSUE_PLATFORM_DATABASE_URL" in message
    assert "\n" not in message
    assert "s3cret" not in message


def test_an_unreachable_database_is_tried_again_until_the_wait_runs_out() -> None:
    attempts: list[float] = []

    def refused(url: str) -> list[str]:
        attempts.append(time.monotonic())
        raise psycopg.OperationalError("connection refused")

    started = time.monotonic()
    with pytest.raises(SchemaUnavailable):
        migrate_schema(UNREACHABLE, wait_seconds=2.0, apply=refused)
    assert len(attempts) >= 2  # 0.5 s, then 1 s apart
    assert attempts[-1] - started <= 2.0


def test_a_database_back_within_the_wait_lets_the_worker_start() -> None:
    answers: list[Exception | list[str]] = [psycopg.OperationalError("starting up"), ["0009"]]

    def flaky(url: str) -> list[str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert migrate_schema(UNREACHABLE, wait_seconds=10.0, apply=flaky) == ["0009"]
    assert not answers


def test_an_error_other_than_an_unreachable_database_is_not_waited_for() -> None:
    calls = 0

    def broken(url: str) -> list[str]:
        nonlocal calls
        calls += 1
        raise psycopg.errors.UndefinedTable("relation x does not exist")

    with pytest.raises(SchemaUnavailable):
        migrate_schema(UNREACHABLE, wait_seconds=30.0, apply=broken)
    assert calls == 1


def test_the_worker_command_stops_with_one_line_when_postgres_is_unreachable(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("ISSUE_PLATFORM_")}
    env.update(ISSUE_PLATFORM_DATABASE_URL=UNREACHABLE, ISSUE_PLATFORM_TOPIC_PREFIX="never-started.",
               ISSUE_PLATFORM_START_DATABASE_WAIT_SECONDS="0")
    cli = Path(sys.executable).with_name("issue-platform")
    started = subprocess.run([str(cli), "--datadir", str(tmp_path / "data"), "worker"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 2
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1, started.stderr
    assert lines[0].startswith("issue-platform: cannot migrate the schema of 127.0.0.1:1/issue_platform")
    assert not (tmp_path / "data").exists()  # refused before Faust or the data dir were touched


def test_the_migrate_command_says_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("ISSUE_PLATFORM_")}
    env.update(ISSUE_PLATFORM_DATABASE_URL=UNREACHABLE)
    cli = Path(sys.executable).with_name("issue-platform")
    ran = subprocess.run([str(cli), "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 1
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert lines[0].startswith("issue-platform migrate: cannot migrate the schema of 127.0.0.1:1/issue_platform")
    assert "s3cret" not in ran.stderr
